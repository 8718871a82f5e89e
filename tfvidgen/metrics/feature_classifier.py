"""Classification from DRNet's content or pose vectors (seed 002, section 5.2.2).

"We train a two layer classifier network S on top of either h_c or h_p":
a fully connected network with 256 hidden units per layer, each with batch
normalisation, Leaky ReLU and dropout, trained with Adam and early stopping
on a validation set (section 5.3.2). On KTH, the pose vectors of a 24-frame
sequence, concatenated, classify the action from few labelled examples
(Figure 5.8); on NORB, h_c classifies the object.

``video_features`` turns the labelled videos of a source into feature
vectors with a trained DRNet task (``drnet`` or ``drnet_lstm``);
``train_classifier`` fits S and reports accuracies.
"""
from __future__ import annotations

import itertools
from typing import Dict, Optional

import keras
import numpy as np

from tfvidgen.data.sources import VideoSource


def build_classifier(num_features: int, num_classes: int, hidden: int = 256,
                     dropout: float = 0.5) -> keras.Model:
    """S: 2 x (Dense(hidden) + BatchNorm + LeakyReLU(0.2) + Dropout), then the logits."""
    layers = keras.layers
    x = inputs = keras.Input([num_features])
    for i in range(2):
        x = layers.Dense(hidden, name=f"dense_{i}")(x)
        x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="classifier")


def select_per_class(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class (all when 0), seeded."""
    labels = np.asarray(labels)
    if per_class <= 0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        chosen.extend(rng.permutation(where)[:per_class])
    return np.sort(np.array(chosen, np.int64))


def video_features(task, source: VideoSource, which: str, num_frames: int,
                   every_nth: int = 1, max_videos: int = 0, batch_size: int = 32):
    """Features and labels of a source's labelled videos.

    Each video gives its first ``num_frames`` frames (every ``every_nth``);
    ``pose``: their pose vectors concatenated [num_frames * |h_p|];
    ``content``: the content vector of the first frame [|h_c|]. Videos
    shorter than that, and unlabelled ones, are left out.

    Returns (features float32 [N, D], labels int64 [N]).
    """
    from tfvidgen.models.drnet import pose_sequence_features

    if which not in ("pose", "content"):
        raise ValueError(f"features must be 'pose' or 'content', got {which!r}")
    span = (num_frames - 1) * every_nth + 1
    # Stop at max_videos: a generated source (Moving MNIST) can hold a million videos.
    usable = (i for i in range(len(source))
              if source.label(i) >= 0 and source.num_frames(i) >= span)
    indices = list(itertools.islice(usable, max_videos or None))
    if not indices:
        raise ValueError(f"{source.name}: no labelled videos of >= {span} frames "
                         "(the classifier needs a dataset with classes, e.g. kth)")
    features, frames = [], np.arange(0, span, every_nth)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        clips = np.stack([source.read(i, frames) for i in chunk]).astype(np.float32)
        features.append(pose_sequence_features(task, clips / 127.5 - 1.0, which))
    labels = np.array([source.label(i) for i in indices], np.int64)
    return np.concatenate(features).astype(np.float32), labels


def train_classifier(x_train, y_train, x_test, y_test, num_classes: int, *, epochs: int = 200,
                     batch_size: int = 32, learning_rate: float = 1e-3, hidden: int = 256,
                     dropout: float = 0.5, validation_fraction: float = 0.2,
                     patience: int = 20, seed: int = 0) -> Dict[str, object]:
    """Fits S with Adam; early stopping on a held-out ``validation_fraction`` of the
    training examples (when there are at least 10 of them).

    Returns a report: accuracies (train, validation, test), counts, epochs run.
    """
    keras.utils.set_random_seed(seed)
    x_train, y_train = np.asarray(x_train, np.float32), np.asarray(y_train, np.int64)
    model = build_classifier(x_train.shape[1], num_classes, hidden, dropout)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(x_train))
    n_val = int(len(order) * validation_fraction) if len(order) >= 10 else 0
    val, fit = order[:n_val], order[n_val:]
    callbacks, validation = [], None
    if n_val:
        validation = (x_train[val], y_train[val])
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=patience, restore_best_weights=True))
    history = model.fit(x_train[fit], y_train[fit], batch_size=batch_size, epochs=epochs,
                        validation_data=validation, callbacks=callbacks, verbose=0)

    def accuracy(x, y) -> Optional[float]:
        if x is None or len(x) == 0:
            return None
        logits = model.predict(np.asarray(x, np.float32), batch_size=256, verbose=0)
        return float(np.mean(np.argmax(logits, -1) == np.asarray(y)))

    return {"train_accuracy": accuracy(x_train[fit], y_train[fit]),
            "validation_accuracy": accuracy(*validation) if validation else None,
            "test_accuracy": accuracy(x_test, y_test),
            "num_train": int(len(fit)), "num_validation": int(n_val),
            "num_test": int(0 if x_test is None else len(x_test)),
            "num_features": int(x_train.shape[1]), "num_classes": int(num_classes),
            "epochs_run": len(history.history["loss"]),
            "chance": 1.0 / num_classes}
