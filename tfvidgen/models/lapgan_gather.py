"""Gathering LAPGAN levels trained in parallel runs into one run (Denton, section 4.2.3).

The levels of a LAPGAN train independently, so each can train in its own
run (``--train_level=k``). ``gather_levels`` writes a run directory whose
checkpoint holds every level, taken from the run that trained it (through
the ``levels_from`` setting, ``LAPGAN.warm_start``), and whose flags.txt is
the first run's with ``--train_level=-1``: ``bin/export``, ``bin/evaluate``
and ``bin/sample`` take it as any run. ``bin/lapgan_gather`` is the command.
"""
from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf


def gather_levels(level_runs: Sequence[str], model_dir: str) -> str:
    """Writes ``model_dir`` (a new run) from runs that trained one level each.

    Args:
      level_runs: run directories; each contributes the level its
        ``train_level`` names (all levels for -1; later runs win).
      model_dir: the new run directory (must not hold a run).
    Returns:
      The checkpoint prefix written.
    Raises:
      ValueError: the runs are not lapgan runs of one pyramid, or a level
        is missing, or ``model_dir`` already holds a run.
    """
    from tfvidgen import experiment
    from tfvidgen.train.checkpoints import atomic_write

    if not level_runs:
        raise ValueError("name the runs to gather")
    if experiment.has_run(model_dir):
        raise ValueError(f"{model_dir} already holds a run: gather into a new directory")
    runs = [experiment.read_run(path) for path in level_runs]
    first = runs[0]
    for path, values in zip(level_runs, runs):
        if values["model"] != "lapgan":
            raise ValueError(f"{path} is a {values['model']} run, not lapgan")
        for key in ("pyramid_sizes", "image_size", "class_conditional", "dataset"):
            if values.get(key) != first.get(key):
                raise ValueError(f"{path}: --{key}={values.get(key)!r} differs from "
                                 f"{level_runs[0]}'s {first.get(key)!r}")
    values = {**first, "model_dir": model_dir, "train_level": -1,
              "levels_from": ",".join(os.path.abspath(p) for p in level_runs)}
    config = experiment.make_config(values)
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]),
                                 config)
    task.build()
    trained = {int(v.get("train_level", -1)) for v in runs}
    missing = [] if -1 in trained else sorted(set(range(task.num_levels)) - trained)
    if missing:
        raise ValueError(f"no run trained level(s) {missing}")
    task.warm_start()
    step = max(int(os.path.basename(tf.train.latest_checkpoint(
        os.path.join(p, "checkpoints"))).split("-")[-1]) for p in level_runs)
    counter = tf.Variable(step, dtype=tf.int64)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(step=counter, **task.networks()),
        os.path.join(model_dir, "checkpoints"), max_to_keep=1)
    prefix = manager.save(checkpoint_number=step)
    atomic_write(experiment.flags_file(model_dir), experiment.run_file_text(values, config))
    return prefix
