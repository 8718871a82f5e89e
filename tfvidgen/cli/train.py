"""bin/train: trains any registered method.

    bin/train --flagfile=configs/rjgan_mug.cfg --data_dir=/path/to/MUG --model_dir=runs/rjgan
    bin/train --model_dir=runs/rjgan            # resumes with the run's saved flags
"""
from __future__ import annotations

import logging
import os
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import app

from tfvidgen import flags as tfv_flags
from tfvidgen.cli.common import fail, resume_argv
from tfvidgen.data.sources import DatasetMissingError

FLAGS = tfv_flags.FLAGS


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}: flags are written --name=value.")
    from tfvidgen import experiment, export
    from tfvidgen.train import strategies
    from tfvidgen.train.checkpoints import atomic_write
    from tfvidgen.train.loop import Trainer

    logging.getLogger().setLevel(logging.INFO)
    values = experiment.flag_values(FLAGS)
    try:
        config = experiment.train_config(values)
        strategy = strategies.make_strategy(FLAGS.strategy, FLAGS.cpu_replicas)
        data = experiment.build_training_data(values)
        spec = experiment.data_spec(data, FLAGS.image_size)
        task = experiment.build_task(values, spec)
    except (DatasetMissingError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    os.makedirs(config.model_dir, exist_ok=True)
    atomic_write(experiment.flags_file(config.model_dir), tfv_flags.serialize())
    hooks = []
    if FLAGS.eval_every:  # periodic evaluation under eval/ (docs/evaluation.md)
        from tfvidgen.evaluate import make_train_hook
        try:
            hooks.append((FLAGS.eval_every, make_train_hook(
                FLAGS.eval_metrics, values, seed=FLAGS.seed, task=task, data=data)))
        except (ValueError, FileNotFoundError) as e:
            fail(f"--eval_metrics: {e}")
    try:  # builds the networks, resumes or warm-starts (pre-trained networks of another run)
        trainer = Trainer(task, data, config, strategy, hooks=hooks)
    except (ValueError, FileNotFoundError) as e:
        fail(str(e))
    print(f"{FLAGS.model} on {FLAGS.dataset}: {len(data.videos)} videos, "
          f"step {trainer.current_step}/{config.max_steps}, "
          f"{strategy.num_replicas_in_sync} replica(s), run dir {config.model_dir}",
          file=sys.stderr)
    trainer.train()
    if not trainer.is_chief:
        return
    path = trainer.write_sample_files()
    print(f"samples: {path}", file=sys.stderr)
    if FLAGS.export_after_training:
        version = trainer.current_step
        export_dir = FLAGS.export_dir or os.path.join(config.model_dir, "export")
        target = os.path.join(export_dir, FLAGS.model_name or FLAGS.model, str(version))
        if not os.path.exists(target):
            target = export.export(task, export_dir, FLAGS.model_name or FLAGS.model, version)
        print(f"export: {target}", file=sys.stderr)
    if trainer.stop_requested:
        sys.exit(130)


def run():
    app.run(main, argv=resume_argv(sys.argv))


if __name__ == "__main__":
    run()
