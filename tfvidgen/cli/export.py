"""bin/export: SavedModel of a trained run in TF Serving's layout, and models.config.

    bin/export --model_dir=runs/rjgan --export_dir=exports
    -> exports/rjgan/<step>/ (saved_model.pb, variables/, assets.extra/tf_serving_warmup_requests)
    bin/export --model_dir=runs/rjgan --export_dir=exports --describe
    bin/export --model_dir=runs/rjgan --export_dir=exports --models_config=serving/models.config
    bin/export --export_dir=exports --models_config=serving/models.config \\
        --models_config_base_path=/models          # every model under exports/, Docker paths
    bin/export --export_dir=exports --describe      # latest version of every model

``--describe`` prints every signature (inputs and outputs with dtype, shape
and tensor name; optional inputs with their default), the facts that
``saved_model_cli show --all`` gives. ``--models_config`` adds or updates the
model's entry of a TF Serving ``models.config`` (other entries are kept).
"""
from __future__ import annotations

import os

import tfvidgen  # noqa: F401
from absl import app, flags

from tfvidgen import flags as tfv_flags
from tfvidgen.cli.common import fail

FLAGS = tfv_flags.FLAGS
flags.DEFINE_bool("describe", False, "Print the signatures of the written export.")
flags.DEFINE_string("models_config", None,
                    "Add/update the exported model(s) in this TF Serving models.config "
                    "(model_config_list, text format; created if missing).")
flags.DEFINE_string("models_config_base_path", None,
                    "Folder holding the model folders as the server sees it, written as "
                    "base_path=<this>/<model_name> (e.g. /models inside the tensorflow/serving "
                    "Docker image). Default: the absolute --export_dir.")
flags.DEFINE_string("version_policy", None,
                    "models.config version policy: latest, latest:N, all or specific:V1,V2 "
                    "(default for a new entry: latest:1; an existing entry keeps its own).")
flags.DEFINE_string("version_labels", None,
                    "models.config version labels, e.g. stable=1500,canary=1600 (an existing "
                    "entry keeps its labels unless this is given; '' removes them).")
flags.DEFINE_list("warmup_batch_sizes", ["1", "8"],
                  "num_videos of the serving_default warm-up requests written to "
                  "assets.extra/tf_serving_warmup_requests (every other signature is warmed "
                  "up once); empty for none.")


def export_run(values: dict, warmup_batch_sizes=None) -> str:
    """Loads the run (``tfvidgen.runs.load_run``: every network restored from its
    latest checkpoint) and exports it; returns the version folder."""
    from tfvidgen import export, runs

    model_dir = values["model_dir"]
    task, _, step, _ = runs.load_run(model_dir, values)
    version = values.get("export_version")
    version = step if version is None else version
    export_dir = values.get("export_dir") or os.path.join(model_dir, "export")
    sizes = export.DEFAULT_WARMUP_BATCH_SIZES if warmup_batch_sizes is None else warmup_batch_sizes
    return export.export(task, export_dir, values.get("model_name") or values["model"], version,
                         warmup_batch_sizes=sizes)


def _warmup_sizes():
    try:
        sizes = tuple(int(v) for v in FLAGS.warmup_batch_sizes if v.strip())
    except ValueError:
        fail(f"--warmup_batch_sizes={','.join(FLAGS.warmup_batch_sizes)}: expected integers")
    if any(n < 1 for n in sizes):
        fail("--warmup_batch_sizes must be positive")
    return sizes


def write_models_config(path: str, export_dir: str, names) -> None:
    from tfvidgen.serving import config

    labels = None
    if FLAGS.version_labels is not None:
        labels = config.parse_labels(FLAGS.version_labels)
    for name in names:
        base = (os.path.join(FLAGS.models_config_base_path, name) if FLAGS.models_config_base_path
                else os.path.abspath(os.path.join(export_dir, name)))
        config.update_model_config(path, name, base, FLAGS.version_policy or "", labels)
    print(f"{path}: {', '.join(names)}")


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    from tfvidgen import experiment, export

    sizes = _warmup_sizes()
    if FLAGS.version_policy:
        from tfvidgen.serving import config
        try:
            config.parse_version_policy(FLAGS.version_policy)
        except ValueError as e:
            fail(f"--version_policy: {e}")
    if not FLAGS.model_dir:
        # Without a run: describe / write models.config for what is under --export_dir.
        if not FLAGS.export_dir or not (FLAGS.models_config or FLAGS.describe):
            fail("--model_dir is required: the training run to export (or give --export_dir "
                 "with --models_config or --describe to work on existing exports).")
        models = export.exported_models(FLAGS.export_dir)
        if not models:
            fail(f"{FLAGS.export_dir} holds no <model_name>/<version>/saved_model.pb")
        if FLAGS.describe:
            for name, versions in models.items():
                path = os.path.join(FLAGS.export_dir, name, str(versions[-1]))
                print(path)
                print(export.describe(path))
        if FLAGS.models_config:
            try:
                write_models_config(FLAGS.models_config, FLAGS.export_dir, list(models))
            except ValueError as e:
                fail(str(e))
        return
    if not os.path.exists(os.path.join(FLAGS.model_dir, "flags.txt")):
        fail(f"{FLAGS.model_dir} has no flags.txt: is it a bin/train run directory?")
    try:
        values = experiment.run_values(FLAGS)
        path = export_run(values, sizes)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        fail(str(e))
    print(path)
    if FLAGS.describe:
        print(export.describe(path))
    if FLAGS.models_config:
        export_dir = os.path.dirname(os.path.dirname(path))
        try:
            write_models_config(FLAGS.models_config, export_dir, [os.path.basename(
                os.path.dirname(path))])
        except ValueError as e:
            fail(str(e))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
