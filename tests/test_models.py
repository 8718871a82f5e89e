import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_task, tiny_trainer, weights
from tfvidgen.models.base import StatelessNoise

MODELS = ["mocogan", "rmocogan", "rjgan", "image_gan"]


@pytest.mark.parametrize("replicas", [1, 2])
@pytest.mark.parametrize("name", MODELS)
def test_trains_a_few_steps_on_one_and_two_devices(name, replicas, tmp_path, cpu_strategy):
    trainer = tiny_trainer(name, tmp_path, cpu_strategy(replicas))
    assert trainer.strategy.num_replicas_in_sync == replicas
    before = weights(trainer.task.image_generator)
    metrics = trainer.train()
    assert trainer.current_step == 3
    assert metrics and all(np.isfinite(v) for v in metrics.values())
    assert "g_loss" in metrics and "d_image_loss" in metrics
    after = weights(trainer.task.image_generator)
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert trainer.checkpoints.latest.endswith("ckpt-3")


@pytest.mark.parametrize("name", ["mocogan", "rmocogan", "rjgan"])
def test_sampling_api(name):
    task, _ = tiny_task(name)
    task.build()
    video = task.sample(StatelessNoise(5), 3, 10)
    assert video.shape == (3, 10, 16, 16, 3)
    np.testing.assert_array_equal(video.numpy(), task.sample(StatelessNoise(5), 3, 10).numpy())
    assert not np.allclose(video.numpy(), task.sample(StatelessNoise(6), 3, 10).numpy())
    assert task.sample(StatelessNoise(5), 1, 23).shape[1] == 23  # any length
    assert task.sample_images(StatelessNoise(1), 4).shape == (4, 16, 16, 3)
    fixed = task.sample_with_content(StatelessNoise(1), 3, 10).numpy()
    assert fixed.shape == (3, 10, 16, 16, 3) and not np.allclose(fixed[0], fixed[1])


def test_mocogan_fixed_content_and_fixed_motion_latents():
    task, _ = tiny_task("mocogan")
    task.build()
    codes = task.draw_codes(StatelessNoise(0), 3, 5)
    z = task.frame_latents(codes, 5, training=False).numpy()
    content, motion = z[..., :6], z[..., 6:]
    assert np.allclose(content, content[:, :1])  # z_C constant over time
    assert not np.allclose(motion[:, 0], motion[:, 1])  # z_M(t) varies


def test_rmocogan_content_varies_by_residual_only_through_motion():
    task, _ = tiny_task("rmocogan")
    task.build()
    codes = task.draw_codes(StatelessNoise(0), 2, 5)
    z = task.frame_latents(codes, 5, training=False).numpy()
    content = z[..., :6]
    assert not np.allclose(content, content[:, :1])  # z_C + delta_C(t) varies
    # delta_C depends only on (z_C, z_M(t)): same z_C and z_M give the same content.
    codes.motion_noise = tf.concat([codes.motion_noise[:1], codes.motion_noise[:1]], 0)
    codes.motion_state = tf.concat([codes.motion_state[:1], codes.motion_state[:1]], 0)
    codes.content = tf.concat([codes.content[:1], codes.content[:1]], 0)
    z = task.frame_latents(codes, 5, training=False).numpy()
    np.testing.assert_allclose(z[0], z[1])


def test_rjgan_summary_frames_and_interpolation():
    task, _ = tiny_task("rjgan")
    task.build()
    codes = task.draw_codes(StatelessNoise(0), 2, 4)
    z = task.frame_latents(codes, 4, training=False)
    delta = z - codes.content[:, None]
    assert not np.allclose(delta.numpy(), 0)  # z(t) = mu + delta(t)
    videos, summary = task.interpolate(StatelessNoise(1), StatelessNoise(2), 3, 10)
    assert videos.shape == (3, 10, 16, 16, 3) and summary.shape == (3, 16, 16, 3)
    mu_b = task.draw_codes(StatelessNoise(2), 1, 10).content
    np.testing.assert_allclose(summary[-1].numpy(),
                               task.image_generator(mu_b, training=False)[0].numpy(), atol=1e-5)
    named = task.sample_summaries(StatelessNoise(0))
    assert named["summary_then_video"].shape[1] == 11


def test_rjgan_residual_is_the_gru_output_by_default_and_a_projection_as_an_option():
    task, _ = tiny_task("rjgan")
    task.build()
    rnn = task.latent_networks["residual_rnn"]
    codes = task.draw_codes(StatelessNoise(0), 3, 6)
    delta = (task.frame_latents(codes, 6, training=False) - codes.content[:, None]).numpy()
    mu_t = tf.broadcast_to(codes.content[:, None], [3, 6, codes.content.shape[-1]])
    gru_out = rnn.gru(tf.concat([codes.motion_noise, mu_t], -1), codes.motion_state).numpy()
    np.testing.assert_allclose(delta, gru_out, atol=1e-6)  # seed 003: "the output of a GRU cell"
    assert rnn.project is None
    projected, _ = tiny_task("rjgan", residual_output="projection")
    projected.build()
    dense = projected.latent_networks["residual_rnn"].project
    assert dense is not None and dense.kernel.shape == (8, 8)


@pytest.mark.parametrize("name", ["mocogan", "rmocogan", "rjgan"])
def test_motion_initial_state_is_normal_by_default_and_zeros_as_an_option(name):
    normal, _ = tiny_task(name)
    zeros, _ = tiny_task(name, motion_initial_state="zeros")
    a = normal.draw_codes(StatelessNoise(3), 4, 6)
    b = zeros.draw_codes(StatelessNoise(3), 4, 6)
    assert float(tf.math.reduce_std(a.motion_state)) > 0.5  # h(0) ~ N(0, I), official MoCoGAN
    np.testing.assert_array_equal(b.motion_state.numpy(), 0.0)
    # The other codes of the same noise stream do not depend on the setting.
    np.testing.assert_array_equal(a.content.numpy(), b.content.numpy())
    np.testing.assert_array_equal(a.motion_noise.numpy(), b.motion_noise.numpy())
    zeros.build()
    video = zeros.sample(StatelessNoise(3), 2, 6).numpy()
    assert video.shape == (2, 6, 16, 16, 3) and np.all(np.isfinite(video))


def test_rjgan_summary_frame_term_follows_its_period():
    task, data = tiny_task("rjgan", summary_frame_period=2)
    task.build()
    batch = {"video": tf.zeros([2, 10, 16, 16, 3]), "image": tf.zeros([2, 2, 16, 16, 3]),
             "label": tf.zeros([2], tf.int32)}
    rng = tf.random.Generator.from_seed(0)
    on = task.train_step(batch, tf.constant(2, tf.int64), rng, 2)
    off = task.train_step(batch, tf.constant(3, tf.int64), rng, 2)
    assert float(on["g_extra_loss"]) > 0 and float(off["g_extra_loss"]) == 0


def test_categorical_mocogan_uses_labels(tmp_path, cpu_strategy):
    trainer = tiny_trainer("mocogan", tmp_path, cpu_strategy(1), num_categories=3)
    assert trainer.task.video_discriminator(tf.zeros([1, 10, 16, 16, 3])).shape[-1] == 4
    metrics = trainer.train()
    assert np.isfinite(metrics["d_video_loss"])


def test_pretraining_in_both_directions(tmp_path, cpu_strategy):
    image = tiny_trainer("image_gan", tmp_path / "image", cpu_strategy(1), max_steps=2)
    image.train()
    video = tiny_trainer("rjgan", tmp_path / "video", cpu_strategy(1),
                         init_image_generator=str(tmp_path / "image"))
    for a, b in zip(weights(image.task.image_generator), weights(video.task.image_generator)):
        np.testing.assert_array_equal(a, b)
    video.train()
    back = tiny_trainer("image_gan", tmp_path / "image2", cpu_strategy(1),
                        init_image_generator=str(tmp_path / "video"))
    for a, b in zip(weights(video.task.image_generator), weights(back.task.image_generator)):
        np.testing.assert_array_equal(a, b)


def test_too_short_clips_are_rejected():
    task, _ = tiny_task("mocogan", clip_length=6)
    with pytest.raises(ValueError, match="clip_length"):
        task.build()
