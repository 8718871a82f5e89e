import numpy as np
import tensorflow as tf

from tfvidgen import losses


def bce(logits, label):
    p = 1 / (1 + np.exp(-logits))
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_minimax_discriminator_loss_is_bce_on_real_and_fake():
    real = np.array([[0.3, -1.2], [2.0, 0.1]], np.float32)
    fake = np.array([[-0.5, 0.7], [1.5, -2.0]], np.float32)
    got = losses.minimax_discriminator_loss(real, fake).numpy()
    want = bce(real, 1).mean(axis=1) + bce(fake, 0).mean(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_generator_losses():
    fake = np.array([[-0.5, 0.7, 3.0]], np.float32)
    np.testing.assert_allclose(losses.modified_generator_loss(fake).numpy(),
                               bce(fake, 1).mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(losses.minimax_generator_loss(fake).numpy(),
                               -bce(fake, 0).mean(axis=1), rtol=1e-5)


def test_patch_maps_are_averaged_per_example():
    logits = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32) / 10.0, [2, 4, 4, 1])
    per_example = losses.modified_generator_loss(logits)
    assert per_example.shape == (2,)
    np.testing.assert_allclose(per_example.numpy(),
                               bce(logits.numpy().reshape(2, -1), 1).mean(axis=1), rtol=1e-5)


def test_categorical_cross_entropy_over_time_outputs():
    logits = np.zeros([2, 3, 1, 1, 4], np.float32)
    logits[0, ..., 2] = 5.0
    ce = losses.categorical_cross_entropy_loss(np.array([2, 1]), logits).numpy()
    assert ce[0] < 0.05
    np.testing.assert_allclose(ce[1], np.log(4), rtol=1e-5)


def test_sigmoid_mean():
    np.testing.assert_allclose(losses.sigmoid_mean(np.zeros([3, 2, 2])).numpy(), [0.5] * 3)
