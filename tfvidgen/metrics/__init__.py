"""Evaluation maths and feature extractors (FVD, FID/FD, Inception Score).

Core maths (numpy, float64 inside, numpy arrays or tensors in):

* ``frechet_distance(real_activations, fake_activations)`` -> float
* ``frechet_distance_from_moments(m1, m2)`` -> float
* ``classifier_score(logits)`` -> float
* ``classifier_score_splits(logits, num_splits=10)`` -> (mean, std)
* ``StreamingMoments``: running mean / covariance (``update``, ``mean``,
  ``covariance``, ``count``)

These follow TF-GAN's definitions (``frechet_classifier_distance_from_
activations``, ``classifier_score_from_logits``); TF-GAN itself cannot be
imported on TensorFlow 2.16+.

Feature extractors live in ``tfvidgen.metrics.extractors`` (I3D for FVD,
C3D, dataset classifiers); ``metric_name`` builds names that carry the
protocol, e.g. ``fvd_i3d_2048v_16f``.
"""
from __future__ import annotations

from tfvidgen.metrics.classifier_score import classifier_score, classifier_score_splits
from tfvidgen.metrics.frechet import (frechet_distance, frechet_distance_from_moments,
                                      frechet_distance_from_statistics, trace_sqrt_product)
from tfvidgen.metrics.streaming import StreamingMoments

__all__ = ["frechet_distance", "frechet_distance_from_moments",
           "frechet_distance_from_statistics", "trace_sqrt_product", "classifier_score",
           "classifier_score_splits", "StreamingMoments", "metric_name"]


def metric_name(metric: str, extractor: str, *, num_videos: int | None = None,
                num_images: int | None = None, num_frames: int | None = None,
                num_splits: int | None = None, split_size: int | None = None) -> str:
    """A metric name that carries its protocol (a number without one is not comparable).

    ``metric``: "fvd", "fd", "fid", "is", ... ; ``extractor``: the
    extractor's ``name`` ("i3d", "c3d", a classifier's name). Then the sample
    size ("2048v" videos or "5000i" images, or "10x128" for num_splits x
    split_size) and the clip length ("16f").

        metric_name("fvd", "i3d", num_videos=2048, num_frames=16)  # fvd_i3d_2048v_16f
        metric_name("is", "expr", num_splits=10, split_size=128)   # is_expr_10x128
    """
    import re
    parts = [metric, re.sub(r"[^0-9A-Za-z]+", "-", extractor).strip("-").lower()]
    if num_splits is not None:
        if split_size is None:
            raise ValueError("num_splits needs split_size")
        parts.append(f"{int(num_splits)}x{int(split_size)}")
    elif num_videos is not None:
        parts.append(f"{int(num_videos)}v")
    elif num_images is not None:
        parts.append(f"{int(num_images)}i")
    if num_frames is not None:
        parts.append(f"{int(num_frames)}f")
    return "_".join(parts)
