"""Loading a trained run: the one place that rebuilds a run's Task and restores it.

``load_run(model_dir)`` reads the run's resolved settings
(``experiment.read_run``: its flags.txt), rebuilds its data and Task,
builds the networks, restores them from the latest checkpoint and checks
that every variable of every network (``Task.networks()``, and the
generator's moving average when the run keeps one) came from the
checkpoint: a run restored with a network left at its initial weights
would be evaluated, exported or served as if trained. What the checkpoint
holds beyond that (optimizer slots, the training RNG) is not loaded.

bin/evaluate, bin/export, bin/drnet_classify, bin/prior_uncertainty and
bin/two_afc load runs through here.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfvidgen import experiment

EMA_KEY = "generator_ema"
# The state of a Keras layer's random-seed generator (recurrent layers have one):
# not a weight, and not written to TensorFlow checkpoints.
KERAS_SEED_STATE = "seed_generator_state"


class RestoreError(ValueError):
    """A run's checkpoint does not restore its networks (the one-line message says what)."""


def has_run(path: str) -> bool:
    """Whether ``path`` is a bin/train run directory (it has flags.txt)."""
    return experiment.has_run(path)


def read_flags_file(path: str) -> dict:
    """A run's flags.txt -> its values (``experiment.read_run``, the one reader)."""
    return experiment.read_run(os.path.dirname(os.path.abspath(path)))


def checkpoint_objects(task) -> Dict[str, object]:
    """What a loaded run restores, by checkpoint key: every network, and the
    generator's moving average when ``checkpoint_items()`` has it."""
    objects = dict(task.networks())
    ema = task.checkpoint_items().get(EMA_KEY)
    if ema is not None:
        objects[EMA_KEY] = ema
    return objects


def _variable_name(variable) -> str:
    name = getattr(variable, "path", None) or variable.name
    return name.split(":")[0]


def _sentinel(variable):
    """A value no trained variable holds (NaN; the smallest integer), or None
    for variables it cannot mark (bool, empty) or that are not weights."""
    dtype = tf.as_dtype(variable.dtype)
    if int(np.prod(variable.shape)) == 0:
        return None
    if getattr(variable, "name", "").split(":")[0].endswith(KERAS_SEED_STATE):
        return None
    if dtype.is_floating:
        return float("nan")
    if dtype.is_integer:
        return dtype.min
    return None


def _mark(objects) -> List[Tuple[str, object]]:
    """Sets every variable of ``objects`` to its sentinel; returns (key, variable) marked."""
    marked, seen = [], set()
    for key, obj in objects.items():
        for variable in obj.variables:
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            value = _sentinel(variable)
            if value is not None:
                variable.assign(tf.fill(variable.shape, tf.cast(value, variable.dtype)))
                marked.append((key, variable))
    return marked


def _still_marked(variable) -> bool:
    value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
    if np.issubdtype(value.dtype, np.floating):
        return bool(np.isnan(value).all())
    return bool((value == np.iinfo(value.dtype).min).all())


def _listing(names, limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def restore(task, prefix: str) -> int:
    """Restores ``checkpoint_objects(task)`` from a checkpoint; returns its step.

    Every variable is first set to a value no trained one holds (NaN, the
    smallest integer), so that one the checkpoint does not restore is seen.

    Raises:
      RestoreError: a variable has another shape than the checkpoint's, or
        a variable (or a whole network) is not in the checkpoint; the
        one-line message names them.
    """
    objects = checkpoint_objects(task)
    marked = _mark(objects)
    step = tf.Variable(0, dtype=tf.int64)
    try:
        status = tf.train.Checkpoint(step=step, **objects).read(prefix)
    except (ValueError, tf.errors.OpError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise RestoreError(f"checkpoint {prefix} does not fit the run's networks: {detail}"
                           ) from None
    status.expect_partial()  # optimizer slots and the training RNG are not loaded
    missing: Dict[str, List[str]] = {}
    counts: Dict[str, int] = {}
    for key, variable in marked:
        counts[key] = counts.get(key, 0) + 1
        if _still_marked(variable):
            missing.setdefault(key, []).append(_variable_name(variable))
    parts = []
    for key, names in missing.items():
        if len(names) == counts[key]:
            parts.append(f"{key} (none of its {len(names)} variables)")
        else:
            parts += [f"{key}: {name}" for name in names]
    if not parts:
        try:  # objects the sentinels cannot mark (bool or empty variables)
            status.assert_existing_objects_matched()
        except AssertionError as e:
            parts = [" ".join(str(e).split())[:300]]
    if parts:
        raise RestoreError(
            f"checkpoint {prefix} does not restore every network variable: missing "
            f"{_listing(parts)}; was it written with other settings or another version "
            "of the code?")
    return int(step.numpy())


def load_run(model_dir: str, values: Optional[dict] = None):
    """Rebuilds a run's Task from its settings and restores its latest checkpoint.

    Args:
      model_dir: a bin/train run directory (flags.txt and checkpoints/).
      values: the run's values (default: ``experiment.read_run(model_dir)``;
        a tool passes ``experiment.run_values(FLAGS)`` so that data flags
        given to it, e.g. --data_dir, apply).
    Returns:
      (task, data, step, values): the built and restored Task (in the
      training phase of ``step``), the run's TrainingData, the checkpoint's
      step and the values used.
    Raises:
      FileNotFoundError: no flags.txt or no checkpoint.
      RestoreError: the checkpoint does not restore every network variable.
    """
    from tfvidgen.models.base import latest_checkpoint

    if values is None:
        values = experiment.read_run(model_dir)
    prefix = latest_checkpoint(model_dir)
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]))
    task.build()
    try:
        step = restore(task, prefix)
    except RestoreError as e:
        raise RestoreError(f"{model_dir}: {e}") from None
    if hasattr(task, "restore_phase"):
        task.restore_phase(step)
    return task, data, step, values
