"""MoCoGAN (Tulyakov et al., CVPR 2018), the baseline of seed 003, section 3.

Frame t is generated from [z_C, (one-hot category), z_M(t)]: the content
code z_C ~ N(0, I) (50-d) is drawn once per video and held fixed; the motion
codes z_M(t) (10-d) are the states of a GRU cell R_M fed noise eps(t) ~
N(0, I), starting from h(0) ~ N(0, I) (official ``VideoGenerator``).
"""
from __future__ import annotations

import tensorflow as tf

from tfvidgen import registry
from tfvidgen.models import video_gan
from tfvidgen.models.video_gan import Codes


@registry.register_task("mocogan")
class MoCoGAN(video_gan.VideoGANTask):

    def make_latent_networks(self):
        return {"motion_rnn": video_gan.MotionGRU(self.config.motion_dim)}

    def generator_input_dim(self):
        return self.config.content_dim + self.config.motion_dim

    def draw_codes(self, noise, batch_size, num_frames):
        c = self.config
        category = self.draw_category(noise, batch_size)
        return Codes(content=noise.normal([batch_size, c.content_dim], stddev=c.prior_stddev),
                     motion_state=self.draw_motion_state(noise, batch_size, c.motion_dim),
                     motion_noise=noise.normal([batch_size, num_frames, c.motion_dim]),
                     category=category)

    def motion_codes(self, codes, training):
        """z_M(1..T) = R_M(eps(t), h(t-1))."""
        return self.latent_networks["motion_rnn"](codes.motion_noise, codes.motion_state,
                                                  training=training)

    def frame_latents(self, codes, num_frames, training):
        z_m = self.motion_codes(codes, training)
        z_c = tf.broadcast_to(codes.content[:, None, :],
                              tf.concat([tf.shape(z_m)[:2], [self.config.content_dim]], 0))
        return tf.concat([z_c, z_m], axis=-1)

    def _with_category(self, z, codes):
        # Official input order: [z_content, z_category, z_motion].
        if not self.num_categories:
            return z
        c = self.config.content_dim
        with_cat = super()._with_category(z[..., :c], codes)
        return tf.concat([with_cat, z[..., c:]], axis=-1)
