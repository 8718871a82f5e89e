"""bin/export: SavedModel of a trained run in TF Serving's layout.

    bin/export --model_dir=runs/rjgan --export_dir=exports
    -> exports/rjgan/<step>/ (saved_model.pb, variables/)
"""
from __future__ import annotations

import os
import sys

import tfvidgen  # noqa: F401
from absl import app, flags

from tfvidgen import flags as tfv_flags
from tfvidgen.cli.common import fail, resume_argv

FLAGS = tfv_flags.FLAGS
flags.DEFINE_bool("describe", False, "Print the signatures of the written export.")


def export_run(values: dict) -> str:
    """Rebuilds the run's Task, restores its latest checkpoint and exports it."""
    import tensorflow as tf

    from tfvidgen import experiment, export
    from tfvidgen.models.base import latest_checkpoint

    model_dir = values["model_dir"]
    prefix = latest_checkpoint(model_dir)
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]))
    task.build()
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(step=step, **task.exported_networks()).read(prefix).expect_partial()
    version = values.get("export_version")
    version = int(step) if version is None else version
    export_dir = values.get("export_dir") or os.path.join(model_dir, "export")
    return export.export(task, export_dir, values.get("model_name") or values["model"], version)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    if not FLAGS.model_dir:
        fail("--model_dir is required: the training run to export.")
    if not os.path.exists(os.path.join(FLAGS.model_dir, "flags.txt")):
        fail(f"{FLAGS.model_dir} has no flags.txt: is it a bin/train run directory?")
    from tfvidgen import experiment, export
    try:
        path = export_run(experiment.flag_values(FLAGS))
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        fail(str(e))
    print(path)
    if FLAGS.describe:
        print(export.describe(path))


def run():
    app.run(main, argv=resume_argv(sys.argv))


if __name__ == "__main__":
    run()
