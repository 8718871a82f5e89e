"""Checkpoints of the whole training state, and atomic file writes.

``tf.train.CheckpointManager`` writes each checkpoint's data and index to
temporary names and renames them into place, then rewrites the
``checkpoint`` state file the same way, so an interrupted save leaves the
previous checkpoint as the latest one: a checkpoint is never half-written.
What an interrupted save leaves behind (``ckpt-N_temp/``, lone data files,
checkpoints the state file does not list, ``checkpoint.tmp...``) is removed
at the next start (``Checkpoints.clean_debris``). The state saved is: step,
the RNG (tf.random.Generator) state, every network and every optimizer
(``Task.checkpoint_items``).

A checkpoint is written only from finite state: ``save`` first checks every
floating-point variable the checkpoint holds (one compiled reduction) and
refuses with ``NonFiniteError`` when one holds a NaN or an infinity, so the
latest checkpoint of a run is always its last finite state.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfvidgen.train.errors import NonFiniteError, RunDirError, first_line

# What CheckpointManager(checkpoint_name="ckpt") and its state file write.
_CHECKPOINT_FILE = re.compile(r"^(ckpt-\d+)(\.index|\.data-\d+-of-\d+|_temp)$")
_STATE_TEMP = re.compile(r"^checkpoint\.tmp[0-9a-f]+$")

# Text of OS errors as TensorFlow's file system reports them -> what to do.
_WRITE_FIXES = (
    (errno.ENOSPC, "No space left on device",
     "free space on that filesystem or give a --model_dir on another one"),
    (errno.EDQUOT, "Disk quota exceeded",
     "free space within your quota or give a --model_dir on another filesystem"),
    (errno.EROFS, "Read-only file system",
     "give a --model_dir on a writable filesystem"),
    (errno.EACCES, "Permission denied",
     "give a --model_dir you can write to, or fix its permissions"),
    (errno.EPERM, "Operation not permitted",
     "give a --model_dir you can write to, or fix its permissions"),
    (errno.ENOTDIR, "Not a directory",
     "give a --model_dir whose parents are folders"),
)


def write_error(error: BaseException, path: str, what: str) -> RunDirError:
    """A one-line RunDirError for an OSError or a TensorFlow error met writing
    ``what`` under ``path``, naming the cause (read-only, no permission, disk
    full, ...) and the fix."""
    code = getattr(error, "errno", None)
    text = first_line(error)
    for number, words, fix in _WRITE_FIXES:
        if code == number or words.lower() in str(error).lower():
            return RunDirError(f"cannot write {what} in {path}: {words}; {fix}.")
    return RunDirError(f"cannot write {what} in {path} ({text}); give a --model_dir on a "
                       "writable filesystem with free space.")


def check_writable(folder: str) -> None:
    """Creates ``folder`` and writes (then removes) a probe file in it.

    Raises:
      RunDirError: the folder cannot be created or written (one line, with the fix).
    """
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-")
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise write_error(e, folder, "files") from None


def atomic_write(path: str, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the file from other users
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _float_variables(checkpoint: tf.train.Checkpoint) -> list:
    """Every floating-point variable ``checkpoint`` saves (Keras variables by
    their backing tf.Variable), each once."""
    found, seen = [], set()
    for obj in tf.train.TrackableView(checkpoint).descendants():
        if isinstance(obj, keras.Variable):
            name, obj = obj.path, obj.value
        elif isinstance(obj, tf.Variable):
            name = obj.name
        else:
            continue
        if id(obj) in seen or not obj.dtype.is_floating:
            continue
        seen.add(id(obj))
        found.append((name, obj))
    return found


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
        self.removed = self.clean_debris()
        self.manager = tf.train.CheckpointManager(self.checkpoint, save_dir,
                                                  max_to_keep=max_to_keep)
        self._finite_check = None  # (variables, compiled all-finite reduction)

    @property
    def latest(self):
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self):
        """Restores the latest checkpoint; returns its path or None for a new run."""
        latest = self.latest
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return latest

    # Interrupted saves ------------------------------------------------------
    def clean_debris(self) -> list:
        """Removes what interrupted saves left: ``ckpt-N_temp/`` folders, lone
        data or index files and checkpoints the ``checkpoint`` state file does
        not list, and temporary state files. Checkpoints the state lists are
        never touched, nor any file not named like a checkpoint. Only the
        chief cleans the shared folder; another worker removes its own
        private folder. Returns the removed paths."""
        if not self.is_chief:
            if os.path.isdir(self.save_dir):
                shutil.rmtree(self.save_dir, ignore_errors=True)
            return []
        if not os.path.isdir(self.directory):
            return []
        try:
            state = tf.train.get_checkpoint_state(self.directory)
        except Exception as e:  # noqa: BLE001  (unparseable state: leave everything)
            logging.warning("%s: unreadable checkpoint state (%s); not cleaning.",
                            self.directory, first_line(e))
            return []
        listed = set()
        if state is not None:
            listed = {os.path.basename(p) for p in
                      [state.model_checkpoint_path, *state.all_model_checkpoint_paths] if p}
        removed = []
        for name in sorted(os.listdir(self.directory)):
            match = _CHECKPOINT_FILE.match(name)
            debris = (_STATE_TEMP.match(name) is not None or
                      (match is not None and (match.group(2) == "_temp"
                                              or match.group(1) not in listed)))
            if not debris:
                continue
            path = os.path.join(self.directory, name)
            try:
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
            except OSError as e:
                logging.warning("Could not remove %s (%s)", path, e.strerror)
                continue
            removed.append(path)
        if removed:
            logging.warning("Removed %d leftovers of interrupted checkpoint saves: %s",
                            len(removed), ", ".join(os.path.basename(p) for p in removed))
        return removed

    # Finite state -------------------------------------------------------------
    def all_finite(self) -> bool:
        """Whether every floating-point variable of the checkpoint is finite
        (one compiled reduction over all of them)."""
        variables = _float_variables(self.checkpoint)
        key = tuple(id(v) for _, v in variables)
        if self._finite_check is None or self._finite_check[0] != key:
            tensors = [v for _, v in variables]

            @tf.function(autograph=False)
            def check():
                if not tensors:
                    return tf.constant(True)
                return tf.reduce_all(tf.stack(
                    [tf.reduce_all(tf.math.is_finite(v)) for v in tensors]))

            self._finite_check = (key, check)
        return bool(self._finite_check[1]())

    def non_finite_variables(self) -> list:
        """Names of the checkpoint's variables that hold a NaN or an infinity."""
        return [name for name, v in _float_variables(self.checkpoint)
                if not np.all(np.isfinite(v.numpy()))]

    def kept_message(self) -> str:
        """What the run keeps, for messages: its latest (finite) checkpoint."""
        latest = self.latest
        if not latest:
            return "no checkpoint had been written yet"
        return f"the last checkpoint, {latest} (every value finite), is kept"

    # Saving -------------------------------------------------------------------
    def save(self, step: int) -> str:
        """Writes checkpoint ``step``.

        Raises:
          NonFiniteError: a variable holds a NaN or an infinity; nothing is written.
          RunDirError: the folder cannot be written (read-only, disk full, ...).
        """
        if not self.all_finite():
            bad = self.non_finite_variables()
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise NonFiniteError(
                f"training diverged: after step {step}, {len(bad)} checkpointed "
                f"variable(s) hold NaN or infinite values ({shown}) although the losses "
                "are finite. No checkpoint "
                f"was written from this state; {self.kept_message()}. Lower "
                "--learning_rate and train into a new --model_dir.")
        try:
            path = self.manager.save(checkpoint_number=step)
            if not self.is_chief:
                tf.io.gfile.rmtree(self.save_dir)
        except (OSError, tf.errors.OpError) as e:
            raise write_error(e, self.save_dir, f"checkpoint {step}") from None
        return path
