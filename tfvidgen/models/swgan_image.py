"""``swgan_image``: the non-progressive SWGAN on images (seed 004, chapter 5).

The thesis repository's ``standard_training/swgan_64x64.py``: the 2D ResNet
generator and encoder of ``tfvidgen.nets.swgan_resnet``, D = f o E with
SWGAN's learned orthogonal projections (4 blocks of 128 directions), the
loss of Eq. 5.3 with the repository's weights (lambda_1 20, lambda_2 10,
target 0.001), 4 critic updates per generator update, Adam 3e-4 / (0, 0.9),
batch 64. It trains on single frames of the training videos (as
``image_gan``: ``images_per_video=1``); ``swgan`` is the same loss on the
3D video networks and ``pgswgan`` on the progressive ones.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import adversarial, base, video_gan
from tfvidgen.models.progressive import PROJECTION_UPDATES, GeneratorCritic, swgan_critic
from tfvidgen.nets import swgan_resnet
from tfvidgen.settings import Settings, setting


@dataclasses.dataclass(frozen=True)
class SWGANImageConfig(Settings):
    """standard_training/swgan_64x64.py's settings."""
    batch_size: int = setting(64, "Global batch of images (BATCH_SIZE).", min=1)
    latent_dim: int = setting(128, "Latent size, N(0, I) (FEATURE_DIM).", min=1)
    features: int = setting(128, "Size of the encoder's feature vector E(x) (FEATURE_DIM).",
                            min=1)
    dim: int = setting(64, "Base feature maps of the ResNets (DIM): 8, 4, 2, 1 x dim in "
                       "the generator, 1, 2, 4, 8, 8 x dim in the encoder.", min=1)
    learning_rate: float = setting(3e-4, "Adam learning rate of both networks (D_LR, G_LR).",
                                   min=0.0, min_exclusive=True)
    beta1: float = setting(0.0, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.9, "Adam beta2.", min=0.0, max=0.999999)
    n_critic: int = setting(4, "Critic updates per generator update (CRITIC_ITERS).", min=1)
    ema_decay: float = setting(0.0, "Moving average of the generator (0: none).", min=0.0,
                               max=0.999999)
    swgan_gradient_penalty: float = setting(20.0, "lambda_1 of Eq. 5.3 (LAMBDA1).", min=0.0)
    swgan_projection_penalty: float = setting(10.0, "lambda_2 of Eq. 5.3 (LAMBDA2).", min=0.0)
    swgan_projection_target: float = setting(0.001, "Target of the projection penalty.",
                                             min=0.0)
    swgan_blocks: int = setting(4, "Orthogonal K x K projection matrices (4 SWD blocks).",
                                min=1)
    swgan_projection_update: str = setting(
        "riemannian", "How the projection stays orthogonal: riemannian (the repository: Adam "
        "gets the Riemannian gradient G - W sym(W^T G), then a QR retraction) or qr (the "
        "Euclidean gradient, then the QR retraction).", choices=PROJECTION_UPDATES)


@registry.register_task("swgan_image")
class SWGANImage(GeneratorCritic, base.Task):
    """SWGAN on single frames with 2D ResNets (the repository's non-progressive model)."""

    config_class = SWGANImageConfig

    def data_requirements(self):
        return base.DataRequirements(clip_length=0, images_per_video=1,
                                     real_batches=self.config.n_critic)

    def build(self):
        c, size, channels = self.config, self.data_spec.image_size, self.data_spec.channels
        self.generator = swgan_resnet.ImageGenerator(size, c.latent_dim, c.dim, channels)
        self.discriminator = swgan_resnet.SWGANImageCritic(
            c.dim, c.features, c.swgan_blocks,
            riemannian=c.swgan_projection_update == "riemannian")
        base.build_by_calling(self.generator, [c.latent_dim])
        base.build_by_calling(self.discriminator, [size, size, channels])
        self.build_adam_optimizers()
        self.build_generator_ema()

    def train_step(self, batch, step, rng, global_batch_size):
        c, d = self.config, self.discriminator
        real_batches = adversarial.split_real_batches(batch, c.n_critic)
        images = real_batches[0]["image"]
        n = tf.shape(images)[0] * tf.shape(images)[1]

        def draw_fakes():
            return self.generator(rng.normal([n, c.latent_dim]), training=True)

        critic = swgan_critic("image", d, lambda x: d.encoder(x, training=True), d.projection,
                              self.discriminator_optimizer, c, rng, global_batch_size,
                              real_inputs=lambda b: video_gan.flatten_images(b["image"]))
        pair = dataclasses.replace(losses.LOSS_PAIRS["wasserstein"], name="swgan",
                                   weight_clip=0.0)
        metrics = adversarial.train_step(
            [critic], adversarial.Generator(self.generator.trainable_variables,
                                            self.generator_optimizer),
            real_batches, draw_fakes, pair, rng)
        self.update_generator_ema()
        return metrics

    # Sampling ------------------------------------------------------------------------
    def sample_images(self, noise, num_images, context=None):
        del context
        z = noise.normal(tf.stack([num_images, self.config.latent_dim]))
        return self.generator(z, training=False)

    def sample(self, noise, num_videos, num_frames, context=None):
        """Still 'videos': one image repeated ``num_frames`` times (as ``image_gan``)."""
        del context
        images = self.sample_images(noise, num_videos)
        return tf.repeat(images[:, None], num_frames, axis=1)

    def sample_summaries(self, noise, batch=None):
        return {"samples": self.sample_images(noise, 16)}
