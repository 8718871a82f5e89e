"""Adversarial and auxiliary losses as pure functions over tensors.

Names follow TF-GAN's ``losses_impl.py``. Every adversarial loss and
penalty returns a per-example loss of shape [batch] (patch and time outputs
averaged per example), so that callers reduce with
``tf.nn.compute_average_loss(..., global_batch_size=...)`` under a
distribution strategy. The KL terms of the variational models are
elementwise (their sum over z and time is the model's).

``LOSS_PAIRS`` names the (discriminator, generator) pairs that the
adversarial step (``tfvidgen.models.adversarial``) is parameterised by:
minimax, non_saturating, wasserstein, wgan_gp and hinge.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional

import tensorflow as tf


def _per_example_mean(x):
    x = tf.convert_to_tensor(x)
    if x.shape.rank == 1:
        return x
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def minimax_discriminator_loss(real_logits, fake_logits):
    """Discriminator loss of the original GAN: -log D(x) - log(1 - D(G(z))).

    Per example; this is the sum of the two binary cross-entropy terms that
    MoCoGAN's ``BCEWithLogitsLoss`` computes on real (label 1) and fake
    (label 0) batches of equal size.

    Args:
      real_logits: D's logits on real data, [B, ...].
      fake_logits: D's logits on generated data, [B, ...].
    Returns:
      float32 [B].
    """
    real = _per_example_mean(tf.nn.softplus(-real_logits))
    fake = _per_example_mean(tf.nn.softplus(fake_logits))
    return real + fake


def modified_generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z)) (Goodfellow et al., 2014)."""
    return _per_example_mean(tf.nn.softplus(-fake_logits))


def minimax_generator_loss(fake_logits):
    """Saturating generator loss: log(1 - D(G(z)))."""
    return -_per_example_mean(tf.nn.softplus(fake_logits))


def categorical_cross_entropy_loss(labels, logits):
    """Per-example softmax cross-entropy; logits [B, ..., C] averaged over inner dims.

    Used by MoCoGAN's categorical video discriminator: on real videos with
    their labels (D_V update) and on generated videos with the sampled
    category (generator update, InfoGAN-style).
    """
    logits = tf.convert_to_tensor(logits)
    logits = tf.reshape(logits, [tf.shape(logits)[0], -1, logits.shape[-1]])
    labels = tf.cast(labels, tf.int32)
    labels = tf.broadcast_to(labels[:, None], tf.shape(logits)[:2])
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(ce, axis=1)


def sigmoid_mean(logits):
    """Per-example mean of D(x) = sigmoid(logits), for monitoring."""
    return _per_example_mean(tf.sigmoid(logits))


# Wasserstein GAN (Arjovsky et al. 2017; WGAN-GP: Gulrajani et al. 2017) ----------------

def wasserstein_discriminator_loss(real_scores, fake_scores):
    """Critic loss of WGAN: D(G(z)) - D(x) (Arjovsky et al. 2017, Eq. 3).

    Args:
      real_scores: the critic's outputs on real data, [B, ...].
      fake_scores: the critic's outputs on generated data, [B, ...].
    Returns:
      float32 [B].
    """
    return _per_example_mean(fake_scores) - _per_example_mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    """Generator loss of WGAN: -D(G(z))."""
    return -_per_example_mean(fake_scores)


def wasserstein_gradient_penalty(real_data, generated_data, discriminator_fn, *, alpha=None,
                                 target=1.0, weight=1.0, epsilon=1e-10, one_sided=False):
    """WGAN-GP's penalty: weight * (||grad_x D(x_hat)||_2 - target)^2 / target^2.

    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Algorithm
    1: x_hat = alpha x + (1 - alpha) G(z) with alpha ~ U(0, 1) per example,
    lambda = 10. ``target`` is PGGAN's gamma (Karras et al. 2018, loss.py
    ``D_wgangp_acgan``: the penalty is divided by gamma^2), 1 in both
    papers. As in TF-GAN, ``epsilon`` keeps the norm's gradient finite at
    a zero gradient.

    Args:
      real_data: [B, ...] real inputs of the critic.
      generated_data: [B, ...] generated inputs, same shape.
      discriminator_fn: x -> critic outputs [B, ...] (averaged per example).
      alpha: [B] interpolation weights of the real data; drawn from U(0, 1)
        with ``tf.random.uniform`` when None.
      target: the gradient norm the penalty pulls towards.
      weight: lambda.
      one_sided: penalise only norms above ``target`` (Gulrajani et al., App. F).
    Returns:
      float32 [B].
    """
    real_data = tf.convert_to_tensor(real_data)
    generated_data = tf.cast(generated_data, real_data.dtype)
    if alpha is None:
        alpha = tf.random.uniform(tf.shape(real_data)[:1], dtype=real_data.dtype)
    alpha = tf.reshape(tf.cast(alpha, real_data.dtype),
                       tf.concat([[-1], tf.ones([real_data.shape.rank - 1], tf.int32)], 0))
    interpolates = generated_data + alpha * (real_data - generated_data)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = tf.reduce_sum(_per_example_mean(discriminator_fn(interpolates)))
    grads = tape.gradient(scores, interpolates)
    slopes = tf.sqrt(tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])),
                                   axis=1) + epsilon)
    gap = slopes - target
    if one_sided:
        gap = tf.nn.relu(gap)
    return weight * tf.square(gap) / (target * target)


def wasserstein_drift_penalty(real_scores, epsilon=0.001):
    """PGGAN's drift term eps * D(x)^2 on real data (Karras et al. 2018, section A.1).

    Keeps the critic's outputs near zero (``wgan_epsilon`` = 0.001 in
    loss.py ``D_wgangp_acgan``).

    Returns:
      float32 [B].
    """
    return epsilon * _per_example_mean(tf.square(real_scores))


# Hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018) ------------------------

def hinge_discriminator_loss(real_logits, fake_logits):
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))), per example."""
    return (_per_example_mean(tf.nn.relu(1.0 - real_logits))
            + _per_example_mean(tf.nn.relu(1.0 + fake_logits)))


def hinge_generator_loss(fake_logits):
    """-D(G(z)), per example."""
    return -_per_example_mean(fake_logits)


# R1 (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?") -------

def r1_penalty(real_data, discriminator_fn, gamma=10.0):
    """gamma / 2 * ||grad_x D(x)||^2 on real data (Mescheder et al. 2018, Eq. 9).

    Args:
      real_data: [B, ...] real inputs of the discriminator.
      discriminator_fn: x -> logits [B, ...] (averaged per example).
      gamma: the penalty's weight.
    Returns:
      float32 [B].
    """
    real_data = tf.convert_to_tensor(real_data)
    with tf.GradientTape() as tape:
        tape.watch(real_data)
        scores = tf.reduce_sum(_per_example_mean(discriminator_fn(real_data)))
    grads = tape.gradient(scores, real_data)
    return 0.5 * gamma * tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])),
                                       axis=1)


# Variational terms (Kingma & Welling 2014; SVG, Denton & Fergus 2018) ----------------------
# Elementwise: the sum over z's dimensions and time is the caller's.

def kl_standard_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) = (exp(logvar) + mu^2 - 1 - logvar) / 2."""
    return 0.5 * (tf.exp(logvar) + tf.square(mu) - 1.0 - logvar)


def kl_normal_normal(mu1, logvar1, mu2, logvar2):
    """KL(N(mu1, exp(logvar1)) || N(mu2, exp(logvar2))), elementwise.

    = log(sigma2 / sigma1) + (sigma1^2 + (mu1 - mu2)^2) / (2 sigma2^2) - 1/2,
    the official ``kl_criterion`` of SVG-LP.
    """
    return (0.5 * (logvar2 - logvar1)
            + (tf.exp(logvar1) + tf.square(mu1 - mu2)) / (2.0 * tf.exp(logvar2)) - 0.5)


def reparameterize(mu, logvar, eps):
    """z = mu + sigma * eps (Kingma & Welling's reparameterisation trick)."""
    return mu + tf.exp(0.5 * logvar) * eps


# Loss pairs ------------------------------------------------------------------------------

def mean_score(scores):
    """Per-example mean of raw critic scores, for monitoring Wasserstein and hinge critics."""
    return _per_example_mean(scores)


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A discriminator loss, its generator loss and the penalties that go with them.

    Attributes:
      name: the registry name (``LOSS_PAIRS``), e.g. for ``--gan_loss``.
      discriminator_loss: (real_logits, fake_logits) -> [B].
      generator_loss: fake_logits -> [B].
      output_summary: logits -> [B] shown as d_*_real / d_*_fake (D(x) for
        the logistic losses, the raw score for the others).
      gradient_penalty: WGAN-GP's lambda (``wasserstein_gradient_penalty``
        on real/fake interpolates); 0: no penalty term.
      drift: PGGAN's epsilon (``wasserstein_drift_penalty``); 0: none.
      r1_gamma: gamma of ``r1_penalty``; 0: none.
      weight_clip: WGAN's c (Arjovsky et al. 2017): every discriminator
        weight is clipped to [-c, c] after each update; 0: none.
    """
    name: str
    discriminator_loss: Callable
    generator_loss: Callable
    output_summary: Callable = sigmoid_mean
    gradient_penalty: float = 0.0
    drift: float = 0.0
    r1_gamma: float = 0.0
    weight_clip: float = 0.0


LOSS_PAIRS: Dict[str, GANLoss] = {
    # Goodfellow et al. 2014, Eq. 1: D and G play the same value function.
    "minimax": GANLoss("minimax", minimax_discriminator_loss, minimax_generator_loss),
    # Goodfellow et al. 2014, section 3: G maximises log D(G(z)) (MoCoGAN, RJGAN).
    "non_saturating": GANLoss("non_saturating", minimax_discriminator_loss,
                              modified_generator_loss),
    # Arjovsky et al. 2017: weight clipping at c = 0.01 (Algorithm 1).
    "wasserstein": GANLoss("wasserstein", wasserstein_discriminator_loss,
                           wasserstein_generator_loss, mean_score, weight_clip=0.01),
    # Gulrajani et al. 2017 (lambda 10), with PGGAN's drift term (Karras et al. 2018).
    "wgan_gp": GANLoss("wgan_gp", wasserstein_discriminator_loss, wasserstein_generator_loss,
                       mean_score, gradient_penalty=10.0, drift=0.001),
    "hinge": GANLoss("hinge", hinge_discriminator_loss, hinge_generator_loss, mean_score),
}


def gan_loss(name: str, *, gradient_penalty: Optional[float] = None,
             drift: Optional[float] = None, r1_gamma: float = 0.0) -> GANLoss:
    """The loss pair ``name`` with the run's penalty weights.

    ``gradient_penalty`` and ``drift`` are the weights of the ``wgan_gp``
    pair's own terms (None: the pair's defaults, lambda 10 and epsilon
    0.001; drift 0 is Gulrajani et al.'s original objective) and are
    ignored by the other pairs; an ``r1_gamma`` > 0 adds the R1 penalty to
    any pair.

    Raises:
      ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in LOSS_PAIRS:
        raise ValueError(f"unknown GAN loss {name!r}; one of: {', '.join(LOSS_PAIRS)}")
    pair = LOSS_PAIRS[name]
    changes = {"r1_gamma": float(r1_gamma)}
    if pair.gradient_penalty and gradient_penalty is not None:
        changes["gradient_penalty"] = float(gradient_penalty)
    if pair.gradient_penalty and drift is not None:
        changes["drift"] = float(drift)
    return dataclasses.replace(pair, **changes)
