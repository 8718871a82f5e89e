"""Frechet distance between Gaussians fitted to activations (FID, FVD, FD).

The definition is TF-GAN's ``frechet_classifier_distance_from_activations``
(tensorflow-gan 2.1), which FVD (Unterthiner et al. 2018) and FID
(Heusel et al. 2017) use:

    FD = |m - m_w|^2 + Tr(C + C_w - 2 (C C_w)^(1/2))

with sample means m, m_w and unbiased (n - 1) sample covariances C, C_w,
all in float64. ``Tr((C C_w)^(1/2))`` is computed as TF-GAN does
(``trace_sqrt_product``): with A = sqrt(C) (a symmetric square root by SVD
in which singular values below 1e-10 are not rooted), it is
``Tr(sqrt(A C_w A))``, since A C_w A is symmetric and has the eigenvalues of
C C_w. Values agree with TF-GAN's to better than 1e-7 relative error
(tests/test_metrics_core.py checks ../shared/reference/tfgan_eval_golden.npz).

Inputs may be numpy arrays, tensors or anything ``np.asarray`` takes.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-10


def as_float64_matrix(x, what="activations") -> np.ndarray:
    """numpy / tf.Tensor / list -> float64 [N, D] (rank checked)."""
    if hasattr(x, "numpy"):
        x = x.numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{what} must have rank 2 [N, D], got shape {x.shape}")
    return x


def symmetric_sqrtm(mat, eps: float = _EPS) -> np.ndarray:
    """Square root of a symmetric PSD matrix by SVD (TF-GAN's convention).

    Singular values below ``eps`` are kept as they are rather than rooted.
    """
    u, s, vt = np.linalg.svd(np.asarray(mat, np.float64))
    si = np.where(s < eps, s, np.sqrt(s))
    return (u * si) @ vt


def trace_sqrt_product(sigma, sigma_w) -> float:
    """Tr(sqrt(sigma sigma_w)) for symmetric PSD ``sigma``, ``sigma_w``."""
    a = symmetric_sqrtm(sigma)
    return float(np.trace(symmetric_sqrtm(a @ (np.asarray(sigma_w, np.float64) @ a))))


def frechet_distance_from_statistics(mean1, cov1, mean2, cov2) -> float:
    """FD between N(mean1, cov1) and N(mean2, cov2), as a Python float."""
    mean1 = np.asarray(mean1, np.float64)
    mean2 = np.asarray(mean2, np.float64)
    cov1 = np.asarray(cov1, np.float64)
    cov2 = np.asarray(cov2, np.float64)
    if mean1.shape != mean2.shape or cov1.shape != cov2.shape:
        raise ValueError(f"statistics of different sizes: means {mean1.shape} vs {mean2.shape}, "
                         f"covariances {cov1.shape} vs {cov2.shape}")
    trace = np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2)
    return float(trace + np.sum(np.square(mean1 - mean2)))


def mean_and_covariance(activations):
    """Sample mean and unbiased (n - 1) covariance of [N, D] activations (float64)."""
    x = as_float64_matrix(activations)
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 activations for a covariance, got {x.shape[0]}")
    mean = x.mean(axis=0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def frechet_distance(real_activations, fake_activations) -> float:
    """Frechet distance between two sets of activations [N, D] and [M, D].

    TF-GAN's ``frechet_classifier_distance_from_activations`` (float64
    inside); returns a Python float. Identical sets give 0 (up to rounding).
    """
    real = as_float64_matrix(real_activations, "real_activations")
    fake = as_float64_matrix(fake_activations, "fake_activations")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"activation sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    return frechet_distance_from_statistics(*mean_and_covariance(real),
                                            *mean_and_covariance(fake))


def frechet_distance_from_moments(m1, m2) -> float:
    """FD from two running statistics (``StreamingMoments``) or (mean, cov) pairs."""
    def stats(m):
        if hasattr(m, "mean") and hasattr(m, "covariance"):
            return m.mean, m.covariance
        mean, cov = m
        return mean, cov
    return frechet_distance_from_statistics(*stats(m1), *stats(m2))
