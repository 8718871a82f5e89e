"""Adversarial and auxiliary losses as pure functions over tensors.

Names follow TF-GAN's ``losses_impl.py``. Every function returns a
per-example loss of shape [batch] (patch and time outputs averaged per
example), so that callers reduce with ``tf.nn.compute_average_loss(...,
global_batch_size=...)`` under a distribution strategy.
"""
from __future__ import annotations

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
