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


# Wasserstein, WGAN-GP, drift, hinge, R1 ------------------------------------------------------

def test_wasserstein_losses():
    real = np.array([[0.3, -1.2], [2.0, 0.1]], np.float32)
    fake = np.array([[-0.5, 0.7], [1.5, -2.0]], np.float32)
    np.testing.assert_allclose(losses.wasserstein_discriminator_loss(real, fake).numpy(),
                               fake.mean(1) - real.mean(1), rtol=1e-6)
    np.testing.assert_allclose(losses.wasserstein_generator_loss(fake).numpy(), -fake.mean(1),
                               rtol=1e-6)


def linear_critic(w):
    """D(x) = <w, x> per example: its input gradient is w everywhere."""
    w = tf.constant(w, tf.float32)
    return lambda x: tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]) * tf.reshape(w, [1, -1]),
                                   axis=1)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    rng = np.random.default_rng(0)
    w = rng.normal(size=[2, 3]).astype(np.float32)
    real = rng.normal(size=[4, 2, 3]).astype(np.float32)
    fake = rng.normal(size=[4, 2, 3]).astype(np.float32)
    norm = np.linalg.norm(w)
    got = losses.wasserstein_gradient_penalty(real, fake, linear_critic(w), weight=10.0).numpy()
    np.testing.assert_allclose(got, [10.0 * (norm - 1.0) ** 2] * 4, rtol=1e-5)
    # PGGAN's target gamma: (||g|| - gamma)^2 / gamma^2.
    got = losses.wasserstein_gradient_penalty(real, fake, linear_critic(w), target=2.0).numpy()
    np.testing.assert_allclose(got, [(norm - 2.0) ** 2 / 4.0] * 4, rtol=1e-5)
    # One-sided: no penalty below the target.
    small = linear_critic(w / (2 * norm))
    assert np.all(losses.wasserstein_gradient_penalty(real, fake, small, one_sided=True)
                  .numpy() == 0.0)


def test_gradient_penalty_is_taken_at_the_interpolates():
    """D(x) = |x|^2 / 2 has gradient x: the penalty reveals where it was evaluated."""
    rng = np.random.default_rng(1)
    real = rng.normal(size=[3, 5]).astype(np.float32)
    fake = rng.normal(size=[3, 5]).astype(np.float32)
    alpha = np.array([0.0, 0.3, 1.0], np.float32)
    x_hat = alpha[:, None] * real + (1 - alpha[:, None]) * fake
    got = losses.wasserstein_gradient_penalty(
        real, fake, lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=1), alpha=alpha).numpy()
    np.testing.assert_allclose(got, (np.linalg.norm(x_hat, axis=1) - 1.0) ** 2, rtol=1e-5)


def test_patch_critic_gradients_are_of_the_per_example_mean():
    rng = np.random.default_rng(2)
    w = rng.normal(size=[6, 4]).astype(np.float32)  # 4 patch outputs per example
    real = rng.normal(size=[2, 6]).astype(np.float32)
    critic = lambda x: tf.matmul(x, w)[..., None]  # noqa: E731
    mean_grad = np.linalg.norm(w.mean(axis=1))
    np.testing.assert_allclose(losses.r1_penalty(real, critic, gamma=2.0).numpy(),
                               [mean_grad ** 2] * 2, rtol=1e-5)


def test_drift_penalty():
    real = np.array([[1.0, -3.0], [0.5, 0.5]], np.float32)
    np.testing.assert_allclose(losses.wasserstein_drift_penalty(real).numpy(),
                               0.001 * (real ** 2).mean(1), rtol=1e-6)


def test_hinge_losses():
    real = np.array([[0.3, 1.7], [-2.0, 0.9]], np.float32)
    fake = np.array([[-0.5, -1.7], [1.5, 0.0]], np.float32)
    want = np.maximum(0, 1 - real).mean(1) + np.maximum(0, 1 + fake).mean(1)
    np.testing.assert_allclose(losses.hinge_discriminator_loss(real, fake).numpy(), want,
                               rtol=1e-6)
    np.testing.assert_allclose(losses.hinge_generator_loss(fake).numpy(), -fake.mean(1),
                               rtol=1e-6)


def test_r1_penalty_of_linear_and_quadratic_critics():
    rng = np.random.default_rng(3)
    w = rng.normal(size=[2, 3]).astype(np.float32)
    real = rng.normal(size=[4, 2, 3]).astype(np.float32)
    np.testing.assert_allclose(losses.r1_penalty(real, linear_critic(w), gamma=10.0).numpy(),
                               [5.0 * np.sum(w ** 2)] * 4, rtol=1e-5)
    flat = real.reshape(4, -1)
    quadratic = lambda x: 0.5 * tf.reduce_sum(tf.square(tf.reshape(x, [4, -1])), 1)  # noqa: E731
    np.testing.assert_allclose(losses.r1_penalty(real, quadratic, gamma=1.0).numpy(),
                               0.5 * np.sum(flat ** 2, axis=1), rtol=1e-5)


def test_loss_pairs_registry():
    assert set(losses.LOSS_PAIRS) == {"minimax", "non_saturating", "wasserstein", "wgan_gp",
                                      "hinge"}
    pair = losses.LOSS_PAIRS["non_saturating"]
    assert pair.discriminator_loss is losses.minimax_discriminator_loss
    assert pair.generator_loss is losses.modified_generator_loss
    assert losses.LOSS_PAIRS["wgan_gp"].gradient_penalty == 10.0
    assert losses.LOSS_PAIRS["wgan_gp"].drift == 0.001
    assert losses.LOSS_PAIRS["wasserstein"].weight_clip == 0.01
    from tfvidgen.models.config import GAN_LOSSES
    assert set(GAN_LOSSES) == set(losses.LOSS_PAIRS)


# Variational terms -----------------------------------------------------------------------------

def test_kl_standard_normal_closed_form_and_monte_carlo():
    mu = np.array([0.0, 1.0, -0.5], np.float32)
    logvar = np.array([0.0, np.log(4.0), np.log(0.25)], np.float32)
    got = losses.kl_standard_normal(mu, logvar).numpy()
    var = np.exp(logvar)
    np.testing.assert_allclose(got, 0.5 * (var + mu ** 2 - 1 - np.log(var)), rtol=1e-6)
    assert got[0] == 0.0
    rng = np.random.default_rng(0)
    z = mu + np.sqrt(var) * rng.normal(size=[200000, 3])
    log_q = -0.5 * ((z - mu) ** 2 / var + np.log(2 * np.pi * var))
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi))
    np.testing.assert_allclose(got, (log_q - log_p).mean(0), atol=0.02)


def test_kl_normal_normal_closed_form_and_monte_carlo():
    mu1, logvar1 = np.float32([0.3, -1.0]), np.float32([0.2, -0.7])
    mu2, logvar2 = np.float32([-0.4, 0.5]), np.float32([0.6, 0.1])
    got = losses.kl_normal_normal(mu1, logvar1, mu2, logvar2).numpy()
    v1, v2 = np.exp(logvar1), np.exp(logvar2)
    rng = np.random.default_rng(1)
    z = mu1 + np.sqrt(v1) * rng.normal(size=[200000, 2])
    log_q = -0.5 * ((z - mu1) ** 2 / v1 + np.log(2 * np.pi * v1))
    log_p = -0.5 * ((z - mu2) ** 2 / v2 + np.log(2 * np.pi * v2))
    np.testing.assert_allclose(got, (log_q - log_p).mean(0), atol=0.02)
    # Against N(0, 1) it is kl_standard_normal.
    zeros = np.zeros_like(mu1)
    np.testing.assert_allclose(losses.kl_normal_normal(mu1, logvar1, zeros, zeros).numpy(),
                               losses.kl_standard_normal(mu1, logvar1).numpy(), rtol=1e-6)


def test_reparameterize():
    eps = np.array([[-1.0, 0.0, 2.0]], np.float32)
    z = losses.reparameterize(np.float32([1.0, 2.0, 3.0]), np.float32([0.0, np.log(4.0), 0.0]),
                              eps).numpy()
    np.testing.assert_allclose(z, [[0.0, 2.0, 5.0]], rtol=1e-6)
