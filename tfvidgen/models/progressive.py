"""Progressive growing of 3D video GANs and sliced-Wasserstein GANs (seed 004).

Acharya, "Towards High Resolution Video Generation with Progressive Growing
of Sliced Wasserstein GANs" (2018). Three registered methods:

* ``pgvgan``: Progressive Video GAN (chapter 4): the 3D networks of
  ``tfvidgen.nets.progressive3d`` grown 4x4x4 -> 8x8x8 -> 8x16x16 -> ... up
  to the data's ``--image_size``, WGAN-GP (lambda 10) with PGGAN's drift
  0.001 through ``adversarial.train_step``;
* ``pgswgan``: the same growth with the SWGAN loss (chapter 5, Eq. 5.3);
* ``swgan``: SWGAN on the networks' top level without growing (the
  repository's standard_training model is an image ResNet: that is
  ``swgan_image``, ``tfvidgen.models.swgan_image``; here the video networks
  are reused).

Schedule (PGGAN / thesis repository ``train.py``): level 0 trains for
``training_kimg`` thousand videos; every later level first fades in over
``transition_kimg`` thousand videos (alpha 0 -> 1 in both networks and on
the real videos), then trains for ``training_kimg``. Each level has its own
global batch (``--level_batch_sizes``, the thesis repository's minibatch per
resolution {4: 32, 8: 32, 16: 16, 32: 16, 64: 8, 128: 8, 256: 4} in the
paper configs; ``Phase.batch_size``), and steps = kimg * 1000 / that batch.
Adam (beta1 0, beta2 0.99, lr 1e-3) is reset at the start of each level,
and a moving average of the generator (0.999) is used for samples and
exports.
"""
from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import adversarial, base, phases
from tfvidgen.models.phases import Phase
from tfvidgen.nets import progressive3d as nets
from tfvidgen.settings import ConfigError, Settings, setting


# Settings --------------------------------------------------------------------------------

PROJECTION_UPDATES = ("riemannian", "qr")


@dataclasses.dataclass(frozen=True)
class ProgressiveNetworkConfig(Settings):
    """Networks and optimiser shared by the three methods (thesis appendix A, PGGAN)."""
    batch_size: int = setting(
        8, "Global batch of videos, fixed for the run (the thesis uses 32 at 4-8 px down to "
        "8 at 64-128 px and 4 at 256 px).", min=1)
    latent_dim: int = setting(128, "Latent size (pixel-normalised N(0, I)).", min=1)
    fmap_base: int = setting(1024, "Feature maps nf(stage) = min(fmap_base / 2^stage, "
                             "fmap_max) (appendix A: 1024).", min=1)
    fmap_max: int = setting(128, "Most feature maps of a layer (appendix A: 128).", min=1)
    time_schedule: str = setting(
        "thesis", "Where the length doubles: thesis (appendix A: 4x4x4, 8x8x8, 8x16x16, "
        "8x32x32, 16x64x64, 16x128x128, 32x256x256), official_code (time doubles at 8, 32 "
        "and 128 px) or together (with every spatial doubling).",
        choices=tuple(nets.TIME_DOUBLES_AT))
    mbstd_group_size: int = setting(4, "Minibatch stddev group size (0: no such layer).",
                                    min=0)
    learning_rate: float = setting(1e-3, "Adam learning rate of both networks.", min=0.0,
                                   min_exclusive=True)
    beta1: float = setting(0.0, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.99, "Adam beta2.", min=0.0, max=0.999999)
    n_critic: int = setting(1, "Discriminator updates per generator update.", min=1)
    ema_decay: float = setting(0.999, "Moving average of the generator's weights for "
                               "samples and exports (0: none).", min=0.0, max=0.999999)

    def check(self):
        group = self.mbstd_group_size
        if group > 1 and self.batch_size > group and self.batch_size % group:
            raise ConfigError(f"--batch_size={self.batch_size} must be a multiple of "
                              f"--mbstd_group_size={group} (or at most it).")
        for batch in self.level_batches():
            if group > 1 and batch > group and batch % group:
                raise ConfigError(f"--level_batch_sizes={self.level_batch_sizes}: {batch} "
                                  f"is not a multiple of --mbstd_group_size={group} (nor "
                                  "at most it).")

    def level_batches(self):
        """--level_batch_sizes as a tuple of ints (empty: none given)."""
        text = getattr(self, "level_batch_sizes", "").replace(" ", "")
        if not text:
            return ()
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            raise ConfigError(f"--level_batch_sizes={text}: expected comma-separated "
                              "integers, e.g. 32,32,16,16,8,8,4") from None
        if any(v < 1 for v in values):
            raise ConfigError(f"--level_batch_sizes={text}: batches must be >= 1")
        return values

    def level_batch_size(self, level):
        """The global batch of level ``level`` (0 = 4x4x4): the ``level``-th entry of
        --level_batch_sizes, --batch_size for levels past the list's end."""
        batches = self.level_batches()
        return batches[level] if level < len(batches) else self.batch_size


@dataclasses.dataclass(frozen=True)
class ProgressiveConfig(ProgressiveNetworkConfig):
    """Adds the growth schedule (PGGAN: 600k + 600k videos per level)."""
    level_batch_sizes: str = setting(
        "", "Global batch of each level from 4x4x4 up, comma-separated (the thesis "
        "repository's titanxp-1gpu minibatch per resolution 4..256 px: 32,32,16,16,8,8,4, "
        "in the paper configs); levels past the list's end, and every level when empty, "
        "use --batch_size. Steps per level = kimg * 1000 / the level's batch.")
    training_kimg: float = setting(
        600.0, "Thousands of videos shown per level at alpha 1.", min=0.0, min_exclusive=True)
    transition_kimg: float = setting(
        600.0, "Thousands of videos shown while a new level fades in.", min=0.0)


@dataclasses.dataclass(frozen=True)
class PGVGANConfig(ProgressiveConfig):
    gradient_penalty: float = setting(10.0, "WGAN-GP lambda.", min=0.0)
    drift: float = setting(0.001, "PGGAN's drift epsilon * D(x)^2.", min=0.0)


@dataclasses.dataclass(frozen=True)
class PGSWGANConfig(ProgressiveConfig):
    """SWGAN's weights as in the thesis repository's progressive loss.py (D_swgan)."""
    swgan_gradient_penalty: float = setting(
        50.0, "lambda_1 of Eq. 5.3: zero-centred penalty on ||(1 - a) grad D(x_hat)||^2 "
        "(5 * 10 in the thesis repository).", min=0.0)
    swgan_projection_penalty: float = setting(
        10.0, "lambda_2 of Eq. 5.3: penalty on the projection's slopes.", min=0.0)
    swgan_projection_target: float = setting(
        0.01, "Target of the projection penalty (k absorbed in lambda_2).", min=0.0)
    swgan_blocks: int = setting(1, "Orthogonal K x K projection matrices.", min=1)
    swgan_projection_update: str = setting(
        "riemannian", "How the projection stays orthogonal: riemannian (the thesis repository: "
        "Adam gets the Riemannian gradient G - W sym(W^T G) on the Stiefel manifold, then a "
        "QR retraction) or qr (the Euclidean gradient, then the QR retraction).",
        choices=PROJECTION_UPDATES)


@dataclasses.dataclass(frozen=True)
class SWGANConfig(ProgressiveNetworkConfig):
    """Non-progressive SWGAN: the repository's standard_training/swgan_64x64.py settings.

    Its batch of 64 is of 64x64 images; for 16x64x64 videos the thesis'
    video minibatch at 64 px (8) is the default (64 videos need > 20 GB on CPU).
    """
    batch_size: int = setting(8, "Global batch of videos (the image model's: 64).", min=1)
    learning_rate: float = setting(3e-4, "Adam learning rate.", min=0.0, min_exclusive=True)
    beta2: float = setting(0.9, "Adam beta2.", min=0.0, max=0.999999)
    n_critic: int = setting(4, "Critic updates per generator update.", min=1)
    ema_decay: float = setting(0.0, "Moving average of the generator (0: none).", min=0.0,
                               max=0.999999)
    swgan_gradient_penalty: float = setting(20.0, "lambda_1 of Eq. 5.3 (LAMBDA1).", min=0.0)
    swgan_projection_penalty: float = setting(10.0, "lambda_2 of Eq. 5.3 (LAMBDA2).", min=0.0)
    swgan_projection_target: float = setting(0.001, "Target of the projection penalty.",
                                             min=0.0)
    swgan_blocks: int = setting(4, "Orthogonal K x K projection matrices (4 SWD blocks).",
                                min=1)
    swgan_projection_update: str = setting(
        "riemannian", "How the projection stays orthogonal: riemannian (the thesis repository: "
        "Adam gets the Riemannian gradient G - W sym(W^T G) on the Stiefel manifold, then a "
        "QR retraction) or qr (the Euclidean gradient, then the QR retraction).",
        choices=PROJECTION_UPDATES)


# SWGAN's loss (chapter 5, Eq. 5.3), as pure functions ----------------------------------

def swgan_scores(projected):
    """Critic outputs [B, K] -> scores [B] for ``losses``' Wasserstein pair.

    The thesis repository minimises mean_k f(D(x_real)) - mean_k f(D(x_fake))
    for the critic and mean_k f(D(G(z))) for the generator; with the score
    -mean_k f these are the Wasserstein pair's D(G(z)) - D(x) and -D(G(z)).
    """
    return -tf.reduce_mean(projected, axis=-1)


def swgan_gradient_penalty(real, fake, critic_fn, alpha, weight):
    """lambda_1 ||(1 - alpha) grad_x D(x_hat)||^2, x_hat = (1 - alpha) x + alpha G(z).

    Eq. 5.3's first penalty as the repository computes it (zero-centred, on
    D = mean_k f(E(x)), the gradient scaled by 1 - alpha).

    Args:
      real, fake: [B, ...].
      critic_fn: x -> projected outputs [B, K].
      alpha: [B] uniform weights.
      weight: lambda_1.
    Returns:
      [B].
    """
    a = tf.reshape(alpha, [-1] + [1] * (real.shape.rank - 1))
    mixed = real + a * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        score = tf.reduce_sum(tf.reduce_mean(critic_fn(mixed), axis=-1))
    grads = (1.0 - a) * tape.gradient(score, mixed)
    return weight * tf.reduce_sum(tf.square(tf.reshape(grads, [tf.shape(grads)[0], -1])), 1)


def swgan_projection_penalty(real_features, fake_features, projection, alpha, weight,
                             target=0.01):
    """lambda_2 mean_k (lambda_k |phi|_leaky - target)^2 on mixed features (Eq. 5.3's second term).

    The repository stands in for the slope of f at y_hat = (1 - alpha) E(x)
    + alpha E(G(z)) with ``scale * (0.1 (|p| - p) + 0.5 (|p| + p))`` of
    p = f(y_hat) (its "directly compute the derivative of swd block"),
    reproduced here.

    Returns:
      [B].
    """
    mixed = real_features + alpha[:, None] * (fake_features - real_features)
    p = projection(mixed)
    slopes = projection.scale * (0.1 * (tf.abs(p) - p) + 0.5 * (tf.abs(p) + p))
    return weight * tf.reduce_mean(tf.square(slopes - target), axis=-1)


def projection_constraint(projection) -> adversarial.WeightConstraint:
    """Re-orthonormalises SWGAN's projection matrices after every critic update (the QR
    retraction; the Riemannian gradient, when used, is in ``SlicedProjection``)."""
    matrix = projection.matrix
    return adversarial.WeightConstraint("orthogonal_projection", nets.orthonormalize,
                                        applies_to=lambda v: v is matrix)


def swgan_critic(name, critic, encoder, projection, optimizer, config, rng, global_batch_size,
                 real_inputs) -> adversarial.Critic:
    """SWGAN's critic for ``adversarial.train_step``: D = f o E with Eq. 5.3's penalties
    (``extra_loss``) and the projection's QR retraction after each update.

    Args:
      critic: x -> f(E(x)) [B, blocks * K]; encoder: x -> E(x) [B, K];
      projection: the ``SlicedProjection`` f.
      config: with ``swgan_gradient_penalty``, ``swgan_projection_penalty`` and
        ``swgan_projection_target``.
      real_inputs: real batch -> the critic's input.
    """
    c = config

    def penalties(real, fakes):
        fakes = tf.stop_gradient(fakes)
        n = tf.shape(real)[:1]
        loss = swgan_gradient_penalty(real, fakes, critic, rng.uniform(n),
                                      c.swgan_gradient_penalty)
        loss += swgan_projection_penalty(encoder(real), encoder(fakes), projection,
                                         rng.uniform(n), c.swgan_projection_penalty,
                                         c.swgan_projection_target)
        return base.average(loss, global_batch_size)

    return adversarial.Critic(name, critic, optimizer, real_inputs=real_inputs,
                              fake_inputs=lambda fakes: fakes,
                              global_batch_size=global_batch_size, scores=swgan_scores,
                              extra_loss=penalties,
                              constraints=(projection_constraint(projection),))


# Tasks ---------------------------------------------------------------------------------------

class _LevelView:
    """What ``adversarial.train_step`` calls: a network at the task's current level."""

    def __init__(self, network, task, fade):
        self.network, self.task, self.fade = network, task, fade

    def __call__(self, x, training=True):
        return self.network(x, level=self.task.level, alpha=self.task.current_alpha(),
                            training=training)

    @property
    def trainable_variables(self):
        return self.network.level_variables(self.task.level, self.fade)


class GeneratorCritic:
    """One generator, one critic, one Adam each (settings learning_rate, beta1,
    beta2; PGGAN's epsilon 1e-8): the accessors every such Task repeats."""

    def build_adam_optimizers(self):
        self.generator_optimizer = self._adam()
        self.discriminator_optimizer = self._adam()
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def _adam(self):
        c = self.config
        return keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1, beta_2=c.beta2,
                                     epsilon=1e-8)

    def networks(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def generator_networks(self):
        return {"generator": self.generator}

    def exported_networks(self):
        return {"generator": self.generator}

    def optimizers(self):
        return {"generator": self.generator_optimizer,
                "discriminator": self.discriminator_optimizer}


class ProgressiveVideoGAN(GeneratorCritic, base.Task):
    """Shared by pgvgan, pgswgan (progressive) and swgan (``progressive = False``)."""

    config_class = PGVGANConfig
    progressive = True
    sliced = False

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        self.shapes = nets.level_shapes(data_spec.image_size, config.time_schedule)
        self.level = len(self.shapes) - 1

    # Schedule -----------------------------------------------------------------------
    @property
    def num_frames(self):
        return self.shapes[-1][0]

    def data_requirements(self):
        return base.DataRequirements(clip_length=self.num_frames,
                                     real_batches=self.config.n_critic)

    def level_name(self, level):
        frames, size = self.shapes[level]
        return f"{frames}x{size}x{size}"

    def phases(self):
        if not self.progressive:
            return super().phases()
        c = self.config
        chain = []
        for level, (frames, size) in enumerate(self.shapes):
            batch = c.level_batch_size(level)
            steps = lambda kimg: int(math.ceil(kimg * 1000 / batch))  # noqa: E731
            fade = steps(c.transition_kimg) if level else 0
            last = level == len(self.shapes) - 1
            data = base.DataRequirements(clip_length=frames, real_batches=c.n_critic)
            phase = Phase(self.level_name(level), data=data, image_size=size,
                          time_pool=self.num_frames // frames, fade_in_steps=fade,
                          batch_size=batch)
            chain.append((None if last else fade + steps(c.training_kimg), phase))
        return phases.chain(*chain)

    def enter_phase(self, phase, begins):
        if not self.progressive:
            return
        names = [self.level_name(level) for level in range(len(self.shapes))]
        self.level = names.index(phase.name)
        self.fading = bool(phase.fade_in_steps)
        if begins:
            for optimizer in self.optimizers().values():
                base.reset_optimizer(optimizer)

    def current_alpha(self):
        """The fade-in weight the networks read (None: no blending, swgan)."""
        if not self.progressive or self.level == 0:
            return None
        return self.alpha.read_value()

    # Networks --------------------------------------------------------------------------
    def make_discriminator(self):
        c = self.config
        return nets.ProgressiveDiscriminator3D(self.shapes, c.fmap_base, c.fmap_max,
                                               c.mbstd_group_size, score=True)

    def build(self):
        c, channels = self.config, self.data_spec.channels
        self.generator = nets.ProgressiveGenerator3D(self.shapes, c.latent_dim, c.fmap_base,
                                                     c.fmap_max, channels)
        self.discriminator = self.make_discriminator()
        levels = None if self.progressive else [len(self.shapes) - 1]
        nets.build_all_levels(self.generator, self.discriminator, c.latent_dim, channels,
                              fade=self.progressive, levels=levels)
        self.build_adam_optimizers()
        self.fading = False
        self.build_generator_ema()

    # Training --------------------------------------------------------------------------
    def fade_reals(self, videos):
        """Real videos of a fading level: alpha x + (1 - alpha) up(down(x)) (section 4.1)."""
        alpha = self.current_alpha()
        if alpha is None or not self.fading:
            return videos
        factors = self.generator.factors[self.level]
        low = nets.upsample(nets.downsample(videos, factors), factors)
        return alpha * videos + (1.0 - alpha) * low

    def gan_loss(self):
        c = self.config
        return losses.gan_loss("wgan_gp", gradient_penalty=c.gradient_penalty, drift=c.drift)

    def critic(self, global_batch_size, rng):
        view = _LevelView(self.discriminator, self, self.progressive)
        return adversarial.Critic("video", view, self.discriminator_optimizer,
                                  real_inputs=lambda b: self.fade_reals(b["video"]),
                                  fake_inputs=lambda fakes: fakes,
                                  global_batch_size=global_batch_size)

    def train_step(self, batch, step, rng, global_batch_size):
        c = self.config
        real_batches = adversarial.split_real_batches(batch, c.n_critic)
        n = tf.shape(real_batches[0]["video"])[0]
        generator = _LevelView(self.generator, self, self.progressive)

        def draw_fakes():
            return generator(rng.normal([n, c.latent_dim]), training=True)

        metrics = adversarial.train_step(
            [self.critic(global_batch_size, rng)],
            adversarial.Generator(generator.trainable_variables, self.generator_optimizer),
            real_batches, draw_fakes, self.gan_loss(), rng)
        self.update_generator_ema()
        return metrics

    # Sampling ----------------------------------------------------------------------------
    @property
    def default_num_frames(self):
        return self.shapes[self.level][0]

    def sample(self, noise, num_videos, num_frames, context=None):
        """Videos of the current level [N, T, S, S, C]; ``num_frames`` repeats or cuts
        the level's T frames (the networks generate fixed-length clips)."""
        del context
        z = noise.normal(tf.stack([num_videos, self.config.latent_dim]))
        alpha = None
        if self.progressive and self.level > 0:
            if tf.inside_function():
                # A traced sampler (the export's signatures) holds the fade-in weight of
                # the moment it is traced: the alpha variable is not in the SavedModel.
                with tf.init_scope():
                    alpha = tf.constant(float(self.alpha.numpy()), tf.float32)
            else:
                alpha = self.alpha.read_value()
        videos = self.generator(z, level=self.level, alpha=alpha)
        videos = tf.clip_by_value(videos, -1.0, 1.0)
        frames = self.shapes[self.level][0]
        return tf.gather(videos, tf.range(num_frames) % frames, axis=1)


@registry.register_task("pgvgan")
class PGVGAN(ProgressiveVideoGAN):
    """Progressive Video GAN with WGAN-GP (thesis chapter 4)."""


@registry.register_task("pgswgan")
class PGSWGAN(ProgressiveVideoGAN):
    """Progressive Video GAN with the sliced-Wasserstein loss (chapters 4 and 5)."""

    config_class = PGSWGANConfig

    def make_discriminator(self):
        c = self.config
        encoder = nets.ProgressiveDiscriminator3D(self.shapes, c.fmap_base, c.fmap_max,
                                                  c.mbstd_group_size, score=False)
        return nets.SWGANCritic(encoder, c.swgan_blocks,
                                riemannian=c.swgan_projection_update == "riemannian")

    def gan_loss(self):
        pair = losses.LOSS_PAIRS["wasserstein"]
        return dataclasses.replace(pair, name="swgan", weight_clip=0.0)

    def critic(self, global_batch_size, rng):
        d = self.discriminator
        return swgan_critic("video", _LevelView(d, self, self.progressive),
                            _LevelView(d.encoder, self, self.progressive), d.projection,
                            self.discriminator_optimizer, self.config, rng, global_batch_size,
                            real_inputs=lambda b: self.fade_reals(b["video"]))


@registry.register_task("swgan")
class SWGAN(PGSWGAN):
    """SWGAN (chapter 5) on the 3D networks' top level, without growing."""

    config_class = SWGANConfig
    progressive = False
