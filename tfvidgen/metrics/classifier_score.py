"""Classifier score (Inception Score with any classifier) from logits.

``classifier_score`` is TF-GAN's ``classifier_score_from_logits``:
``exp(E_x[KL(p(y|x) || p(y))])`` with p(y|x) = softmax(logits), p(y) the
mean of p(y|x) over the set, log p(y|x) taken as log-softmax of the logits,
float64 inside. It lies in [1, number of classes].

``classifier_score_splits`` is the protocol of Salimans et al. (2016) that
the seeds report ("IS 10 splits"): the set is cut into ``num_splits``
consecutive parts, the score computed on each, and the mean and standard
deviation (numpy's, ddof=0) of the part scores returned.
"""
from __future__ import annotations

import numpy as np

from tfvidgen.metrics.frechet import as_float64_matrix


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def classifier_score(logits) -> float:
    """exp(mean KL(p(y|x) || p(y))) over logits [N, C]; a Python float."""
    logits = as_float64_matrix(logits, "logits")
    if logits.shape[0] < 1:
        raise ValueError("classifier_score needs at least one row of logits")
    log_p = _log_softmax(logits)
    p = np.exp(log_p)
    q = p.mean(axis=0)
    kl = np.sum(p * (log_p - np.log(q)), axis=1)
    return float(np.exp(kl.mean()))


def classifier_score_splits(logits, num_splits: int = 10):
    """(mean, std) of ``classifier_score`` over ``num_splits`` consecutive parts.

    Part i holds rows ``[i * N // num_splits, (i + 1) * N // num_splits)``,
    as in the original Inception Score code.
    """
    logits = as_float64_matrix(logits, "logits")
    n = logits.shape[0]
    if num_splits < 1 or num_splits > n:
        raise ValueError(f"num_splits must be in [1, {n}] for {n} rows, got {num_splits}")
    scores = [classifier_score(logits[i * n // num_splits:(i + 1) * n // num_splits])
              for i in range(num_splits)]
    return float(np.mean(scores)), float(np.std(scores))
