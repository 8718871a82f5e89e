"""tfvidgen.runs: a run rebuilt from its flags.txt, every network restored or a clear error."""
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY_GAN_FLAGS, train_run, weights
from tfvidgen import evaluate, experiment, runs
from tfvidgen.cli.export import export_run
from tfvidgen.models.base import StatelessNoise, to_uint8


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step RJGAN run that keeps a moving average of its generator."""
    run_dir = str(tmp_path_factory.mktemp("runs") / "run")
    task = train_run(["--model=rjgan", *TINY_GAN_FLAGS, "--max_steps=2", "--ema_decay=0.5"],
                     run_dir)
    trained = {k: weights(v) for k, v in task.networks().items()}
    ema = [v.numpy() for v in task.generator_ema.shadows]
    return run_dir, trained, ema


def test_load_run_restores_every_network_and_the_moving_average(tiny_run):
    run_dir, trained, ema = tiny_run
    task, data, step, values = runs.load_run(run_dir)
    assert step == 2 and values["model"] == "rjgan" and len(data.videos) > 0
    assert set(runs.checkpoint_objects(task)) == set(trained) | {"generator_ema"}
    for key, net in task.networks().items():
        for a, b in zip(weights(net), trained[key]):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(task.generator_ema.shadows, ema):
        np.testing.assert_array_equal(a.numpy(), b)
    assert evaluate.load_run is runs.load_run  # still importable from tfvidgen.evaluate


def test_export_of_a_run_equals_in_process_sampling(tiny_run, tmp_path):
    run_dir, _, _ = tiny_run
    values = {**experiment.read_run(run_dir), "export_dir": str(tmp_path)}
    path = export_run(values, warmup_batch_sizes=())
    assert path == os.path.join(str(tmp_path), "rjgan", "2")
    task, _, _, _ = runs.load_run(run_dir)
    loaded = tf.saved_model.load(path)
    got = loaded.signatures["sample_frames"](seed=tf.constant(7, tf.int64),
                                             num_videos=tf.constant(3),
                                             num_frames=tf.constant(10))["video"].numpy()
    with task.sampling_weights():
        want = to_uint8(task.sample(StatelessNoise(7), 3, 10)).numpy()
    np.testing.assert_array_equal(got, want)
    # The export holds the averaged generator, not the last trained weights.
    assert not np.array_equal(got, to_uint8(task.sample(StatelessNoise(7), 3, 10)).numpy())
    sampler = evaluate.SavedModelSampler(path, batch_size=2)
    np.testing.assert_array_equal(sampler.videos(3, 10, seed=5),
                                  evaluate.TaskSampler(task, batch_size=2).videos(3, 10, seed=5))


def _run_with_checkpoint(tiny_run, folder, **replace):
    """A copy of the run whose checkpoint holds the run's objects with ``replace``
    applied (a value of None leaves that key out)."""
    run_dir = tiny_run[0]
    os.makedirs(folder)
    shutil.copy(experiment.flags_file(run_dir), experiment.flags_file(str(folder)))
    task, _, _, _ = runs.load_run(run_dir)
    objects = {**runs.checkpoint_objects(task), **replace}
    objects = {k: v for k, v in objects.items() if v is not None}
    tf.train.Checkpoint(step=tf.Variable(2, dtype=tf.int64), **objects).save(
        os.path.join(str(folder), "checkpoints", "ckpt"))
    return str(folder)


@pytest.mark.parametrize("key", ["video_discriminator", "generator_ema"])
def test_a_checkpoint_without_a_network_fails_with_one_line_naming_it(tiny_run, tmp_path, key):
    broken = _run_with_checkpoint(tiny_run, tmp_path / "run", **{key: None})
    with pytest.raises(runs.RestoreError) as e:
        runs.load_run(broken)
    message = str(e.value)
    assert "\n" not in message and broken in message
    assert f"missing {key} (none of its" in message


class _PartialAverage(tf.Module):
    """The moving average's checkpoint structure, without its last shadow."""

    def __init__(self, ema):
        super().__init__()
        self.shadows = list(ema.shadows[:-1])
        self.num_updates = ema.num_updates


def test_a_checkpoint_missing_one_variable_fails_naming_it(tiny_run, tmp_path):
    task, _, _, _ = runs.load_run(tiny_run[0])
    lost = task.generator_ema.shadows[-1].name.split(":")[0]
    broken = _run_with_checkpoint(tiny_run, tmp_path / "run",
                                  generator_ema=_PartialAverage(task.generator_ema))
    with pytest.raises(runs.RestoreError) as e:
        runs.load_run(broken)
    message = str(e.value)
    assert "\n" not in message
    assert message.endswith(f"missing generator_ema: {lost}; was it written with other "
                            "settings or another version of the code?")


def test_a_checkpoint_of_another_network_fails_naming_it(tiny_run, tmp_path):
    other = keras.Sequential([keras.layers.Dense(2, name="not_the_generator")])
    other.build((None, 3))
    broken = _run_with_checkpoint(tiny_run, tmp_path / "run", image_generator=other)
    with pytest.raises(runs.RestoreError, match=r"missing image_generator \(none of its"):
        runs.load_run(broken)


def test_a_checkpoint_of_other_shapes_fails_clearly(tiny_run, tmp_path):
    from helpers import tiny_task
    other, _ = tiny_task("rjgan", ngf=8)  # not the run's width
    other.build()
    broken = _run_with_checkpoint(tiny_run, tmp_path / "run",
                                  image_generator=other.image_generator)
    with pytest.raises(runs.RestoreError, match="does not fit the run's networks") as e:
        runs.load_run(broken)
    assert "\n" not in str(e.value)
