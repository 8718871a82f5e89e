"""Checkpoints of the whole training state, and atomic file writes.

``tf.train.CheckpointManager`` writes each checkpoint's data and index to
temporary names and renames them into place, then rewrites the
``checkpoint`` state file the same way, so an interrupted save leaves the
previous checkpoint as the latest one: a checkpoint is never half-written.
The state saved is: step, the RNG (tf.random.Generator) state, every
network and every optimizer (``Task.checkpoint_items``).
"""
from __future__ import annotations

import os
import tempfile

import tensorflow as tf


def atomic_write(path: str, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Checkpoints:
    """The run's CheckpointManager under ``<model_dir>/checkpoints``.

    Under MultiWorkerMirroredStrategy every worker must take part in a save
    (variables are synchronised by collectives), but only the chief's copy
    is kept: other workers write to a private folder that is removed after
    each save, the pattern of TensorFlow's multi-worker tutorial. All
    workers restore from the chief's folder (a shared filesystem).
    """

    def __init__(self, model_dir: str, max_to_keep: int = 3, is_chief: bool = True,
                 worker_id: int = 0, **items):
        self.checkpoint = tf.train.Checkpoint(**items)
        self.directory = os.path.join(model_dir, "checkpoints")
        self.is_chief = is_chief
        save_dir = self.directory if is_chief else os.path.join(
            model_dir, ".worker_tmp", str(worker_id))
        self.save_dir = save_dir
        self.manager = tf.train.CheckpointManager(self.checkpoint, save_dir,
                                                  max_to_keep=max_to_keep)

    @property
    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self):
        """Restores the latest checkpoint; returns its path or None for a new run."""
        latest = self.latest
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    def save(self, step: int) -> str:
        path = self.manager.save(checkpoint_number=step)
        if not self.is_chief:
            tf.io.gfile.rmtree(self.save_dir)
        return path
