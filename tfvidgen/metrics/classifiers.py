"""Dataset classifiers as feature extractors, for datasets without pretrained nets.

What the seeds did when no pretrained network fitted their data: seed 003
trained an expression classifier with D_I's architecture to compute an
image Inception Score on MUG; seed 002 an action classifier over 10-frame
clips. ``train_classifier`` trains such a network on any labelled dataset
(the built-in ``synthetic_expressions`` included) with a plain Keras
``fit`` on the package's tf.data pipeline, and saves it; ``load_classifier``
gives it back as an ``Extractor``: FD on its penultimate features and IS on
its softmax.

* image (``kind="image"``): D_I's convolution blocks (stride-2 Conv 4x4,
  ``width``, 2x, 4x ... with BatchNorm after the first, LeakyReLU 0.2), with
  the patch-logit convolution replaced by global average pooling
  ("features") and a dense layer to the classes ("logits"). Inputs are
  frames [N, S, S, 3].
* video (``kind="video"``): the same blocks in 3D (Conv3D 3x4x4, stride 2 in
  space and, from the second block while at least 4 frames are left, in
  time), global average pooling and a dense layer. Inputs are clips
  [N, clip_length, S, S, 3].
* stacked frames (``kind="video"``, ``architecture="stacked2d"``): seed 002's
  KTH action classifier (section 5.3.3: "the video frames are concatenated
  as input to the first layer"): the clip's frames stacked along channels
  in time order (channel ``3 t + c`` is channel c of frame t) and D_I's 2D
  blocks, global average pooling and a dense layer. Inputs are clips
  [N, clip_length, S, S, 3] like the 3D classifier's, so the protocols take
  it as any video extractor (``is_offset`` scores generated 10-frame
  windows with it).

A trained classifier is a folder: ``classifier.keras`` (the Keras model)
and ``classifier.json`` (name, kind, class names, frame size, clip length,
training settings and accuracies). Extractors take uint8 inputs, resize
frames to the classifier's size when needed and scale them to [-1, 1] as
the training pipeline did.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfvidgen.data import pipeline
from tfvidgen.data.sources import VideoSource
from tfvidgen.metrics.extractors import Extractor, WeightsMissingError, register_extractor

MODEL_FILE = "classifier.keras"
INFO_FILE = "classifier.json"
FORMAT_VERSION = 1


def _num_blocks(image_size: int) -> int:
    blocks = math.log2(image_size) - 2
    if image_size < 16 or blocks != int(blocks):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(blocks) - 1  # D_I's blocks before its patch-logit convolution


def _bn(name):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def _image_body(x, num_classes: int, image_size: int, width: int):
    """D_I's 2D blocks + global average pooling + dense -> logits."""
    for i in range(_num_blocks(image_size)):
        x = layers.Conv2D(width * 2 ** i, 4, strides=2, padding="same", use_bias=False,
                          name=f"conv_{i}")(x)
        if i > 0:
            x = _bn(f"bn_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    features = layers.GlobalAveragePooling2D(name="features")(x)
    return layers.Dense(num_classes, name="logits")(features)


def build_image_classifier(num_classes: int, image_size: int = 64, width: int = 64,
                           name: str = "image_classifier") -> keras.Model:
    """D_I's body + global average pooling + dense: [N, S, S, 3] in [-1, 1] -> logits."""
    inputs = keras.Input([image_size, image_size, 3], name="frames")
    return keras.Model(inputs, _image_body(inputs, num_classes, image_size, width), name=name)


def build_stacked_classifier(num_classes: int, image_size: int = 64, clip_length: int = 10,
                             width: int = 64, name: str = "stacked_classifier") -> keras.Model:
    """Seed 002's KTH classifier: [N, T, S, S, 3] -> frames stacked along channels in
    time order ([N, S, S, 3 T], layer ``stacked``: channel 3 t + c is frame t's
    channel c) -> D_I's 2D blocks, global average pooling, dense -> logits."""
    inputs = keras.Input([clip_length, image_size, image_size, 3], name="clips")
    x = layers.Permute((2, 3, 1, 4), name="time_last")(inputs)       # [N, S, S, T, 3]
    x = layers.Reshape((image_size, image_size, 3 * clip_length), name="stacked")(x)
    return keras.Model(inputs, _image_body(x, num_classes, image_size, width), name=name)


def build_video_classifier(num_classes: int, image_size: int = 64, clip_length: int = 16,
                           width: int = 64, name: str = "video_classifier") -> keras.Model:
    """3D conv blocks + global average pooling + dense: [N, T, S, S, 3] -> logits."""
    inputs = keras.Input([clip_length, image_size, image_size, 3], name="clips")
    x, t = inputs, clip_length
    for i in range(_num_blocks(image_size)):
        stride_t = 2 if i > 0 and t >= 4 else 1
        t = -(-t // stride_t)
        x = layers.Conv3D(width * 2 ** i, (3, 4, 4), strides=(stride_t, 2, 2), padding="same",
                          use_bias=False, name=f"conv_{i}")(x)
        if i > 0:
            x = _bn(f"bn_{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu_{i}")(x)
    features = layers.GlobalAveragePooling3D(name="features")(x)
    logits = layers.Dense(num_classes, name="logits")(features)
    return keras.Model(inputs, logits, name=name)


# The networks of each kind; the first is the kind's default.
ARCHITECTURES = {"image": ("d_i",), "video": ("conv3d", "stacked2d")}


def check_architecture(kind: str, architecture: Optional[str] = None) -> str:
    """The architecture of a classifier of ``kind`` (default: the kind's first)."""
    if kind not in ARCHITECTURES:
        raise ValueError(f"kind must be 'image' or 'video', got {kind!r}")
    architecture = architecture or ARCHITECTURES[kind][0]
    if architecture not in ARCHITECTURES[kind]:
        raise ValueError(f"{kind} classifiers use one of {', '.join(ARCHITECTURES[kind])}, "
                         f"got --architecture={architecture}")
    return architecture


def default_name(dataset: str, kind: str, architecture: Optional[str] = None) -> str:
    """<dataset>-<kind>, or <dataset>-<architecture> for a kind's non-default network."""
    what = kind if architecture in (None, ARCHITECTURES.get(kind, (None,))[0]) else architecture
    return re.sub(r"[^0-9a-z]+", "-", f"{dataset}-{what}".lower()).strip("-")


def _check_labels(source: VideoSource) -> None:
    if not source.class_names:
        raise ValueError(f"The dataset {source.name!r} has no class labels: a classifier "
                         "needs a labelled dataset (e.g. synthetic_expressions, mug).")
    labels = source.labels()
    bad = np.flatnonzero((labels < 0) | (labels >= len(source.class_names)))
    if bad.size:
        raise ValueError(f"{bad.size} videos of {source.name!r} have no valid label "
                         f"(first: {source.describe(int(bad[0]))}).")


def make_classifier_dataset(source: VideoSource, kind: str, *, clip_length: int, every_nth: int,
                            batch_size: int, seed: int) -> tf.data.Dataset:
    """Infinite (inputs in [-1, 1], labels) batches: random clips, or random frames."""
    data = pipeline.TrainingData(videos=source, frame_pool=None, sources=(source,))
    ds = pipeline.make_dataset(data, clip_length=clip_length if kind == "video" else 1,
                               every_nth=every_nth if kind == "video" else 1,
                               images_per_video=0, batch_size=batch_size,
                               frame_shape=source.frame_shape, seed=seed)
    if kind == "video":
        return ds.map(lambda b: (b["video"], b["label"]))
    return ds.map(lambda b: (b["video"][:, 0], b["label"]))


def train_classifier(source: VideoSource, kind: str, output_dir: str, *,
                     validation_source: Optional[VideoSource] = None, name: Optional[str] = None,
                     dataset: Optional[str] = None, clip_length: int = 16, every_nth: int = 1,
                     steps: int = 2000, batch_size: int = 32, learning_rate: float = 1e-3,
                     width: int = 64, validation_batches: int = 20, seed: int = 0,
                     verbose: int = 0, architecture: Optional[str] = None) -> dict:
    """Trains a classifier of ``source``'s labels and saves it to ``output_dir``.

    Args:
      source: labelled training videos (frames at their final square size).
      kind: "image" (frames) or "video" (clips of ``clip_length``).
      output_dir: folder for classifier.keras and classifier.json.
      validation_source: held-out labelled videos for the reported accuracy.
      name: the extractor's name in metric names (default: <dataset>-<kind>, or
        <dataset>-stacked2d).
      architecture: video: "conv3d" (default) or "stacked2d" (the clip's frames
        stacked along channels into 2D convolutions, seed 002's KTH classifier).
    Returns:
      The saved info dictionary (also classifier.json).
    """
    architecture = check_architecture(kind, architecture)
    _check_labels(source)
    height, width_px, _ = source.frame_shape
    if height != width_px:
        raise ValueError(f"frames must be square, got {source.frame_shape}")
    dataset = dataset or source.name
    name = name or default_name(dataset, kind, architecture)
    num_classes = len(source.class_names)
    keras.utils.set_random_seed(seed)
    if kind == "image":
        model = build_image_classifier(num_classes, height, width, name=name)
    elif architecture == "stacked2d":
        model = build_stacked_classifier(num_classes, height, clip_length, width, name=name)
    else:
        model = build_video_classifier(num_classes, height, clip_length, width, name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, beta_1=0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    train = make_classifier_dataset(source, kind, clip_length=clip_length, every_nth=every_nth,
                                    batch_size=batch_size, seed=seed)
    history = model.fit(train, steps_per_epoch=steps, epochs=1, verbose=verbose,
                        shuffle=False)
    info = {
        "format_version": FORMAT_VERSION, "name": name, "kind": kind,
        "architecture": architecture, "dataset": dataset,
        "class_names": list(source.class_names), "image_size": int(height),
        "clip_length": int(clip_length) if kind == "video" else 1,
        "every_nth": int(every_nth) if kind == "video" else 1,
        "feature_dim": int(model.get_layer("features").output.shape[-1]),
        "steps": int(steps), "batch_size": int(batch_size), "learning_rate": learning_rate,
        "width": int(width), "seed": int(seed), "num_train_videos": len(source),
        "train_loss_mean": float(history.history["loss"][-1]),
    }
    # Accuracies of the trained network (inference-mode BatchNorm), not running means.
    check = make_classifier_dataset(source, kind, clip_length=clip_length, every_nth=every_nth,
                                    batch_size=batch_size, seed=seed + 2)
    info["train_accuracy"] = float(model.evaluate(check, steps=validation_batches, verbose=0)[1])
    if validation_source is not None and len(validation_source):
        _check_labels(validation_source)
        val = make_classifier_dataset(validation_source, kind, clip_length=clip_length,
                                      every_nth=every_nth, batch_size=batch_size, seed=seed + 1)
        loss, accuracy = model.evaluate(val, steps=validation_batches, verbose=0)
        info.update(validation_accuracy=float(accuracy), validation_loss=float(loss),
                    num_validation_videos=len(validation_source))
    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, MODEL_FILE))
    with open(os.path.join(output_dir, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)
    logging.info("classifier %s: %s", name, {k: v for k, v in info.items() if "accuracy" in k})
    return info


def preprocess(videos, image_size: int):
    """uint8 [N, (T,) H, W, 3] -> float32 in [-1, 1] at image_size x image_size."""
    x = tf.cast(tf.convert_to_tensor(videos), tf.float32)
    if x.shape[-3] != image_size or x.shape[-2] != image_size:
        shape = tf.shape(x)
        frames = tf.reshape(x, tf.concat([[-1], shape[-3:]], axis=0))
        frames = tf.image.resize(frames, [image_size, image_size], method="bilinear")
        x = tf.reshape(frames, tf.concat([shape[:-3], [image_size, image_size, 3]], axis=0))
    return x / 127.5 - 1.0


class ClassifierExtractor(Extractor):
    """A trained dataset classifier: penultimate features and class logits."""

    def __init__(self, model: keras.Model, info: dict, batch_size: int = 32):
        two_outputs = keras.Model(model.inputs, [model.get_layer("features").output,
                                                 model.output])
        size = int(info["image_size"])
        kind = info["kind"]
        super().__init__(two_outputs, lambda v: preprocess(v, size), name=info["name"],
                         kind=kind, num_frames=info["clip_length"] if kind == "video" else None,
                         class_names=info["class_names"], batch_size=batch_size,
                         feature_dim=int(info["feature_dim"]),
                         num_classes=len(info["class_names"]))
        self.info = info
        self.architecture = info.get("architecture") or ARCHITECTURES[kind][0]
        self.classifier = model


def load_classifier(path: str, batch_size: int = 32) -> ClassifierExtractor:
    """The classifier saved in folder ``path`` by ``train_classifier``."""
    model_path = os.path.join(path or "", MODEL_FILE)
    info_path = os.path.join(path or "", INFO_FILE)
    if not path or not (os.path.exists(model_path) and os.path.exists(info_path)):
        raise WeightsMissingError(
            f"No trained classifier at {path!r} ({MODEL_FILE} and {INFO_FILE} expected). "
            "Train one with bin/train_evaluator --dataset=... --kind=video|image "
            "--output_dir=/path/to/classifier and pass that folder.")
    with open(info_path) as f:
        info = json.load(f)
    model = keras.saving.load_model(model_path, compile=False)
    return ClassifierExtractor(model, info, batch_size=batch_size)


@register_extractor("classifier")
def classifier_extractor(path=None, **kwargs) -> ClassifierExtractor:
    return load_classifier(path, **kwargs)
