"""Seed 004's baselines: VGAN (Vondrick et al. 2016) and TGAN (Saito et al. 2017).

Both train with the package's one adversarial step
(``tfvidgen.models.adversarial.train_step``); networks in
``tfvidgen.nets.vgan_tgan_nets``.

* ``vgan``: two-stream generator, G(z) = m(z) * f(z) + (1 - m(z)) * b(z)
  (seed 004, Eq. 3.1) with z ~ N(0, I) (100-d), a 3D discriminator, the
  GAN loss (``--gan_loss``: non_saturating, VGAN's cross-entropy with the
  real label for G, or minimax) plus lambda ||m(z)||_1 (lambda 0.1) as the
  generator's extra loss; Adam 2e-4 / beta1 0.5, weights N(0, 0.01), BN
  gamma N(1, 0.02); 32 frames of 64x64, batch 64 (``main.lua``).
* ``tgan``: z0 ~ U(-1, 1) (100-d) -> temporal generator -> 16 frame latents
  z1(t); the image generator renders each frame from [z0, z1(t)]; a 3D
  discriminator; WGAN loss, one critic and one generator update per
  iteration, singular value clipping of the critic's convolution kernels
  every 5 iterations and its BatchNorm gammas clipped into [0.01 sigma,
  sigma] (sigma: the running standard deviation) at the same times
  (``updaters/tgan_updater_wgan.py``); RMSprop 5e-5, batch 32.
  ``--critic_constraint=clip`` is the paper's weight-clipping variant
  (+-0.01 after every update).
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import adversarial, base
from tfvidgen.nets import vgan_tgan_nets as nets
from tfvidgen.settings import ConfigError, Settings, setting


# Settings ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VGANConfig(Settings):
    """Vondrick et al. 2016 (``cvondrick/videogan`` main.lua).

    Batch and clip length default to CPU size (``bin/train --model=vgan`` alone: one step
    of the paper's 64 x 32x64x64 took 158 s on 2 shared cores); the paper's are in
    configs/vgan_golf.cfg and vgan_ucf101.cfg.
    """
    batch_size: int = setting(8, "Global batch of videos (CPU size; main.lua: 64).", min=1)
    num_frames: int = setting(16, "Frames of a generated clip (CPU size; the paper's 32).",
                              min=1)
    latent_dim: int = setting(100, "z ~ N(0, I) size.", min=1)
    ngf: int = setting(64, "Generator width: ngf * 8 maps at 4x4 (at 64 px), halving "
                       "per doubling.", min=1)
    ndf: int = setting(64, "Discriminator width of the first layer, doubling per layer.",
                       min=1)
    mask_penalty: float = setting(0.1, "lambda of the L1 penalty on the mask m(z).", min=0.0)
    mask_penalty_reduction: str = setting(
        "sum", "sum: lambda ||m(z)||_1 per video, averaged over the batch (the paper's "
        "term); torch: also summed over the batch, the gradient of Torch's nn.L1Penalty in "
        "main.lua.", choices=("sum", "torch"))
    gan_loss: str = setting("non_saturating", "Loss pair: non_saturating (VGAN's: G "
                            "minimises the cross-entropy with the real label) or minimax.",
                            choices=("non_saturating", "minimax"))
    learning_rate: float = setting(2e-4, "Adam learning rate of both networks.", min=0.0,
                                   min_exclusive=True)
    beta1: float = setting(0.5, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.999, "Adam beta2.", min=0.0, max=0.999999)
    weight_stddev: float = setting(0.01, "Convolution weights ~ N(0, stddev^2).", min=0.0,
                                   min_exclusive=True)
    n_critic: int = setting(1, "Discriminator updates per generator update.", min=1)


@dataclasses.dataclass(frozen=True)
class TGANConfig(Settings):
    """Saito et al. 2017 (``pfnet-research/tgan``, configs/ucf101)."""
    batch_size: int = setting(32, "Global batch of videos (the paper's 32).", min=1)
    num_frames: int = setting(16, "Frames of a clip: a power of two (the paper's 16).", min=1)
    z0_dim: int = setting(100, "z0 ~ U(-1, 1) size.", min=1)
    z1_dim: int = setting(100, "Frame latent z1(t) size.", min=1)
    temporal_width: int = setting(512, "Maps of the temporal generator's first layer.",
                                  min=4)
    ngf: int = setting(512, "Maps of the image generator at 4x4 (conv_ch), halving per "
                       "doubling.", min=2)
    ndf: int = setting(64, "Discriminator width of the first layer, doubling per layer.",
                       min=1)
    critic_constraint: str = setting(
        "svc", "svc: singular value clipping (and BN gamma clipping) every --svc_every "
        "updates; clip: WGAN's weight clipping to +-0.01 after every update.",
        choices=("svc", "clip"))
    svc_every: int = setting(5, "Critic updates between singular value clippings.", min=1)
    clip_batch_norm: bool = setting(True, "With svc, clip the critic's BN gamma into "
                                    "[0.01 sigma, sigma] at the same times.")
    learning_rate: float = setting(5e-5, "RMSprop learning rate of all networks.", min=0.0,
                                   min_exclusive=True)
    rms_rho: float = setting(0.99, "RMSprop decay (Chainer's alpha).", min=0.0, max=0.999999)
    n_critic: int = setting(1, "Critic updates per generator update (TGAN: 1).", min=1)

    def check(self):
        if self.num_frames & (self.num_frames - 1):
            raise ConfigError(f"--num_frames must be a power of two, got {self.num_frames}")


# Shared --------------------------------------------------------------------------------------

class _VideoGAN(base.Task):
    """What VGAN and TGAN share: one generator side, one 3D critic, fixed-length clips."""

    def data_requirements(self):
        return base.DataRequirements(clip_length=self.config.num_frames,
                                     real_batches=self.config.n_critic)

    def networks(self):
        return {**self.generator_networks(), "video_discriminator": self.discriminator}

    def exported_networks(self):
        return self.generator_networks()

    def optimizers(self):
        return {"generator": self.generator_optimizer,
                "video_discriminator": self.discriminator_optimizer}

    def generator_variables(self):
        return [v for net in self.generator_networks().values()
                for v in net.trainable_variables]

    def build_optimizers(self, make):
        self.generator_optimizer, self.discriminator_optimizer = make(), make()
        self.generator_optimizer.build(self.generator_variables())
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def default_num_frames(self):
        return self.config.num_frames

    def fixed_length(self, videos, num_frames):
        """The generated clips repeated or cut to ``num_frames``."""
        return tf.gather(videos, tf.range(num_frames) % self.config.num_frames, axis=1)

    def critic(self, global_batch_size, constraints=()):
        return adversarial.Critic("video", self.discriminator, self.discriminator_optimizer,
                                  real_inputs=lambda b: b["video"],
                                  fake_inputs=lambda fakes: fakes["video"],
                                  global_batch_size=global_batch_size,
                                  constraints=tuple(constraints))

    def train_step(self, batch, step, rng, global_batch_size):
        real_batches = adversarial.split_real_batches(batch, self.config.n_critic)
        n = tf.shape(real_batches[0]["video"])[0]
        return adversarial.train_step(
            [self.critic(global_batch_size, self.critic_constraints())],
            adversarial.Generator(self.generator_variables(), self.generator_optimizer,
                                  extra_loss=self.generator_extra_loss(global_batch_size)),
            real_batches, lambda: self.generate(rng, n, training=True), self.gan_loss, rng)

    def critic_constraints(self):
        return ()

    def generator_extra_loss(self, global_batch_size):
        return None


# VGAN ----------------------------------------------------------------------------------------

def mask_l1(mask, weight, global_batch_size, reduction="sum"):
    """lambda ||m||_1 of each video, as this replica's share of the step's loss.

    Args:
      mask: [B, T, H, W, 1] in [0, 1].
      weight: lambda.
      global_batch_size: videos of the step over all replicas.
      reduction: "sum": averaged over the global batch (per-replica shares
        sum to lambda * mean_i ||m_i||_1); "torch": summed over it, as
        Torch's ``nn.L1Penalty`` in main.lua.
    """
    per_video = weight * tf.reduce_sum(tf.abs(tf.reshape(mask, [tf.shape(mask)[0], -1])), 1)
    if reduction == "torch":
        return tf.reduce_sum(per_video)
    return base.average(per_video, global_batch_size)


@registry.register_task("vgan")
class VGAN(_VideoGAN):
    """Generating Videos with Scene Dynamics (seed 004, section 3.2)."""

    config_class = VGANConfig

    def build(self):
        c, spec = self.config, self.data_spec
        init = keras.initializers.RandomNormal(0.0, c.weight_stddev)
        self.generator = nets.VGANGenerator(spec.image_size, c.num_frames, c.latent_dim, c.ngf,
                                            spec.channels, c.weight_stddev)
        self.discriminator = nets.Discriminator3D(spec.image_size, c.num_frames, c.ndf, 1e-3,
                                                  kernel_initializer=init)
        base.build_by_calling(self.generator, [c.latent_dim])
        size = spec.image_size
        base.build_by_calling(self.discriminator, [c.num_frames, size, size, spec.channels])
        self.build_optimizers(lambda: keras.optimizers.Adam(
            c.learning_rate, beta_1=c.beta1, beta_2=c.beta2, epsilon=1e-8))
        self.gan_loss = losses.gan_loss(c.gan_loss)

    def generator_networks(self):
        return {"generator": self.generator}

    def generate(self, noise, num_videos, training=False):
        z = noise.normal(tf.stack([num_videos, self.config.latent_dim]))
        return self.generator(z, training=training)

    def generator_extra_loss(self, global_batch_size):
        c = self.config
        if not c.mask_penalty:
            return None
        return lambda fakes: mask_l1(fakes["mask"], c.mask_penalty, global_batch_size,
                                     c.mask_penalty_reduction)

    def sample(self, noise, num_videos, num_frames, context=None):
        del context
        return self.fixed_length(self.generate(noise, num_videos)["video"], num_frames)

    def sample_summaries(self, noise, batch=None):
        out = self.generate(noise, 8)
        mask = tf.tile(out["mask"], [1, 1, 1, 1, out["video"].shape[-1]]) * 2.0 - 1.0
        return {"samples": out["video"], "foreground": out["foreground"],
                "mask": mask, "background": out["background"]}

    def serving_signatures(self):
        signatures = super().serving_signatures()
        task = self

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_videos")])
        def sample_layers(seed, num_videos):
            """The video and its streams: foreground, background, mask (uint8)."""
            out = task.generate(base.StatelessNoise(seed), num_videos)
            return {"video": base.to_uint8(out["video"]),
                    "foreground": base.to_uint8(out["foreground"]),
                    "background": base.to_uint8(out["background"]),
                    "mask": base.to_uint8(out["mask"] * 2.0 - 1.0)}

        signatures["sample_layers"] = sample_layers
        return signatures


# TGAN ----------------------------------------------------------------------------------------

def batch_norm_gamma_constraint(norm, every=5) -> adversarial.WeightConstraint:
    """TGAN's BN clipping: gamma into [0.01 sigma, sigma], sigma = sqrt(running variance)."""
    gamma, variance = norm.gamma, norm.moving_variance

    def project(value):
        sigma = tf.sqrt(tf.convert_to_tensor(variance))
        return tf.clip_by_value(value, 0.01 * sigma, sigma)

    return adversarial.WeightConstraint(f"bn_gamma_clipping/{norm.name}", project,
                                        applies_to=lambda v: v is gamma, every=every)


@registry.register_task("tgan")
class TGAN(_VideoGAN):
    """Temporal Generative Adversarial Nets with singular value clipping."""

    config_class = TGANConfig

    def build(self):
        c, spec = self.config, self.data_spec
        self.temporal_generator = nets.TemporalGenerator(c.num_frames, c.z1_dim,
                                                         c.temporal_width)
        self.image_generator = nets.FrameGenerator(spec.image_size, spec.channels, c.ngf)
        self.discriminator = nets.Discriminator3D(spec.image_size, c.num_frames, c.ndf, 2e-5,
                                                  kernel_initializer=nets.chainer_normal())
        nets.tgan_videos(self.temporal_generator, self.image_generator,
                         tf.zeros([1, c.z0_dim]))
        size = spec.image_size
        base.build_by_calling(self.discriminator, [c.num_frames, size, size, spec.channels])
        self.build_optimizers(lambda: keras.optimizers.RMSprop(c.learning_rate, rho=c.rms_rho,
                                                               epsilon=1e-8))
        pair = losses.LOSS_PAIRS["wasserstein"]
        clip = pair.weight_clip if c.critic_constraint == "clip" else 0.0
        self.gan_loss = dataclasses.replace(pair, weight_clip=clip)

    def generator_networks(self):
        return {"temporal_generator": self.temporal_generator,
                "image_generator": self.image_generator}

    def critic_constraints(self):
        c = self.config
        if c.critic_constraint != "svc":
            return ()
        out = [adversarial.singular_value_clipping(every=c.svc_every)]
        if c.clip_batch_norm:
            out += [batch_norm_gamma_constraint(norm, c.svc_every)
                    for norm in self.discriminator.batch_norms()]
        return out

    def generate(self, noise, num_videos, training=False):
        z0 = noise.uniform(tf.stack([num_videos, self.config.z0_dim]), -1.0, 1.0)
        videos = nets.tgan_videos(self.temporal_generator, self.image_generator, z0,
                                  training=training)
        return {"video": videos}

    def sample(self, noise, num_videos, num_frames, context=None):
        del context
        return self.fixed_length(self.generate(noise, num_videos)["video"], num_frames)
