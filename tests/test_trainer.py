import glob
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_task, tiny_trainer, weights
from tfvidgen.train import checkpoints, progress, strategies


def test_resume_continues_step_count_and_next_losses(tmp_path, cpu_strategy):
    straight = tiny_trainer("rjgan", tmp_path / "a", cpu_strategy(1), seed=3)
    straight.train(max_steps=4)
    want = straight.train(max_steps=5)

    first = tiny_trainer("rjgan", tmp_path / "b", cpu_strategy(1), seed=3)
    first.train(max_steps=4)
    assert first.checkpoints.latest.endswith("ckpt-4")
    resumed = tiny_trainer("rjgan", tmp_path / "b", cpu_strategy(1), seed=3)
    assert resumed.resumed_from and resumed.current_step == 4
    got = resumed.train(max_steps=5)
    assert resumed.current_step == 5
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for a, b in zip(weights(straight.task.image_generator), weights(resumed.task.image_generator)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_checkpoint_holds_every_network_variable(tmp_path, cpu_strategy):
    trainer = tiny_trainer("rmocogan", tmp_path, cpu_strategy(1), max_steps=1)
    trainer.train()
    reader = tf.train.load_checkpoint(trainer.checkpoints.latest)
    saved = reader.get_variable_to_shape_map()
    # Every network variable, trainable or not, restores into a fresh task by itself.
    fresh, _ = tiny_task("rmocogan")
    fresh.build()
    status = tf.train.Checkpoint(**fresh.networks()).read(trainer.checkpoints.latest)
    status.assert_existing_objects_matched()
    for name, net in trainer.task.networks().items():
        for a, b in zip(weights(net), weights(fresh.networks()[name])):
            np.testing.assert_array_equal(a, b)
    assert any("moving_mean" in key for key in saved)


class _SignalOnRead:
    """Wraps a source: sends SIGTERM to this process at the n-th read."""

    def __init__(self, source, n):
        self.source, self.n, self.count = source, n, 0

    def __getattr__(self, name):
        return getattr(self.source, name)

    def __len__(self):
        return len(self.source)

    def read(self, *args):
        self.count += 1
        if self.count == self.n:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.source.read(*args)


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path, cpu_strategy):
    trainer = tiny_trainer("mocogan", tmp_path, cpu_strategy(1), max_steps=1000)
    trainer.data.videos = _SignalOnRead(trainer.data.videos, 30)
    previous = signal.getsignal(signal.SIGTERM)
    trainer.train()
    assert signal.getsignal(signal.SIGTERM) is previous  # handler restored
    assert trainer.stop_requested and 0 < trainer.current_step < 1000
    assert trainer.checkpoints.latest.endswith(f"ckpt-{trainer.current_step}")
    again = tiny_trainer("mocogan", tmp_path, cpu_strategy(1), max_steps=1000)
    assert again.current_step == trainer.current_step


def test_no_temporary_files_left_by_checkpoints(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=2)
    trainer.train()
    leftovers = [p for p in os.listdir(tmp_path / "checkpoints") if "tmp" in p or "temp" in p]
    assert not leftovers


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "flags.txt"
    checkpoints.atomic_write(str(path), "a\n")
    checkpoints.atomic_write(str(path), "b\n")
    assert path.read_text() == "b\n"
    assert os.listdir(tmp_path) == ["flags.txt"]


def _events(folder):
    out = {}
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(value)
    return out


def test_tensorboard_scalars_gifs_and_grids(tmp_path, cpu_strategy):
    trainer = tiny_trainer("rjgan", tmp_path, cpu_strategy(1), max_steps=2)
    trainer.train()
    events = _events(str(tmp_path / "train"))
    for tag in ("loss/g_loss", "loss/d_video_loss", "discriminator_output/d_image_real",
                "learning_rate/generator", "speed/steps_per_s"):
        assert tag in events, tag
    gif = events["samples/gif"][0]
    data = tf.make_ndarray(gif.tensor)
    assert data[2].startswith(b"GIF8")
    assert "summary_frames" in events and "summary_then_video/frames" in events
    path = trainer.write_sample_files()
    assert open(path, "rb").read(4) == b"GIF8"


def test_strategy_names(monkeypatch):
    with pytest.raises(ValueError, match="--strategy"):
        strategies.make_strategy("bogus")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategies.make_strategy("multi_worker")
    assert strategies.make_strategy("one_device").num_replicas_in_sync == 1


def test_progress_line_has_rate_and_eta():
    import io
    stream = io.StringIO()
    bar = progress.Progress(10, 0, stream=stream, every=5)
    line = bar.update(5, {"g_loss": 1.5, "d_image_real": 0.5})
    assert "5/10" in line and "steps/s" in line and "ETA" in line and "g_loss=1.500" in line
    assert "d_image_real" not in line
    assert stream.getvalue().strip() == line


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=2)
    trainer.train()
    original = trainer.task.train_step

    def poisoned(batch, step, rng, global_batch_size):
        metrics = original(batch, step, rng, global_batch_size)
        return {k: v * float("nan") for k, v in metrics.items()}

    trainer.task.train_step = poisoned
    trainer._train_step = trainer._make_train_step()
    with pytest.raises(FloatingPointError, match="last checkpoint"):
        trainer.train(max_steps=4)
    assert trainer.checkpoints.latest.endswith("ckpt-2")


def test_hooks_run_at_their_cadence_and_write_eval_scalars(tmp_path, cpu_strategy):
    calls = []

    def hook(trainer, step):
        calls.append(step)
        return {"toy_metric": float(step) * 2}

    task, data = tiny_task("image_gan")
    from tfvidgen.train.loop import TrainConfig, Trainer
    config = TrainConfig(model_dir=str(tmp_path), max_steps=5, batch_size=4, sample_every=100)
    trainer = Trainer(task, data, config, cpu_strategy(1), hooks=[(2, hook)])
    trainer.train()
    assert calls == [2, 4, 5]
    assert trainer.summary_batch is not None and "image" in trainer.summary_batch
    trainer.eval_writer.flush()
    events = _events(str(tmp_path / "eval"))
    assert [float(tf.make_ndarray(v.tensor)) for v in events["toy_metric"]] == [4.0, 8.0, 10.0]
