"""Training reliability: non-finite state, failed steps, unwritable run
directories, checkpoint debris, unreadable data (docs/reliability.md)."""
from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import make_videos
from helpers import ROOT, TINY_GAN_FLAGS, run_bin, tiny_task, tiny_trainer
from tfvidgen.data import pipeline
from tfvidgen.data.sources import ArraySource
from tfvidgen.train import checkpoints
from tfvidgen.train.errors import (DataStopError, NonFiniteError, RunDirError,
                                   TrainingError)
from tfvidgen.train.loop import TrainConfig, Trainer


def _all_finite(checkpoint_path):
    reader = tf.train.load_checkpoint(checkpoint_path)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating and not np.all(np.isfinite(reader.get_tensor(name))):
            return False
    return True


def _poison_after(trainer, at_step):
    """Makes the state (not the losses) non-finite once step ``at_step`` has run."""
    variables = [v for net in trainer.task.networks().values() for v in net.weights]
    target = next((v for v in variables if "moving_variance" in v.path), variables[0])
    real = trainer._train_step

    def step(batch):
        metrics = real(batch)
        if trainer.current_step == at_step:
            target.assign(np.full(target.shape, np.inf, np.float32))
        return metrics

    trainer._train_step = step
    return target


def test_non_finite_state_is_never_checkpointed(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=5)
    trainer.config.checkpoint_every = 1
    target = _poison_after(trainer, 3)
    with pytest.raises(NonFiniteError) as info:
        trainer.train()
    message = str(info.value)
    assert "\n" not in message and target.path in message and "ckpt-2" in message
    assert trainer.checkpoints.latest.endswith("ckpt-2")
    assert _all_finite(trainer.checkpoints.latest)
    again = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=5)
    assert again.current_step == 2


def test_divergence_before_the_first_checkpoint_says_so(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=3)
    _poison_after(trainer, 1)
    with pytest.raises(NonFiniteError, match="no checkpoint had been written yet") as info:
        trainer.train()  # the final save finds the state non-finite
    assert "None" not in str(info.value)
    assert trainer.checkpoints.latest is None


def test_a_failed_step_saves_no_checkpoint(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=6)
    real = trainer._train_step

    def step(batch):
        if trainer.current_step == 2:
            raise tf.errors.UnavailableError(None, None, "peer worker gone")
        return real(batch)

    trainer._train_step = step
    with pytest.raises(tf.errors.UnavailableError):
        trainer.train()
    assert trainer.current_step == 2 and trainer.checkpoints.latest is None


def test_unwritable_model_dir_is_one_line(tmp_path, cpu_strategy, monkeypatch):
    task, data = tiny_task("image_gan")
    (tmp_path / "file").write_text("x")
    config = TrainConfig(model_dir=str(tmp_path / "file" / "run"), batch_size=4)
    with pytest.raises(RunDirError, match="Not a directory.*--model_dir"):
        Trainer(task, data, config, cpu_strategy(1))

    def read_only(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(os, "makedirs", read_only)
    config = TrainConfig(model_dir=str(tmp_path / "ro"), batch_size=4)
    with pytest.raises(RunDirError) as info:
        Trainer(task, data, config, cpu_strategy(1))
    assert "Read-only file system" in str(info.value) and "\n" not in str(info.value)


def test_a_full_disk_stops_once_with_one_line(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=2)
    calls = []

    def full(checkpoint_number=None):
        calls.append(checkpoint_number)
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{tmp_path}/checkpoints/ckpt-2_temp; No space left on device")

    trainer.checkpoints.manager.save = full
    with pytest.raises(RunDirError, match="No space left on device; free space") as info:
        trainer.train()
    assert calls == [2]  # no second attempt from the cleanup
    assert "\n" not in str(info.value)


def test_debris_of_interrupted_saves_is_removed_at_start(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=2)
    trainer.train()
    folder = tmp_path / "checkpoints"
    kept = sorted(os.listdir(folder))
    assert kept == ["checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]
    (folder / "ckpt-3_temp").mkdir()  # what a SIGKILL during a save leaves
    (folder / "ckpt-3_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (folder / "ckpt-4.data-00000-of-00001").write_bytes(b"x")  # lone data file
    for name in ("ckpt-1.index", "ckpt-1.data-00000-of-00001"):  # unreferenced checkpoint
        (folder / name).write_bytes(b"x")
    (folder / "checkpoint.tmp0123abcd").write_text("partial")
    (folder / "notes.txt").write_text("not ours")
    again = tiny_trainer("image_gan", tmp_path, cpu_strategy(1), max_steps=2)
    assert again.current_step == 2
    assert sorted(os.listdir(folder)) == sorted(kept + ["notes.txt"])
    assert len(again.checkpoints.removed) == 5


class _Unreadable(ArraySource):
    def _read(self, index, frame_indices):
        raise OSError("truncated")


def test_unreadable_data_stops_training_with_one_line(tmp_path, cpu_strategy):
    videos, labels = make_videos()
    data = pipeline.split_sources(_Unreadable(videos, labels, class_names=("a", "b", "c")),
                                  seed=0)
    task, _ = tiny_task("image_gan", data=data)
    config = TrainConfig(model_dir=str(tmp_path), max_steps=3, batch_size=4)
    trainer = Trainer(task, data, config, cpu_strategy(1))
    with pytest.raises(DataStopError) as info:
        trainer.train()
    assert "\n" not in str(info.value) and "could not be read" in str(info.value)
    assert trainer.checkpoints.latest is None


# bin/train -------------------------------------------------------------------------

def _bad_strips(folder):
    """Zero-byte, not-an-image and truncated strips, and nothing else."""
    folder.mkdir(parents=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image")
    for i in range(3):
        noise = np.random.default_rng(i).integers(0, 256, (16, 16 * 12, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / f"trunc{i}.png")
        data = (folder / f"trunc{i}.png").read_bytes()
        (folder / f"trunc{i}.png").write_bytes(data[: len(data) // 2])


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_bin_train_exits_after_a_data_pipeline_error(tmp_path):
    _bad_strips(tmp_path / "data")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train"), "--model=mocogan",
         *TINY_GAN_FLAGS, "--dataset=video_folder", f"--data_dir={tmp_path / 'data'}",
         "--max_steps=3", f"--model_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=150)  # hung before
    assert proc.returncode != 0
    (line,) = _error_lines(proc.stderr)
    assert "could not be read" in line and "--data_dir" in line
    assert "Traceback" not in proc.stderr


def test_bin_train_refuses_non_finite_state(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_bin("train", "--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=6",
                   "--checkpoint_every=1", "--learning_rate=1e8", f"--model_dir={run_dir}",
                   check=False)
    assert proc.returncode != 0, proc.stderr[-2000:]
    (line,) = _error_lines(proc.stderr)
    assert "training diverged" in line and "(None)" not in line
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(run_dir / "samples.gif")
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if latest:
        assert _all_finite(latest)


def test_bin_train_unwritable_model_dir_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = run_bin("train", "--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=1",
                   f"--model_dir={tmp_path / 'file' / 'run'}", check=False)
    assert proc.returncode == 2
    (line,) = _error_lines(proc.stderr)
    assert "--model_dir" in line and "Traceback" not in proc.stderr


def test_training_errors_are_one_line_errors():
    for cls in (NonFiniteError, RunDirError, DataStopError):
        assert issubclass(cls, TrainingError)
    assert issubclass(NonFiniteError, FloatingPointError)
    assert checkpoints.write_error(OSError(errno.ENOSPC, "No space left on device"), "/x",
                                   "checkpoint 3").args[0].count("\n") == 0
