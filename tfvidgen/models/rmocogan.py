"""RMoCoGAN: residual MoCoGAN (seed 003, section 4.2).

The content summary z_C ~ N(0, sigma^2 I) is drawn once per video; the
motion vectors z_M(t) come from the GRU R_M independently of content (as in
MoCoGAN); a content residual delta_C(t) = f(z_C, z_M(t)), conditioned only
on the content summary and the motion vector of the same step, lets the
content vary slightly across frames. Frame t is G_I([z_C + delta_C(t),
z_M(t)]). The temporal dependence is carried by z_M alone, so fixing z_C
and redrawing z_M changes the motion but not the identity (section 5.3).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tfvidgen import registry
from tfvidgen.models import mocogan


class ContentResidual(keras.layers.Layer):
    """f: [z_C, z_M(t)] -> delta_C(t), an MLP applied at every time step."""

    def __init__(self, content_dim, hidden, name="content_residual", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hidden = keras.layers.Dense(hidden, activation="relu")
        self.out = keras.layers.Dense(content_dim)

    def call(self, z_c, z_m):
        z_c = tf.broadcast_to(z_c[:, None, :], tf.concat([tf.shape(z_m)[:2], [z_c.shape[-1]]], 0))
        return self.out(self.hidden(tf.concat([z_c, z_m], axis=-1)))


@registry.register_task("rmocogan")
class RMoCoGAN(mocogan.MoCoGAN):

    def make_latent_networks(self):
        nets = super().make_latent_networks()
        nets["content_residual"] = ContentResidual(self.config.content_dim,
                                                   self.config.residual_hidden)
        return nets

    def frame_latents(self, codes, num_frames, training):
        z_m = self.motion_codes(codes, training)
        delta_c = self.latent_networks["content_residual"](codes.content, z_m)
        return tf.concat([codes.content[:, None, :] + delta_c, z_m], axis=-1)
