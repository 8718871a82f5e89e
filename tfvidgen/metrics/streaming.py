"""Running mean and covariance, so FD over many videos never holds them all.

``StreamingMoments.update`` folds in a batch of activations [B, D] with the
pairwise (Chan et al.) update in float64: the mean and the sum of squared
deviations M2 are merged exactly, so the statistics equal the batch ones up
to rounding whatever the batch sizes. Memory is O(D^2).
"""
from __future__ import annotations

import numpy as np

from tfvidgen.metrics.frechet import as_float64_matrix


class StreamingMoments:
    """Mean and unbiased covariance of a stream of [B, D] activation batches."""

    def __init__(self, dim: int | None = None):
        self.count = 0
        self._mean = None
        self._m2 = None
        if dim is not None:
            self._init(int(dim))

    def _init(self, dim):
        self._mean = np.zeros([dim], np.float64)
        self._m2 = np.zeros([dim, dim], np.float64)

    @property
    def dim(self):
        return None if self._mean is None else self._mean.shape[0]

    def update(self, activations) -> "StreamingMoments":
        x = as_float64_matrix(activations)
        if self._mean is None:
            self._init(x.shape[1])
        elif x.shape[1] != self.dim:
            raise ValueError(f"activation size {x.shape[1]} != {self.dim} of earlier batches")
        b = x.shape[0]
        if b == 0:
            return self
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_m2 = centred.T @ centred
        total = self.count + b
        delta = batch_mean - self._mean
        self._mean = self._mean + delta * (b / total)
        self._m2 = self._m2 + batch_m2 + np.outer(delta, delta) * (self.count * b / total)
        self.count = total
        return self

    def merge(self, other: "StreamingMoments") -> "StreamingMoments":
        """Folds in another stream's statistics (e.g. from another worker)."""
        if other.count == 0:
            return self
        if self.count == 0:
            self.count, self._mean, self._m2 = other.count, other._mean.copy(), other._m2.copy()
            return self
        total = self.count + other.count
        delta = other._mean - self._mean
        self._mean = self._mean + delta * (other.count / total)
        self._m2 = self._m2 + other._m2 + np.outer(delta, delta) * (
            self.count * other.count / total)
        self.count = total
        return self

    @property
    def mean(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no activations seen yet")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"need at least 2 activations for a covariance, got {self.count}")
        return self._m2 / (self.count - 1)

    def save(self, path) -> None:
        """Writes count, mean and covariance to an .npz (reusable real-data statistics)."""
        np.savez(path, count=self.count, mean=self.mean, covariance=self.covariance)

    @classmethod
    def load(cls, path) -> "StreamingMoments":
        with np.load(path) as d:
            m = cls()
            m.count = int(d["count"])
            m._mean = np.asarray(d["mean"], np.float64)
            m._m2 = np.asarray(d["covariance"], np.float64) * (m.count - 1)
        return m
