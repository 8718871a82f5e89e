"""bin/drnet_classify: classify videos from a trained DRNet's pose or content vectors
(seed 002, section 5.2.2; Figure 5.8's few-shot action classification on KTH).

    bin/drnet_classify --model_dir=runs/drnet_kth --features=pose --num_frames=24 \\
        --train_per_class=10 --output=runs/drnet_kth/classify_pose.json
    bin/drnet_classify --model_dir=runs/drnet_kth --features=content

Reads the run's flags.txt and latest checkpoint (a ``drnet`` or
``drnet_lstm`` run), extracts features of the labelled videos of
``--train_split`` and ``--test_split`` of the run's dataset (its --data_dir
unless --data_dir is given; --seed seeds the selection of training examples
and the classifier), trains the two-layer classifier S (256 hidden,
BatchNorm, LeakyReLU, dropout; Adam; early stopping on a fifth of the
training examples) and prints / writes the accuracies as JSON.
"""
from __future__ import annotations

import json
import logging
import os
import sys

import tfvidgen  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
from absl import app, flags

from tfvidgen import flags as tfv_flags  # noqa: F401  (--model_dir, --data_dir, --seed)
from tfvidgen.cli.common import fail

FLAGS = flags.FLAGS
flags.DEFINE_enum("features", "pose", ["pose", "content"],
                  "pose: the pose vectors of --num_frames frames, concatenated; content: "
                  "the content vector of the first frame.")
flags.DEFINE_integer("num_frames", 24, "Frames per video for pose features (paper: 24).")
flags.DEFINE_integer("train_per_class", 0,
                     "Labelled training videos per class (0: all; Figure 5.8 uses few).")
flags.DEFINE_string("train_split", "train", "Split the classifier is trained on.")
flags.DEFINE_string("test_split", "test", "Split the accuracy is reported on.")
flags.DEFINE_integer("max_videos", 0, "Use at most this many videos per split (0: all).")
flags.DEFINE_integer("epochs", 200, "Maximum training epochs (early stopping may end sooner).")
flags.DEFINE_string("output", None, "JSON report (default: printed only).")
flags.register_validator("num_frames", lambda v: v >= 1, "--num_frames must be >= 1.")
flags.register_validator("epochs", lambda v: v >= 1, "--epochs must be >= 1.")
flags.register_validator("train_per_class", lambda v: v >= 0, "--train_per_class must be >= 0.")


def classify(model_dir: str, features: str = "pose", num_frames: int = 24,
             train_per_class: int = 0, train_split: str = "train", test_split: str = "test",
             data_dir=None, max_videos: int = 0, epochs: int = 200, seed: int = 0) -> dict:
    """The report of ``bin/drnet_classify`` (see the module docstring)."""
    from tfvidgen import experiment
    from tfvidgen.runs import load_run
    from tfvidgen.metrics import feature_classifier as fc
    from tfvidgen.models.drnet import DRNet, DRNetLSTM

    flags_path = experiment.flags_file(model_dir)
    if not os.path.exists(flags_path):
        raise FileNotFoundError(f"{flags_path} not found: --model_dir must be a bin/train run "
                                "of --model=drnet or drnet_lstm.")
    values = experiment.read_run(model_dir)
    if data_dir:
        values["data_dir"] = data_dir
    task, _, step, values = load_run(model_dir, values)
    if not isinstance(task, (DRNet, DRNetLSTM)):
        raise ValueError(f"{model_dir} is a {values['model']} run; drnet_classify needs "
                         "a drnet or drnet_lstm run (content and pose encoders).")
    every_nth = values.get("every_nth") or 1
    splits = {}
    for name, split in (("train", train_split), ("test", test_split)):
        source = experiment.build_source({**values, "split": split})
        splits[name] = fc.video_features(task, source, features, num_frames, every_nth,
                                         max_videos)
        class_names = source.class_names
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    chosen = fc.select_per_class(y_train, train_per_class, seed)
    num_classes = max(len(class_names), int(max(y_train.max(), y_test.max())) + 1)
    report = fc.train_classifier(x_train[chosen], y_train[chosen], x_test, y_test,
                                 num_classes, epochs=epochs, seed=seed)
    report.update(model_dir=model_dir, step=step, model=values["model"],
                  dataset=values["dataset"], features=features,
                  num_frames=num_frames if features == "pose" else 1,
                  train_per_class=train_per_class, train_split=train_split,
                  test_split=test_split, class_names=list(class_names))
    return report


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}: flags are written --name=value.")
    if not FLAGS.model_dir:
        fail("--model_dir is required: a trained drnet or drnet_lstm run directory.")
    from tfvidgen.data.sources import DatasetMissingError

    logging.getLogger().setLevel(logging.INFO)
    try:
        report = classify(FLAGS.model_dir, FLAGS.features, FLAGS.num_frames,
                          FLAGS.train_per_class, FLAGS.train_split, FLAGS.test_split,
                          FLAGS.data_dir, FLAGS.max_videos, FLAGS.epochs, FLAGS.seed)
    except (DatasetMissingError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    text = json.dumps(report, indent=2)
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            f.write(text + "\n")
        print(f"report: {FLAGS.output}", file=sys.stderr)
    print(text)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
