"""Feature extractors: uint8 videos (or images) -> activations and logits.

Every extractor has the same interface, so that the evaluation protocols
(FVD, FD, IS, ...) take any of them:

    extractor = get_extractor("i3d", "/path/to/i3d-kinetics-400_1")
    feats = extractor.activations(videos)    # float32 [N, D]
    logits = extractor.logits(videos)        # float32 [N, C]
    feats, logits = extractor.activations_and_logits(videos)   # one pass
    real = extractor.moments(batches_of_real_videos)  # StreamingMoments, any N

``videos`` are uint8 [N, T, H, W, 3] for video extractors (``kind ==
"video"``) and uint8 [N, H, W, 3] for image extractors (``kind ==
"image"``), numpy arrays or tensors; each extractor resizes and normalises
them as its reference protocol does. ``extractor.name`` ("i3d", "c3d", a
dataset classifier's name) goes into metric names
(``tfvidgen.metrics.metric_name``).

Registered extractors (``get_extractor(name, path)``):

* ``i3d``: Inception-v1 I3D, Kinetics-400 logits as in the FVD reference
  (``tfvidgen.metrics.i3d``); ``i3d-pool``: its 1024-d pooled features.
* ``c3d``: C3D fine-tuned on UCF101 as in TGAN (``tfvidgen.metrics.c3d``).
* ``classifier``: a dataset classifier trained by ``bin/train_evaluator``
  (``tfvidgen.metrics.classifiers``); ``path`` is its output folder.

Nothing downloads: a missing weight file raises ``WeightsMissingError``
saying what to get and which flag points at it.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import numpy as np

from tfvidgen.registry import Registry

EXTRACTORS = Registry("feature extractor")
register_extractor = EXTRACTORS.register


class WeightsMissingError(FileNotFoundError):
    """A pretrained network's weights are not where the flag points.

    The message says what to download, and which flag to pass.
    """


def cache_dir() -> str:
    """Where converted weights are written: $TFVIDGEN_CACHE or ~/.cache/tfvidgen."""
    return os.environ.get("TFVIDGEN_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tfvidgen")


def _to_numpy_uint8(videos, rank: int, what: str) -> np.ndarray:
    if hasattr(videos, "numpy"):
        videos = videos.numpy()
    videos = np.asarray(videos)
    if videos.dtype != np.uint8:
        raise TypeError(
            f"{what} expects uint8 pixels in [0, 255], got {videos.dtype}; convert generator "
            "output in [-1, 1] with tfvidgen.models.base.to_uint8 first.")
    if videos.ndim != rank or videos.shape[-1] != 3:
        layout = "[N, T, H, W, 3]" if rank == 5 else "[N, H, W, 3]"
        raise ValueError(f"{what} expects uint8 {layout}, got shape {videos.shape}")
    return videos


class Extractor:
    """A Keras network with two outputs (features, logits) and its preprocessing.

    Args:
      model: maps preprocessed float inputs to ``(features [B, D], logits [B, C])``.
      preprocess: maps a uint8 batch tensor to the model's float input.
      name: used in metric names.
      kind: "video" (inputs [N, T, H, W, 3]) or "image" (inputs [N, H, W, 3]).
      num_frames: clip length the network expects (None: any length).
      class_names: names of the logits' classes, when known.
      batch_size: default number of videos per forward pass.
      feature_dim, num_classes: sizes of the two outputs (D and C).
    """

    def __init__(self, model, preprocess: Callable, name: str, kind: str = "video",
                 num_frames: Optional[int] = None, class_names: Sequence[str] = (),
                 batch_size: int = 16, feature_dim: Optional[int] = None,
                 num_classes: Optional[int] = None):
        import tensorflow as tf
        if kind not in ("video", "image"):
            raise ValueError(f"kind must be 'video' or 'image', got {kind!r}")
        self.model = model
        self.name = name
        self.kind = kind
        self.num_frames = num_frames
        self.class_names = tuple(class_names)
        self.batch_size = int(batch_size)
        self.feature_dim = feature_dim
        self.num_classes = num_classes if num_classes is not None else (
            len(self.class_names) or None)
        self._preprocess = preprocess

        def forward(batch):
            features, logits = model(preprocess(batch), training=False)
            return tf.cast(features, tf.float32), tf.cast(logits, tf.float32)

        self._forward = tf.function(forward, reduce_retracing=True)

    @property
    def input_rank(self) -> int:
        return 5 if self.kind == "video" else 4

    def _check(self, videos) -> np.ndarray:
        videos = _to_numpy_uint8(videos, self.input_rank, f"extractor {self.name!r}")
        if self.num_frames is not None and videos.shape[1] != self.num_frames:
            raise ValueError(f"extractor {self.name!r} takes clips of {self.num_frames} frames, "
                             f"got {videos.shape[1]}")
        return videos

    def activations_and_logits(self, videos, batch_size: Optional[int] = None):
        """(float32 [N, D], float32 [N, C]) in one pass over ``videos``."""
        videos = self._check(videos)
        batch_size = int(batch_size or self.batch_size)
        features, logits = [], []
        for start in range(0, videos.shape[0], batch_size):
            f, lg = self._forward(videos[start:start + batch_size])
            features.append(f.numpy())
            logits.append(lg.numpy())
        if not features:
            raise ValueError(f"extractor {self.name!r}: no videos given")
        return np.concatenate(features), np.concatenate(logits)

    def activations(self, videos, batch_size: Optional[int] = None) -> np.ndarray:
        """Features [N, D] (float32) for Frechet distances."""
        return self.activations_and_logits(videos, batch_size)[0]

    def logits(self, videos, batch_size: Optional[int] = None) -> np.ndarray:
        """Class logits [N, C] (float32) for classifier scores."""
        return self.activations_and_logits(videos, batch_size)[1]

    def moments(self, batches, moments=None):
        """Running mean/covariance of the activations of an iterable of batches.

        For Frechet distances over more videos than fit in memory: pass a
        generator of uint8 batches; returns a ``StreamingMoments`` (updated in
        place when given) for ``frechet_distance_from_moments``.
        """
        from tfvidgen.metrics.streaming import StreamingMoments
        moments = StreamingMoments() if moments is None else moments
        for batch in batches:
            moments.update(self.activations(batch))
        return moments

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r}, "
                f"num_frames={self.num_frames})")


def get_extractor(name: str, path: Optional[str] = None, **kwargs) -> Extractor:
    """The extractor registered as ``name``, with weights from ``path``.

    ``get_extractor("i3d", "/data/i3d-kinetics-400_1")``,
    ``get_extractor("c3d", "/data/conv3d_deepnetA_ucf.npz", mean_path=...)``,
    ``get_extractor("classifier", "runs/expr_classifier")``. A folder written
    by ``bin/train_evaluator`` may also be passed as ``name`` alone.
    Raises WeightsMissingError when the weights are absent.
    """
    _load_builtin()
    if name not in EXTRACTORS and path is None and os.path.isdir(name):
        name, path = "classifier", name
    return EXTRACTORS.get(name)(path, **kwargs)


def names():
    _load_builtin()
    return EXTRACTORS.names()


def _load_builtin():
    from tfvidgen.metrics import c3d, classifiers, i3d  # noqa: F401  (register themselves)


def define_flags(flag_values=None) -> None:
    """Defines --i3d_path, --c3d_path and --c3d_mean_path (idempotent).

    For command-line programs (bin/evaluate) that compute FVD or C3D scores.
    """
    from absl import flags
    flag_values = flag_values or flags.FLAGS
    defs = [
        ("i3d_path", "Local copy of the deepmind/i3d-kinetics-400 TF Hub model (the folder "
                     "holding saved_model.pb) or an i3d .weights.h5 written by an earlier "
                     "conversion; needed for FVD."),
        ("c3d_path", "C3D weights fine-tuned on UCF101 (TGAN's conv3d_deepnetA_ucf.npz or a "
                     "c3d .weights.h5); needed for C3D Inception Scores."),
        ("c3d_mean_path", "Mean clip of C3D's training data (TGAN's mean2.npz); default: "
                          "per-channel Sports-1M means."),
    ]
    for name, help_text in defs:
        if name not in flag_values:
            flags.DEFINE_string(name, None, help_text, flag_values=flag_values)
