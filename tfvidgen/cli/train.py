"""bin/train: trains any registered method.

    bin/train --flagfile=configs/rjgan_mug.cfg --data_dir=/path/to/MUG --model_dir=runs/rjgan
    bin/train --model=svg_lp --dataset=smmnist --model_dir=runs/svg   # the paper's settings
    bin/train --model_dir=runs/rjgan            # resumes with the run's saved settings
    bin/train --model=svg_lp --helpfull         # svg_lp's settings, defaults and help

Run-level options are absl flags (``tfvidgen.flags``); every other
``--name=value`` is a setting of the chosen method (its config class), set
only when given.
"""
from __future__ import annotations

import os
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import app

from tfvidgen import flags as tfv_flags
from tfvidgen.cli import quiet
from tfvidgen.cli.common import fail, parse_run_flags
from tfvidgen.data.sources import DatasetMissingError

FLAGS = tfv_flags.FLAGS


def main(argv):
    from tfvidgen import experiment, export
    from tfvidgen.settings import ConfigError
    from tfvidgen.train import strategies
    from tfvidgen.train.checkpoints import atomic_write
    from tfvidgen.train.errors import TrainingError
    from tfvidgen.train.loop import Trainer

    quiet.quiet_python_logging()  # --verbosity brings TensorFlow's detail back
    try:
        values, config, saved = experiment.resolve(FLAGS, argv[1:])
        if saved is not None and experiment.has_checkpoint(values["model_dir"]):
            experiment.check_resume(saved, values)
        train_config = experiment.train_config(values, config)
        strategy = strategies.make_strategy(values["strategy"], values["cpu_replicas"])
        data = experiment.build_training_data(values)
        spec = experiment.data_spec(data, values["image_size"])
        task = experiment.build_task(values, spec, config)
    except (DatasetMissingError, ConfigError, ValueError, FileNotFoundError,
            TrainingError) as e:
        fail(str(e))
    hooks = []
    if values["eval_every"]:  # periodic evaluation under eval/ (docs/evaluation.md)
        from tfvidgen.evaluate import make_train_hook
        try:
            hooks.append((values["eval_every"], make_train_hook(
                values["eval_metrics"], values, seed=values["seed"], task=task, data=data)))
        except (ValueError, FileNotFoundError) as e:
            fail(f"--eval_metrics: {e}")
    try:  # builds the networks, resumes or warm-starts (pre-trained networks of another run)
        trainer = Trainer(task, data, train_config, strategy, hooks=hooks)
    except (ValueError, FileNotFoundError, TrainingError) as e:
        fail(str(e))
    # Written once the settings proved buildable, so a failed start leaves no run behind.
    try:
        atomic_write(experiment.flags_file(train_config.model_dir),
                     experiment.run_file_text(values, config))
    except OSError as e:
        fail(f"cannot write {experiment.flags_file(train_config.model_dir)} ({e.strerror}): "
             "free disk space or choose a writable --model_dir.")
    model = values["model"]
    print(f"{model} on {values['dataset']}: {len(data.videos)} videos, "
          f"step {trainer.current_step}/{train_config.max_steps}, "
          f"{strategy.num_replicas_in_sync} replica(s), run dir {train_config.model_dir}",
          file=sys.stderr)
    try:  # diverged, unwritable run directory, unreadable data, lost worker: one line
        trainer.train()
    except TrainingError as e:
        fail(str(e))
    if not trainer.is_chief:
        if trainer.stop_requested:
            sys.exit(130)
        return
    try:
        path = trainer.write_sample_files()
        print(f"samples: {path}", file=sys.stderr)
    except OSError as e:  # the checkpoint is saved: only the GIF is missing
        print(f"warning: samples.gif not written ({e.strerror}); the run and its checkpoint "
              "are saved (free disk space, then resume to write it).", file=sys.stderr)
    if values["export_after_training"]:
        version = trainer.current_step
        export_dir = values["export_dir"] or os.path.join(train_config.model_dir, "export")
        name = values["model_name"] or model
        target = os.path.join(export_dir, name, str(version))
        if not os.path.exists(target):
            try:
                target = export.export(task, export_dir, name, version)
            except OSError as e:
                fail(f"cannot write the export under {export_dir} ({e.strerror}): free disk "
                     "space or pass a writable --export_dir; the run is saved, so "
                     "bin/export --model_dir=... can export it later.")
        print(f"export: {target}", file=sys.stderr)
    if trainer.stop_requested:
        sys.exit(130)


def run():
    app.run(main, flags_parser=parse_run_flags)


if __name__ == "__main__":
    run()
