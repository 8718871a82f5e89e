"""bin/train_evaluator: trains a dataset classifier for FD and IS where no pretrained net fits.

    bin/train_evaluator --dataset=synthetic_expressions --kind=video --output_dir=runs/expr_video
    bin/train_evaluator --dataset=mug --data_dir=/path/to/MUG --kind=image \\
        --output_dir=runs/mug_image --steps=5000
    bin/train_evaluator --dataset=kth --data_dir=/path/to/KTH --kind=video \\
        --architecture=stacked2d --clip_length=10 --output_dir=runs/kth_stacked2d

Writes <output_dir>/classifier.keras and classifier.json (class names,
frame size, clip length, accuracies). Evaluation then loads it with
``tfvidgen.metrics.extractors.get_extractor("classifier", output_dir)``:
FD on its penultimate features (``fd_<name>_...``), IS on its softmax
(``is_<name>_...``). The dataset flags (--dataset, --data_dir, --split,
--image_size, --synthetic_*, --seed) are bin/train's; --clip_length and --every_nth are
this tool's own.
"""
from __future__ import annotations

import json
import logging
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import app, flags

from tfvidgen import flags as tfv_flags
from tfvidgen.cli.common import fail

FLAGS = tfv_flags.FLAGS
flags.DEFINE_enum("kind", "video", ["video", "image"],
                  "video: a classifier of --clip_length-frame clips (as seed 002's action "
                  "classifier); image: of single frames, with D_I's architecture (seed 003).")
flags.DEFINE_enum("architecture", None, ["conv3d", "stacked2d"],
                  "video: conv3d (default: 3D convolutions) or stacked2d (the clip's frames "
                  "stacked along channels into D_I's 2D convolutions: seed 002's KTH action "
                  "classifier, section 5.3.3, with --clip_length=10).")
flags.DEFINE_integer("clip_length", 16, "video: frames per clip the classifier sees.")
flags.DEFINE_integer("every_nth", 1, "video: temporal stride of the clips.")
flags.DEFINE_string("output_dir", None, "Folder for classifier.keras and classifier.json.")
flags.DEFINE_string("classifier_name", None,
                    "Name used in metric names (default: <dataset>-<kind>, "
                    "<dataset>-stacked2d for --architecture=stacked2d).")
flags.DEFINE_integer("steps", 2000, "Training steps.")
flags.DEFINE_integer("classifier_batch_size", 32, "Training batch size.")
flags.DEFINE_float("classifier_learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("classifier_width", 64, "Filters of the first convolution (doubling).")
flags.DEFINE_string("validation_split", "test",
                    "Split for the reported held-out accuracy ('' for none).")
flags.DEFINE_integer("validation_batches", 20, "Batches for the held-out accuracy.")
for _name in ("steps", "classifier_batch_size", "classifier_width", "validation_batches"):
    flags.register_validator(_name, lambda v: v is not None and v >= 1,
                             message=f"--{_name} must be a positive integer.")
flags.register_validator("validation_split", lambda v: v in ("", "train", "test", "all"),
                         "--validation_split must be train, test, all or ''.")


def train_from_flags(values: dict) -> dict:
    """Builds the dataset from the flag values, trains, saves; returns the info."""
    from tfvidgen import experiment
    from tfvidgen.metrics import classifiers

    if not values.get("output_dir"):
        raise ValueError("--output_dir is required: the folder to save the classifier in.")
    source = experiment.build_source(values)
    validation = None
    if values.get("validation_split") and values["validation_split"] != values["split"]:
        validation = experiment.build_source({**values, "split": values["validation_split"]})
        if len(validation) == 0:
            logging.warning("validation split %r is empty: no held-out accuracy",
                            values["validation_split"])
            validation = None
    return classifiers.train_classifier(
        source, values["kind"], values["output_dir"], validation_source=validation,
        name=values.get("classifier_name"), dataset=values["dataset"],
        clip_length=values["clip_length"], every_nth=values["every_nth"],
        steps=values["steps"], batch_size=values["classifier_batch_size"],
        learning_rate=values["classifier_learning_rate"], width=values["classifier_width"],
        validation_batches=values["validation_batches"], seed=values["seed"],
        verbose=2 if sys.stderr.isatty() else 0, architecture=values.get("architecture"))


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}: flags are written --name=value.")
    from tfvidgen import experiment
    from tfvidgen.data.sources import DatasetMissingError

    logging.getLogger().setLevel(logging.INFO)
    try:
        info = train_from_flags(experiment.flag_values(FLAGS))
    except (DatasetMissingError, ValueError, FileNotFoundError, KeyError) as e:
        fail(str(e.args[0]) if isinstance(e, KeyError) else str(e))
    print(json.dumps(info, indent=2))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
