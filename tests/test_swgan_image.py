"""swgan_image (seed 004, chapter 5): SWGAN's non-progressive image model on frames."""
import numpy as np
import pytest
import tensorflow as tf

from helpers import SIZE, tiny_data, weights
from tfvidgen import export, registry
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.models.swgan_image import SWGANImageConfig
from tfvidgen.nets import swgan_resnet
from tfvidgen.train.loop import TrainConfig, Trainer

TINY = dict(batch_size=2, latent_dim=8, features=8, dim=2, n_critic=2, swgan_blocks=2)


def _trainer(model_dir, strategy, max_steps=2):
    task = registry.TASKS.get("swgan_image")(SWGANImageConfig(**TINY), DataSpec(image_size=SIZE))
    config = TrainConfig(model_dir=str(model_dir), max_steps=max_steps, batch_size=2, seed=1,
                         summary_every=1, sample_every=100, checkpoint_every=100,
                         num_samples=2)
    trainer = Trainer(task, tiny_data(), config, strategy)
    trainer.log = {}
    trainer.write_scalars = lambda step, metrics, rate: trainer.log.__setitem__(step, metrics)
    return trainer


def test_paper_settings_and_2d_shapes():
    c = SWGANImageConfig()
    assert (c.batch_size, c.latent_dim, c.features, c.dim, c.n_critic) == (64, 128, 128, 64, 4)
    assert (c.learning_rate, c.beta1, c.beta2, c.swgan_blocks) == (3e-4, 0.0, 0.9, 4)
    assert (c.swgan_gradient_penalty, c.swgan_projection_penalty,
            c.swgan_projection_target, c.swgan_projection_update) == (20, 10, 0.001,
                                                                      "riemannian")
    g = swgan_resnet.ImageGenerator(32, latent_dim=8, dim=2)
    assert g(tf.zeros([3, 8])).shape == (3, 32, 32, 3)
    d = swgan_resnet.SWGANImageCritic(dim=2, features=8, blocks=2)
    assert d(tf.zeros([3, 32, 32, 3])).shape == (3, 16)
    assert all(len(v.shape) != 5 for v in g.weights + d.weights)  # 2D kernels only
    with pytest.raises(ValueError, match="multiple of 16"):
        swgan_resnet.ImageGenerator(8)


@pytest.mark.parametrize("replicas", [1, 2])
def test_trains_on_frames_and_samples_images(tmp_path, cpu_strategy, replicas):
    trainer = _trainer(tmp_path, cpu_strategy(replicas))
    task = trainer.task
    before = {k: weights(v) for k, v in task.networks().items()}
    trainer.train()
    assert trainer.current_step == 2 and sorted(trainer.log) == [1, 2]
    assert all(np.isfinite(v) for m in trainer.log.values() for v in m.values())
    assert {"d_image_loss", "g_loss"} <= set(trainer.log[2])
    for key, net in task.networks().items():
        assert any(not np.array_equal(a, b) for a, b in zip(weights(net), before[key])), key
    matrix = task.discriminator.projection.matrix.numpy()
    np.testing.assert_allclose(np.swapaxes(matrix, 1, 2) @ matrix,
                               np.stack([np.eye(8)] * 2), atol=1e-5)
    images = task.sample_images(StatelessNoise(3), 3)
    assert images.shape == (3, SIZE, SIZE, 3)
    videos = task.sample(StatelessNoise(3), 3, 4)
    assert videos.shape == (3, 4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(videos[:, 2], images)


def test_export_round_trip(tmp_path, cpu_strategy):
    trainer = _trainer(tmp_path / "run", cpu_strategy(1), max_steps=1)
    trainer.train()
    task = trainer.task
    path = export.export(task, str(tmp_path / "exports"), "swgan_image", 1,
                         warmup_batch_sizes=())
    loaded = tf.saved_model.load(path)
    got = loaded.sample_images(seed=tf.constant(7, tf.int64),
                               num_images=tf.constant(3))["image"].numpy()
    want = to_uint8(task.sample_images(StatelessNoise(7), 3)).numpy()
    assert got.shape == (3, SIZE, SIZE, 3)
    np.testing.assert_array_equal(got, want)
    video = loaded.serving_default(seed=tf.constant(7, tf.int64),
                                   num_videos=tf.constant(3))["video"].numpy()
    np.testing.assert_array_equal(video[:, 0], got)
