"""Image-only baseline of seed 003, section 5.2.

G_I (same architecture as RJGAN's) and D_I (MoCoGAN's patch discriminator)
trained on single frames S_1 of the training videos (and/or an image set),
with z ~ N(0, sigma^2 I) in the same latent space as RJGAN's summary vector
mu. Because the latent spaces agree, each model's ``image_generator`` can
initialise the other (``--init_image_generator=<run dir>``): pre-training
on images before videos, or taking RJGAN's G_I as an image generator.
"""
from __future__ import annotations

import tensorflow as tf

from tfvidgen import registry
from tfvidgen.models import adversarial, base, video_gan
from tfvidgen.models.config import ImageGANConfig
from tfvidgen.nets import dcgan


@registry.register_task("image_gan")
class ImageGAN(base.Task):

    config_class = ImageGANConfig

    def data_requirements(self):
        return base.DataRequirements(clip_length=0, images_per_video=1,
                                     real_batches=self.config.n_critic)

    def build(self):
        c, size = self.config, self.data_spec.image_size
        self.image_generator = dcgan.ImageGenerator(size, c.ngf, self.data_spec.channels)
        self.image_discriminator = dcgan.PatchImageDiscriminator(size, c.ndf)
        base.build_by_calling(self.image_generator, [c.latent_dim])
        base.build_by_calling(self.image_discriminator, [size, size, self.data_spec.channels])
        self.generator_optimizer = video_gan.adam(c)
        self.image_discriminator_optimizer = video_gan.adam(c)
        self.generator_optimizer.build(self.image_generator.trainable_variables)
        self.image_discriminator_optimizer.build(self.image_discriminator.trainable_variables)
        self.gan_loss = adversarial.gan_loss_from_config(c)
        self.build_generator_ema()

    def generator_networks(self):
        return {"image_generator": self.image_generator}

    def networks(self):
        return {"image_generator": self.image_generator,
                "image_discriminator": self.image_discriminator}

    def exported_networks(self):
        return {"image_generator": self.image_generator}

    def optimizers(self):
        return {"generator": self.generator_optimizer,
                "image_discriminator": self.image_discriminator_optimizer}

    def warm_start(self):
        return base.warm_start_image_generator(self)

    def sample_images(self, noise, num_images):
        z = noise.normal([num_images, self.config.latent_dim], stddev=self.config.prior_stddev)
        return self.image_generator(z, training=False)

    def sample(self, noise, num_videos, num_frames):
        """Still 'videos': one image repeated num_frames times (for a uniform API)."""
        images = self.sample_images(noise, num_videos)
        return tf.repeat(images[:, None], num_frames, axis=1)

    def sample_summaries(self, noise, batch=None):
        return {"samples": self.sample_images(noise, 16)}

    def train_step(self, batch, step, rng, global_batch_size):
        """D_I update(s), then G_I's (``tfvidgen.models.adversarial``)."""
        c = self.config
        real_batches = adversarial.split_real_batches(batch, c.n_critic)
        images = real_batches[0]["image"]
        n = tf.shape(images)[0] * tf.shape(images)[1]

        def draw_fakes():
            z = rng.normal([n, c.latent_dim], stddev=c.prior_stddev)
            return self.image_generator(z, training=True)

        critic = adversarial.Critic(
            "image", self.image_discriminator, self.image_discriminator_optimizer,
            real_inputs=lambda b: video_gan.flatten_images(b["image"]),
            fake_inputs=lambda fakes: fakes, global_batch_size=global_batch_size)
        generator = adversarial.Generator(self.image_generator.trainable_variables,
                                          self.generator_optimizer)
        metrics = adversarial.train_step([critic], generator, real_batches, draw_fakes,
                                         self.gan_loss, rng, share_fakes=c.share_fakes,
                                         l2_weight_decay=c.weight_decay)
        self.update_generator_ema()
        return metrics
