"""Phases: a two-level progressive toy task, per-phase data, resume, real_batches, shards."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import SIZE, tiny_data, weights
from tfvidgen import registry
from tfvidgen.data import pipeline
from tfvidgen.data.sources import ArraySource
from tfvidgen.models import base, phases
from tfvidgen.models.base import DataRequirements, DataSpec, Phase
from tfvidgen.train.loop import TrainConfig, Trainer


@dataclasses.dataclass
class ToyConfig:
    channels: int = 4
    low_steps: int = 3      # phase "8x8": steps [0, 3)
    fade_in_steps: int = 4  # phase "16x16" fades in over steps [3, 7)
    learning_rate: float = 1e-2
    batch_size: int = 2


class ToyAutoencoder(keras.Model):
    """Frames -> 8x8 code -> frames, with an 8x8 and a 16x16 level (PGGAN style).

    At 16x16 the new layers (from_rgb16 + down, up + to_rgb16) are blended
    with the 8x8 level's on pooled / upsampled frames: ``alpha * new + (1 -
    alpha) * old``.
    """

    def __init__(self, channels):
        super().__init__()
        conv = keras.layers.Conv2D
        self.from_rgb8, self.from_rgb16 = conv(channels, 1), conv(channels, 1)
        self.down = conv(channels, 3, strides=2, padding="same")
        self.core = conv(channels, 3, padding="same")
        self.up = keras.layers.Conv2DTranspose(channels, 3, strides=2, padding="same")
        self.to_rgb8, self.to_rgb16 = conv(3, 1), conv(3, 1)

    def build(self, input_shape):
        del input_shape  # the layers build on the first call at each level (ToyProgressive.build)

    def encode(self, x, level, alpha):
        if level == 8:
            return self.core(self.from_rgb8(x))
        new = self.down(self.from_rgb16(x))
        old = self.from_rgb8(tf.nn.avg_pool2d(x, 2, 2, "VALID"))
        return self.core(alpha * new + (1.0 - alpha) * old)

    def decode(self, h, level, alpha):
        if level == 8:
            return tf.tanh(self.to_rgb8(h))
        new = self.to_rgb16(self.up(h))
        old = tf.image.resize(self.to_rgb8(h), [16, 16], "nearest")
        return tf.tanh(alpha * new + (1.0 - alpha) * old)

    def call(self, x, level=16, alpha=1.0):
        return self.decode(self.encode(x, level, alpha), level, alpha)

    def level_variables(self, level):
        layers = [self.from_rgb8, self.core, self.to_rgb8]
        if level == 16:
            layers += [self.from_rgb16, self.down, self.up, self.to_rgb16]
        return [v for layer in layers for v in layer.trainable_variables]


@registry.register_task("toy_progressive")
class ToyProgressive(base.Task):
    """A denoising video autoencoder grown from 8x8 (2 frames, pooled) to 16x16 (4 frames)."""

    config_class = ToyConfig

    def data_requirements(self):
        return DataRequirements(clip_length=4)

    def phases(self):
        c = self.config
        return phases.chain(
            (c.low_steps, Phase("8x8", data=DataRequirements(clip_length=2), image_size=8,
                                time_pool=2)),
            (None, Phase("16x16", data=self.data_requirements(),
                         fade_in_steps=c.fade_in_steps)))

    def build(self):
        self.autoencoder = ToyAutoencoder(self.config.channels)
        for size in (8, 16):
            self.autoencoder(tf.zeros([1, size, size, 3]), level=size)
        self.optimizer = keras.optimizers.Adam(self.config.learning_rate)
        self.optimizer.build(self.autoencoder.trainable_variables)
        self.level, self.entered = 16, []

    def networks(self):
        return {"autoencoder": self.autoencoder}

    def optimizers(self):
        return {"autoencoder": self.optimizer}

    def enter_phase(self, phase, begins):
        self.level = phase.image_size or self.data_spec.image_size
        self.entered.append((phase.name, begins))
        if begins:
            base.reset_optimizer(self.optimizer)

    def train_step(self, batch, step, rng, global_batch_size):
        video = batch["video"]
        frames = tf.reshape(video, [-1, *video.shape[2:]])
        alpha = self.alpha.read_value()
        variables = self.autoencoder.level_variables(self.level)
        with tf.GradientTape() as tape:
            code = self.autoencoder.encode(frames, self.level, alpha)
            code += 0.1 * rng.normal(tf.shape(code))
            out = self.autoencoder.decode(code, self.level, alpha)
            per_frame = tf.reduce_mean(tf.square(out - frames), axis=[1, 2, 3])
            per_video = tf.reduce_mean(tf.reshape(per_frame, [tf.shape(video)[0], -1]), 1)
            loss = base.average(per_video, global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, variables)
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        return {"reconstruction": loss, "alpha": alpha / replicas}

    def sample(self, noise, num_videos, num_frames):
        code = noise.normal([num_videos * num_frames, 8, 8, self.config.channels])
        frames = self.autoencoder.decode(code, self.level, self.alpha)
        return tf.reshape(frames, [num_videos, num_frames, *frames.shape[1:]])


MAX_STEPS = 9
# alpha of update i (0-based): 1 in the 8x8 phase, 0 -> 1 over steps 3..7, then 1.
ALPHAS = [1.0, 1.0, 1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def toy_trainer(model_dir, strategy, data=None):
    task = registry.TASKS.get("toy_progressive")(ToyConfig(), DataSpec(image_size=SIZE))
    config = TrainConfig(model_dir=str(model_dir), max_steps=MAX_STEPS, batch_size=2, seed=5,
                         summary_every=1, sample_every=4, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, data or tiny_data(), config, strategy)
    trainer.log = {}
    trainer.write_scalars = lambda step, metrics, rate: trainer.log.__setitem__(step, metrics)
    return trainer


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted run that the other tests compare with (trained once)."""
    import conftest
    if 1 not in conftest._STRATEGIES:  # the session's one-replica strategy (cpu_strategy(1))
        conftest._STRATEGIES[1] = tf.distribute.MirroredStrategy(["/cpu:0"])
    trainer = toy_trainer(tmp_path_factory.mktemp("straight"), conftest._STRATEGIES[1])
    trainer.train()
    return trainer


def test_alpha_is_a_pure_function_of_the_step():
    phase = Phase("16x16", start_step=3, data=DataRequirements(), fade_in_steps=4)
    assert [phase.alpha(s) for s in range(2, 9)] == [0, 0, 0.25, 0.5, 0.75, 1, 1]
    assert [float(phase.alpha(tf.constant(s, tf.int64))) for s in (3, 7)] == [0.0, 1.0]
    assert Phase("x", data=DataRequirements()).alpha(0) == 1.0
    with pytest.raises(ValueError, match="step 0"):
        phases.validate([Phase("a", 1, DataRequirements())])
    with pytest.raises(ValueError, match="'b' starts"):
        phases.validate([Phase("a", 0, DataRequirements()), Phase("b", 0, DataRequirements())])


def test_a_phase_batch_must_be_positive_and_split_over_the_replicas(tmp_path, cpu_strategy):
    assert Phase("x", data=DataRequirements()).batch_size is None  # the run's batch
    with pytest.raises(ValueError, match="'a': batch_size"):
        phases.validate([Phase("a", 0, DataRequirements(), batch_size=0)])
    odd = dataclasses.replace(ToyConfig(), batch_size=2)
    task = registry.TASKS.get("toy_progressive")(odd, DataSpec(image_size=SIZE))
    task.phases = lambda: phases.chain(
        (3, Phase("8x8", data=DataRequirements(clip_length=2), image_size=8, time_pool=2)),
        (None, Phase("16x16", data=DataRequirements(clip_length=4), batch_size=3)))
    config = TrainConfig(model_dir=str(tmp_path), max_steps=1, batch_size=2)
    with pytest.raises(ValueError, match="phase 16x16: its global batch 3 does not split "
                                         "over 2 replicas"):
        Trainer(task, tiny_data(), config, cpu_strategy(2))


def test_two_phases_train_with_a_fade_in(straight):
    assert straight.current_step == MAX_STEPS and straight.phase.name == "16x16"
    assert straight.task.entered == [("8x8", True), ("16x16", True)]
    assert sorted(straight.log) == list(range(1, MAX_STEPS + 1))
    assert [straight.log[i + 1]["alpha"] for i in range(MAX_STEPS)] == pytest.approx(ALPHAS)
    assert all(np.isfinite(m["reconstruction"]) for m in straight.log.values())
    assert float(straight.task.alpha.numpy()) == 1.0
    # The optimiser restarted at the 16x16 level: 6 updates since.
    assert int(keras.ops.convert_to_numpy(straight.task.optimizer.iterations)) == MAX_STEPS - 3
    # The task's default single phase, for comparison.
    assert [p.name for p in base.Task.phases(straight.task)] == ["train"]


@pytest.mark.parametrize("stop", [2, 3, 4, 8])  # mid 8x8, boundary, mid fade-in, after it
def test_resume_in_any_phase_gives_the_next_losses(tmp_path, cpu_strategy, straight, stop):
    first = toy_trainer(tmp_path, cpu_strategy(1))
    first.train(max_steps=stop)
    saved = first.checkpoints.latest
    resumed = toy_trainer(tmp_path, cpu_strategy(1))
    assert resumed.current_step == stop
    assert resumed.phase.name == straight.phase_at(stop).name
    assert resumed.task.entered[0] == (resumed.phase.name, stop == resumed.phase.start_step)
    assert float(resumed.task.alpha.numpy()) == ALPHAS[stop]
    resumed.train()
    for step in range(stop + 1, MAX_STEPS + 1):
        for key, want in straight.log[step].items():
            np.testing.assert_allclose(resumed.log[step][key], want, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} at step {step}")
    for a, b in zip(weights(straight.task.autoencoder), weights(resumed.task.autoencoder)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # One object graph whatever the phase: a checkpoint of phase 1 and one of phase 2.
    assert (dict(tf.train.list_variables(saved))
            == dict(tf.train.list_variables(resumed.checkpoints.latest)))


def _local(trainer, dataset):
    batch = next(iter(dataset))
    return [{k: v.numpy() for k, v in b.items()}
            for b in trainer.strategy.experimental_local_results(batch)]


def _pooled(video, time_factor, space_factor):
    b, t, h, w, c = video.shape
    blocks = video.reshape(b, t // time_factor, time_factor, h // space_factor, space_factor,
                           w // space_factor, space_factor, c)
    return blocks.mean(axis=(2, 4, 6))


def test_each_phase_gets_its_shape_pooled_from_full_size_data(straight):
    data = straight.data
    for step in (0, 5):
        (low,) = _local(straight, straight.dataset(step, straight.phases[0]))
        (high,) = _local(straight, straight.dataset(step, straight.phases[1]))
        assert low["video"].shape == (2, 2, 8, 8, 3) and high["video"].shape == (2, 4, 16, 16, 3)
        full = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=0,
                                     batch_size=2, frame_shape=(16, 16, 3), seed=5,
                                     start_step=step)
        full = next(iter(full))["video"].numpy()
        np.testing.assert_array_equal(high["video"], full)
        np.testing.assert_allclose(low["video"], _pooled(full, 2, 2), atol=1e-6)


def test_images_pool_spatially_and_odd_factors_are_refused(array_source):
    data = pipeline.split_sources(array_source, seed=0)
    args = dict(clip_length=0, every_nth=1, images_per_video=2, batch_size=3, seed=1)
    small = pipeline.make_dataset(data, frame_shape=(4, 4, 3), **args)
    full = pipeline.make_dataset(data, frame_shape=(16, 16, 3), **args)
    small, full = next(iter(small))["image"].numpy(), next(iter(full))["image"].numpy()
    assert small.shape == (3, 2, 4, 4, 3)
    np.testing.assert_allclose(small, _pooled(full, 1, 4), atol=1e-6)
    with pytest.raises(ValueError, match="integer factors"):
        pipeline.make_dataset(data, frame_shape=(6, 6, 3), **args)


def test_real_batches_are_independent_draws_of_the_single_stream(array_source):
    data = pipeline.split_sources(array_source, seed=0)
    args = dict(clip_length=4, every_nth=1, images_per_video=2, frame_shape=(16, 16, 3), seed=3)
    many = pipeline.make_dataset(data, batch_size=3, real_batches=5, start_step=1, **args)
    single = pipeline.make_dataset(data, batch_size=5, **args)
    many = next(iter(many))
    single = [{k: v.numpy() for k, v in b.items()} for b in single.take(6)]
    assert many["video"].shape == (3, 5, 4, 16, 16, 3)
    assert many["image"].shape == (3, 5, 2, 16, 16, 3) and many["label"].shape == (3, 5)
    for i in range(3):  # element g = 3 + i holds single-draw elements 5 g .. 5 g + 4
        draws = many["video"][i].numpy()
        for j in range(5):
            for k in range(j):
                assert not np.array_equal(draws[j], draws[k])
        for key in ("video", "image", "label"):
            np.testing.assert_array_equal(many[key][i].numpy(), single[3 + i][key], err_msg=key)


def test_extras_come_from_the_source_with_each_clip():
    from conftest import make_videos
    videos, labels = make_videos()
    attributes = np.arange(6 * 2, dtype=np.float32).reshape(6, 2)
    source = ArraySource(videos, labels, extras={"attributes": attributes})
    data = pipeline.split_sources(source, seed=0)
    args = dict(clip_length=4, every_nth=1, images_per_video=0, batch_size=6,
                frame_shape=(16, 16, 3), seed=0)
    batch = next(iter(pipeline.make_dataset(data, extras=("attributes",), **args)))
    video_index = np.round((batch["video"].numpy()[:, 0, 0, 0, 0] + 1) * 127.5).astype(int) // 20
    np.testing.assert_array_equal(batch["attributes"].numpy(), attributes[video_index])
    with pytest.raises(ValueError, match="provides no 'pose'"):
        pipeline.make_dataset(data, extras=("pose",), **args)


def test_input_pipelines_read_only_their_share(array_source):
    data = pipeline.split_sources(array_source, seed=0)
    args = dict(clip_length=4, every_nth=1, images_per_video=1, batch_size=8,
                frame_shape=(16, 16, 3), seed=2, start_step=3)
    (whole,) = pipeline.make_dataset(data, **args).take(1)
    parts = []
    for worker in range(2):  # 2 workers x 2 replicas: each worker yields 2 batches per step
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=4)
        parts += list(pipeline.make_dataset(data, input_context=context, **args).take(2))
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])


def test_two_replicas_read_their_halves_and_train_both_phases(tmp_path, cpu_strategy):
    trainer = toy_trainer(tmp_path, cpu_strategy(2))
    halves = _local(trainer, trainer.dataset(4))
    assert [h["video"].shape for h in halves] == [(1, 4, 16, 16, 3)] * 2
    whole = pipeline.make_dataset(trainer.data, clip_length=4, every_nth=1, images_per_video=0,
                                  batch_size=2, frame_shape=(16, 16, 3), seed=5, start_step=4)
    whole = next(iter(whole))
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), whole[key])
    trainer.train(max_steps=5)
    assert trainer.phase.name == "16x16" and trainer.current_step == 5
    assert [trainer.log[i + 1]["alpha"] for i in range(5)] == pytest.approx(ALPHAS[:5])
    assert all(np.isfinite(m["reconstruction"]) for m in trainer.log.values())
