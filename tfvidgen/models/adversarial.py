"""One adversarial iteration: n_critic discriminator updates, then one generator update.

Every GAN of the package trains with ``train_step`` below, over any number
of discriminators ("critics": MoCoGAN's D_I and D_V, the image GAN's D_I)
and parameterised by a loss pair (``tfvidgen.losses.GANLoss``: minimax,
non_saturating, wasserstein, wgan_gp, hinge):

* ``n_critic`` times (WGAN, Arjovsky et al. 2017, Algorithm 1; WGAN-GP,
  Gulrajani et al. 2017, Algorithm 1: n_critic = 5): draw fakes, update each
  discriminator in turn on a fresh real batch (update i uses index i of the
  batch's real-batch axis, ``DataRequirements.real_batches``) and run its
  weight constraints;
* one generator update against every discriminator, on the fakes of the
  last discriminator update (``share_fakes``, MoCoGAN family's default) or a
  fresh batch.

At n_critic = 1 with the non-saturating pair this is, operation for
operation, the MoCoGAN trainer of ``tfvidgen.models.video_gan``: the fakes
are drawn once under the generator's tape and detached for the
discriminators, and nothing is added per step (no extra forward pass, no
host sync, no ``tf.cond``); penalties, constraints and the real-batch axis
exist in the graph only when they are used.

Weight constraints run after a discriminator update, on every replica's
copy of its weights (they are equal after a synchronous update):
``weight_clipping`` (WGAN's clip to [-c, c]) and ``singular_value_clipping``
(TGAN, Saito et al. 2017, section 4.3: the singular values of every
convolution and dense kernel reshaped to 2-D are clipped to at most 1,
every 5 updates in the official code; TGAN also clips BatchNorm's gamma,
which is not done here).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import tensorflow as tf

from tfvidgen import losses
from tfvidgen.models import base
from tfvidgen.nets.ema import update_in_place


# Weight constraints ---------------------------------------------------------------------

def clip_weights(value, clip=0.01):
    """WGAN's weight clipping: every weight into [-clip, clip] (Arjovsky et al. 2017)."""
    return tf.clip_by_value(value, -clip, clip)


def clip_singular_values(kernel, max_value=1.0):
    """A kernel whose 2-D reshape has no singular value above ``max_value``.

    TGAN (Saito et al. 2017, section 4.3, ``updaters/tgan_updater_wgan.py``)
    reshapes a Chainer kernel (out, in, k...) to (out, -1); a Keras kernel
    (k..., in, out) is reshaped to (-1, out), the transpose of that matrix
    up to a permutation of rows, which has the same singular values.

    Args:
      kernel: [..., out] (dense [in, out], convolution [k..., in, out]).
    Returns:
      The clipped kernel, same shape: U min(S, max_value) V^T.
    """
    kernel = tf.convert_to_tensor(kernel)
    matrix = tf.reshape(kernel, [-1, kernel.shape[-1]])
    s, u, v = tf.linalg.svd(matrix)
    clipped = tf.matmul(u * tf.minimum(s, max_value)[None, :], v, adjoint_b=True)
    return tf.reshape(clipped, tf.shape(kernel))


@dataclasses.dataclass(frozen=True)
class WeightConstraint:
    """A projection of a discriminator's weights, run after its updates.

    Attributes:
      name: for messages.
      project: value -> projected value.
      applies_to: variable -> whether ``project`` is applied to it.
      every: apply after every ``every``-th update of the discriminator
        (counted by its optimizer's ``iterations``); 1: after each.
    """
    name: str
    project: Callable[[tf.Tensor], tf.Tensor]
    applies_to: Callable[[Any], bool] = lambda variable: True
    every: int = 1


def _is_kernel(variable) -> bool:
    return len(variable.shape) >= 2


def weight_clipping(clip: float = 0.01, every: int = 1) -> WeightConstraint:
    """WGAN: every discriminator weight clipped to [-clip, clip] (c = 0.01 in the paper)."""
    return WeightConstraint("weight_clipping", functools.partial(clip_weights, clip=clip),
                            every=every)


def singular_value_clipping(every: int = 5, max_value: float = 1.0) -> WeightConstraint:
    """TGAN's SVC: singular values of each conv/dense kernel clipped to <= 1, every 5 updates."""
    return WeightConstraint("singular_value_clipping",
                            functools.partial(clip_singular_values, max_value=max_value),
                            applies_to=_is_kernel, every=every)


def apply_constraints(constraints: Sequence[WeightConstraint], variables, iteration=None):
    """Projects ``variables`` by each constraint (inside or outside ``strategy.run``).

    Args:
      iteration: the count of updates made so far (an optimizer's
        ``iterations``), for constraints with ``every`` > 1.
    """
    for constraint in constraints:
        chosen = [v for v in variables if constraint.applies_to(v)]
        if not chosen:
            continue
        if constraint.every == 1:
            update_in_place(chosen, constraint.project)
            continue
        if iteration is None:
            raise ValueError(f"{constraint.name} every {constraint.every} updates needs the "
                             "update count")
        due = tf.equal(tf.math.floormod(tf.cast(iteration, tf.int64), constraint.every), 0)

        def project_when_due(value, due, project=constraint.project):
            return tf.cond(due, lambda: project(value), lambda: tf.identity(value))

        update_in_place(chosen, project_when_due, [due] * len(chosen))


# The step ------------------------------------------------------------------------------------

def _identity(x):
    return x


@dataclasses.dataclass(frozen=True)
class Critic:
    """One discriminator of the step and how it sees real and generated data.

    Attributes:
      name: metric names ``d_<name>_loss``, ``d_<name>_real``,
        ``d_<name>_fake`` and (with several critics) ``g_<name>_loss``.
      network: the discriminator, called with ``training=True``.
      optimizer: its optimizer (built).
      real_inputs: real batch (one critic update's) -> the network's input.
      fake_inputs: fakes (what ``draw_fakes`` returns) -> the network's input.
      global_batch_size: examples of its input over all replicas (for
        ``tf.nn.compute_average_loss``).
      scores: network output -> the adversarial logits / scores (e.g. the
        first channel of a categorical D_V).
      real_auxiliary_loss: (output on real, real batch) -> [B] added to the
        discriminator's per-example loss (e.g. MoCoGAN's label
        cross-entropy of D_V on real videos).
      fake_auxiliary_loss: (output on fakes, fakes) -> [B] added to the
        generator's per-example loss against this critic (the sampled
        category, InfoGAN-style).
      extra_loss: (real input, fakes) -> scalar (already averaged) or None,
        added to the discriminator's loss (RJGAN's summary frames).
      constraints: run after each update of this critic (besides the loss
        pair's weight clipping).
    """
    name: str
    network: Any
    optimizer: Any
    real_inputs: Callable[[Mapping], tf.Tensor]
    fake_inputs: Callable[[Any], tf.Tensor]
    global_batch_size: Any
    scores: Callable[[tf.Tensor], tf.Tensor] = _identity
    real_auxiliary_loss: Optional[Callable] = None
    fake_auxiliary_loss: Optional[Callable] = None
    extra_loss: Optional[Callable] = None
    constraints: Sequence[WeightConstraint] = ()


@dataclasses.dataclass(frozen=True)
class Generator:
    """The generator side of the step.

    Attributes:
      variables: every trainable variable of the generator (G_I and the
        latent networks).
      optimizer: its optimizer (built).
      extra_loss: fakes -> scalar (already averaged) or None, added to the
        generator's loss and shown as ``g_extra_loss``.
    """
    variables: Sequence
    optimizer: Any
    extra_loss: Optional[Callable] = None


def gan_loss_from_config(config) -> losses.GANLoss:
    """The loss pair of a GAN config (``gan_loss``, ``gradient_penalty``, ``drift``, ``r1_gamma``).

    Settings a config lacks take the non-saturating pair's values.
    """
    return losses.gan_loss(getattr(config, "gan_loss", "non_saturating"),
                           gradient_penalty=getattr(config, "gradient_penalty", None),
                           drift=getattr(config, "drift", None),
                           r1_gamma=getattr(config, "r1_gamma", 0.0))


def split_real_batches(batch: Mapping, n: int) -> List[Mapping]:
    """The n real batches of one step: index i of the axis after the batch axis.

    With ``DataRequirements.real_batches`` = n > 1 the pipeline stacks n
    draws on that axis (video [B, n, T, H, W, C], image [B, n, k, H, W, C],
    label [B, n]); with n = 1 the batch is returned as it is.
    """
    if n == 1:
        return [batch]
    return [{key: value[:, i] for key, value in batch.items()} for i in range(n)]


def _update_critic(critic: Critic, real_batch, fakes, gan_loss: losses.GANLoss, rng,
                   l2_weight_decay, metrics) -> None:
    """One update of one discriminator, then its weight constraints."""
    avg = base.average
    network = critic.network

    def scores_of(x):
        return critic.scores(network(x, training=True))

    with tf.GradientTape() as tape:
        real_inputs = critic.real_inputs(real_batch)
        fake_inputs = tf.stop_gradient(critic.fake_inputs(fakes))
        real_out = network(real_inputs, training=True)
        fake_out = network(fake_inputs, training=True)
        real_scores, fake_scores = critic.scores(real_out), critic.scores(fake_out)
        per_example = gan_loss.discriminator_loss(real_scores, fake_scores)
        if critic.real_auxiliary_loss is not None:
            per_example += critic.real_auxiliary_loss(real_out, real_batch)
        if gan_loss.gradient_penalty:
            alpha = rng.uniform(tf.shape(real_inputs)[:1])
            per_example += losses.wasserstein_gradient_penalty(
                real_inputs, fake_inputs, scores_of, alpha=alpha,
                weight=gan_loss.gradient_penalty)
        if gan_loss.drift:
            per_example += losses.wasserstein_drift_penalty(real_scores, gan_loss.drift)
        if gan_loss.r1_gamma:
            per_example += losses.r1_penalty(real_inputs, scores_of, gan_loss.r1_gamma)
        loss = avg(per_example, critic.global_batch_size)
        if critic.extra_loss is not None:
            extra = critic.extra_loss(real_inputs, fakes)
            if extra is not None:
                loss += extra
    variables = network.trainable_variables
    base.apply_gradients(critic.optimizer, tape, loss, variables, l2_weight_decay)
    constraints = list(critic.constraints)
    if gan_loss.weight_clip:
        constraints.append(weight_clipping(gan_loss.weight_clip))
    if constraints:
        apply_constraints(constraints, variables, critic.optimizer.iterations)
    metrics[f"d_{critic.name}_loss"] = loss
    metrics[f"d_{critic.name}_real"] = avg(gan_loss.output_summary(real_scores),
                                           critic.global_batch_size)
    metrics[f"d_{critic.name}_fake"] = avg(gan_loss.output_summary(fake_scores),
                                           critic.global_batch_size)


def train_step(critics: Sequence[Critic], generator: Generator, real_batches: Sequence[Mapping],
               draw_fakes: Callable[[], Any], gan_loss: losses.GANLoss, rng, *,
               share_fakes: bool = True, l2_weight_decay: float = 0.0) -> Dict[str, tf.Tensor]:
    """n_critic = len(real_batches) discriminator updates, then one generator update.

    Args:
      critics: the discriminators, updated in this order at each of the
        n_critic rounds.
      generator: the generator's variables, optimizer and extra loss.
      real_batches: one real batch per discriminator round
        (``split_real_batches``).
      draw_fakes: () -> fakes (any structure the critics' ``fake_inputs``
        read), generated with ``training=True`` from ``rng``.
      gan_loss: the loss pair and its penalties.
      rng: tf.random.Generator (the gradient penalty's interpolation weights).
      share_fakes: the generator update reuses the fakes of the last round
        (otherwise it draws a fresh batch, as the official MoCoGAN code).
      l2_weight_decay: coupled L2 decay of every update (``base.apply_gradients``).
    Returns:
      Scalars averaged with each critic's global batch size: the last
      round's ``d_*`` losses and outputs, ``g_loss`` (and ``g_<critic>_loss``
      with several critics, ``g_extra_loss`` with an extra loss).
    """
    if not real_batches:
        raise ValueError("an adversarial step needs at least one real batch")
    metrics = {}
    with tf.GradientTape() as g_tape:
        with g_tape.stop_recording():
            for real_batch in real_batches[:-1]:
                fakes = draw_fakes()
                for critic in critics:
                    _update_critic(critic, real_batch, fakes, gan_loss, rng, l2_weight_decay,
                                   metrics)
        # The last round's fakes are recorded: the generator update can reuse them.
        fakes = draw_fakes()
        with g_tape.stop_recording():
            for critic in critics:
                _update_critic(critic, real_batches[-1], fakes, gan_loss, rng, l2_weight_decay,
                               metrics)
        if not share_fakes:
            fakes = draw_fakes()
        g_loss = None
        for critic in critics:
            out = critic.network(critic.fake_inputs(fakes), training=True)
            per_example = gan_loss.generator_loss(critic.scores(out))
            if critic.fake_auxiliary_loss is not None:
                per_example += critic.fake_auxiliary_loss(out, fakes)
            loss = base.average(per_example, critic.global_batch_size)
            if len(critics) > 1:
                metrics[f"g_{critic.name}_loss"] = loss
            g_loss = loss if g_loss is None else g_loss + loss
        if generator.extra_loss is not None:
            extra = generator.extra_loss(fakes)
            if extra is not None:
                metrics["g_extra_loss"] = extra
                g_loss += extra
    base.apply_gradients(generator.optimizer, g_tape, g_loss, generator.variables,
                         l2_weight_decay)
    metrics["g_loss"] = g_loss
    return metrics
