"""Run-level command-line flags, defined once, grouped: data, model, train, export.

A method's hyperparameters are not flags: they are its settings
(``tfvidgen.settings``), parsed against the chosen method's config class.
Flagfiles in configs/ set both; values given after ``--flagfile`` override
it. Validators reject impossible values at parse time with a message that
names the flag.
"""
from __future__ import annotations

import math

from absl import flags

from tfvidgen.train.strategies import STRATEGIES

FLAGS = flags.FLAGS
MAX_IMAGE_SIZE = 1024  # larger frames exhaust memory in the first convolution

# Data -------------------------------------------------------------------------
flags.DEFINE_string("dataset", "synthetic_expressions",
                    "Training dataset: synthetic_expressions (built in, no files), mug, "
                    "video_folder (MoCoGAN strips), frame_folders, video_files, image_folder; "
                    "for prediction: smmnist (Stochastic Moving MNIST, built in; also "
                    "smmnist1, smmnist_nonuniform, smmnist1_nonuniform, moving_mnist), kth, bair.")
flags.DEFINE_string("data_dir", None, "Root folder of the dataset's files.")
flags.DEFINE_string("split", "train", "Dataset split: train, test or all.")
flags.DEFINE_integer("image_size", 64, "Frame side in pixels (a power of two >= 16).")
flags.DEFINE_integer("synthetic_identities", 24, "synthetic_expressions: number of identities.")
flags.DEFINE_integer("synthetic_takes", 2, "synthetic_expressions: takes per identity and expression.")
flags.DEFINE_integer("synthetic_video_length", 32,
                     "Built-in generated datasets (synthetic_expressions, smmnist*): frames "
                     "per video.")
flags.DEFINE_string("image_dataset", None,
                    "Optional image set for the image discriminator (mixed image+video "
                    "training), e.g. image_folder.")
flags.DEFINE_string("image_data_dir", None, "Root folder of --image_dataset.")
flags.DEFINE_float("broken_video_fraction", 0.0,
                   "Fraction of the videos broken into single frames for the image "
                   "discriminator only (0.5: seed 003's 1:1 image/video mixture).")

# Model ------------------------------------------------------------------------
# Only the method's name is a flag: its hyperparameters are its own settings
# (tfvidgen.settings, the Task's ``config_class``), given as --name=value on
# the command line or in a flagfile and listed by --model=NAME --helpfull.
flags.DEFINE_string("model", "rjgan",
                    "Method (a registered Task): rjgan, rmocogan, mocogan, image_gan; video "
                    "prediction: svg_lp, svg_fp, svg_det, drnet, drnet_lstm. "
                    "bin/train --model=NAME --helpfull lists its settings.")
flags.DEFINE_multi_string("user_module", [],
                          "Python module to import before the model is looked up (a dotted "
                          "name or a .py file): registers your own methods and datasets "
                          "without editing tfvidgen.")

# Train ------------------------------------------------------------------------
flags.DEFINE_string("model_dir", None, "Run directory; an existing one is resumed.")
flags.DEFINE_integer("max_steps", 10000, "Total training iterations.")
flags.DEFINE_integer("seed", 0, "Seed of data order, noise and initialisation.")
flags.DEFINE_enum("strategy", "mirrored", STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_integer("cpu_replicas", 1,
                     "Logical CPU devices for MirroredStrategy when there is no GPU.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step (slow on CPU).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Keras dtype policy of the networks: float32, mixed_bfloat16 (bfloat16 math, "
                  "float32 variables; fast on CPUs with AVX512_BF16 / AMX and on GPUs) or "
                  "mixed_float16 (GPUs; with dynamic loss scaling). Losses, gradient penalties, "
                  "KL terms, BatchNorm statistics and network outputs stay float32; checkpoints "
                  "are the same in every precision. Fixed for a run.")
flags.DEFINE_integer("steps_per_loop", 1,
                     "Training steps per compiled call: the metrics reach the host once per "
                     "call (fewer host round trips). Calls end at every summary, sample, "
                     "checkpoint and evaluation step and at phase boundaries, so those happen "
                     "at the same steps; same seed, same result as 1.")
flags.DEFINE_integer("summary_every", 10, "Steps between scalar summaries.")
flags.DEFINE_integer("sample_every", 200, "Steps between GIF / frame-grid summaries.")
flags.DEFINE_integer("checkpoint_every", 200, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("num_samples", 16, "Videos in the run's samples.gif.")
flags.DEFINE_bool("export_after_training", False,
                  "Export a SavedModel to <model_dir>/export when training ends.")
flags.DEFINE_integer("eval_every", 0,
                     "Steps between periodic evaluations of --eval_metrics, written to "
                     "TensorBoard under eval/ (0: none).")
flags.DEFINE_string("eval_metrics", "parzen",
                    "Metrics of --eval_every: bin/evaluate's names with small sample sizes, "
                    "e.g. parzen,nn or fd@classifier:runs/expr_classifier (docs/evaluation.md).")
flags.register_validator("eval_every", lambda v: v >= 0, "--eval_every must be >= 0.")


def _check_eval_metrics(text):
    from tfvidgen.evaluate import check_train_metrics  # lazy: TensorFlow
    try:
        check_train_metrics(text)
    except ValueError as e:
        raise flags.ValidationError(f"--eval_metrics: {e}") from None
    return True


flags.register_validator("eval_metrics", _check_eval_metrics)

# Export -----------------------------------------------------------------------
flags.DEFINE_string("export_dir", None, "Base folder of SavedModel exports.")
flags.DEFINE_string("model_name", None, "Name of the exported model (default: --model).")
flags.DEFINE_integer("export_version", None, "Version folder (default: the training step).")

_POSITIVE = ("image_size", "synthetic_identities", "synthetic_takes", "synthetic_video_length",
             "max_steps", "cpu_replicas", "summary_every", "sample_every", "checkpoint_every",
             "keep_checkpoints", "num_samples", "steps_per_loop")
for _name in _POSITIVE:
    flags.register_validator(_name, lambda v: v is not None and v >= 1,
                             message=f"--{_name} must be a positive integer.")
flags.register_validator("broken_video_fraction", lambda v: 0 <= v < 1,
                         "--broken_video_fraction must be in [0, 1).")
flags.register_validator(
    "image_size", lambda v: v >= 16 and math.log2(v).is_integer() and v <= MAX_IMAGE_SIZE,
    f"--image_size must be a power of two from 16 to {MAX_IMAGE_SIZE} (e.g. 32, 64, 128).")
flags.register_validator("split", lambda v: v in ("train", "test", "all"),
                         "--split must be train, test or all.")
flags.register_validator("export_version", lambda v: v is None or v >= 0,
                         "--export_version must be a non-negative integer.")

# Run-level settings a resumed run may change; every other flag and setting of a
# run is fixed once it has a checkpoint (experiment.check_resume).
MUTABLE = frozenset({
    "model_dir", "max_steps", "summary_every", "sample_every", "checkpoint_every",
    "keep_checkpoints", "num_samples", "export_after_training", "export_dir", "model_name",
    "export_version", "eval_every", "eval_metrics", "data_dir", "image_data_dir", "strategy",
    "cpu_replicas", "jit_compile", "user_module", "steps_per_loop"})


def run_flag_names(flag_values=FLAGS) -> list:
    """Names of the run-level flags: those defined in this module (a tool's own
    flags, e.g. bin/evaluate's --metrics, are not part of a run)."""
    return sorted(f.name for f in flag_values.flags_by_module_dict().get(__name__, []))


def serialize_values(values: dict) -> list:
    """Flagfile lines of the run-level flags in ``values`` (None values left out)."""
    lines = []
    for name in run_flag_names():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            lines += [f"--{name}={v}" for v in value]
        else:
            lines.append(f"--{name}={value}")
    return lines
