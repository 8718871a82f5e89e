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

from tfvidgen import losses, registry
from tfvidgen.models import base, video_gan
from tfvidgen.models.config import ImageGANConfig
from tfvidgen.nets import dcgan


@registry.register_task("image_gan")
class ImageGAN(base.Task):

    config_class = ImageGANConfig

    def data_requirements(self):
        return base.DataRequirements(clip_length=0, images_per_video=1)

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
        c = self.config
        images = batch["image"]
        images = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))
        n = tf.shape(images)[0]
        with tf.GradientTape() as g_tape:
            z = rng.normal([n, c.latent_dim], stddev=c.prior_stddev)
            fakes = self.image_generator(z, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as tape:
                    real_logits = self.image_discriminator(images, training=True)
                    fake_logits = self.image_discriminator(tf.stop_gradient(fakes), training=True)
                    d = base.average(losses.minimax_discriminator_loss(real_logits, fake_logits),
                                     global_batch_size)
                base.apply_gradients(self.image_discriminator_optimizer, tape, d,
                                     self.image_discriminator.trainable_variables, c.weight_decay)
            g = base.average(losses.modified_generator_loss(
                self.image_discriminator(fakes, training=True)), global_batch_size)
        base.apply_gradients(self.generator_optimizer, g_tape, g,
                             self.image_generator.trainable_variables, c.weight_decay)
        return {"d_image_loss": d, "g_loss": g,
                "d_image_real": base.average(losses.sigmoid_mean(real_logits), global_batch_size),
                "d_image_fake": base.average(losses.sigmoid_mean(fake_logits), global_batch_size)}
