"""Parzen-window log-likelihood, and the multi-scale (Laplacian-pyramid) estimator.

Seed 002, section 4.4.1 (LAPGAN), after Goodfellow et al. (2014): a model
that can only be sampled gets a log-likelihood estimate by placing an
isotropic Gaussian of width sigma on each of N generated samples,

    log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log N - (d/2) log(2 pi sigma^2),

with sigma chosen on a validation split and the mean (and std) over a test
split reported in nats per example. Pixels are taken in [0, 1] (the scale
changes the numbers by d log(scale): compare like with like).

The multi-scale estimator splits an image x into a coarse image l = d(x)
and a high pass h by an orthonormal map per 2x2 block (one low-pass
coefficient, 2 x the block mean, and three detail coefficients spanning the
range of "remove the block mean"): the seed's unitary x -> (l, h), so that
densities of (l, h) are densities of x. Recursing K times,

    log p(x) = log q_K(l_K) + sum_{k<K} log q_k(h_k | l_{k+1}),

each q a Parzen window with its own sigma (chosen per level on the
validation split: the level terms are separate functions of their sigmas,
so this maximises the total). Centres:

* q_k(h | l): the seed samples N high passes from the model *given the true
  low pass l* (a LAPGAN's conditional refinement). A model that can do that
  passes ``highpass_fn``; an unconditional generator (every model here) uses
  the level-k high passes of its own samples for every x, i.e. the levels
  are taken as independent. That is the one deviation from the seed, and is
  recorded in the result (``"conditional": false``).
* q_K(l_K): coarsened generated samples (``coarse_centres``); the seed's text
  says "coarsened training samples", which would make this factor
  independent of the model; pass them to follow the text literally.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

DEFAULT_SIGMAS = tuple(float(s) for s in np.logspace(-2, 0, 21))


def _flat(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x.reshape(len(x), -1)


def log_parzen(x, centres, sigma: float, chunk: int = 256) -> np.ndarray:
    """log p(x) of each row of ``x`` under the Parzen window on ``centres``.

    Args:
      x: [M, ...] points; centres: [N, ...] (same trailing shape).
    Returns:
      float64 [M] log-densities in nats.
    """
    return log_parzen_multi(x, centres, [sigma], chunk)[:, 0]


CENTRE_CHUNK = 2048


def log_parzen_multi(x, centres, sigmas: Sequence[float], chunk: int = 256,
                     centre_chunk: int = CENTRE_CHUNK) -> np.ndarray:
    """``log_parzen`` for several sigmas at once (distances computed once): [M, len(sigmas)].

    Streams over the centres: ``centres`` stays in its own dtype (float32 or
    uint8 samples are not copied to float64 as a whole), each block of
    ``centre_chunk`` centres is converted to float64 and folded into a running
    log-sum-exp per point and sigma, so 50,000 centres of 32x32x3 need the
    centres themselves plus a few blocks of [chunk, centre_chunk] float64.
    """
    x = _flat(x)
    centres = np.asarray(centres)
    c = centres.reshape(len(centres), -1)
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"points have {x.shape[1]} dimensions, centres {c.shape[1]}")
    n, d = c.shape
    sigmas = np.asarray(sigmas, np.float64)
    scale = -1.0 / (2.0 * sigmas * sigmas)                       # [S]
    x_sq = np.sum(x * x, axis=1)
    top = np.full([len(x), len(sigmas)], -np.inf)                # running max of the exponents
    total = np.zeros([len(x), len(sigmas)])                      # sum of exp(exponent - top)
    for c_start in range(0, n, centre_chunk):
        cb = np.asarray(c[c_start:c_start + centre_chunk], np.float64)
        cb_sq = np.sum(cb * cb, axis=1)
        for start in range(0, len(x), chunk):
            xb = x[start:start + chunk]
            d2 = np.maximum(x_sq[start:start + chunk, None] + cb_sq[None] - 2.0 * xb @ cb.T, 0.0)
            for j in range(len(sigmas)):
                a = d2 * scale[j]
                m = np.maximum(top[start:start + chunk, j], a.max(axis=1))
                total[start:start + chunk, j] = (
                    total[start:start + chunk, j] * np.exp(top[start:start + chunk, j] - m)
                    + np.exp(a - m[:, None]).sum(axis=1))
                top[start:start + chunk, j] = m
    return (top + np.log(total) - math.log(n)
            - 0.5 * d * np.log(2.0 * math.pi * sigmas * sigmas)[None])


def _conditional_log_parzen_multi(x, centres_per_point, sigmas) -> np.ndarray:
    """Parzen log-densities where every point has its own centres [M, N, ...]."""
    return np.concatenate([log_parzen_multi(x[i:i + 1], centres_per_point[i], sigmas)
                           for i in range(len(x))])


def _choose(val_ll: np.ndarray, sigmas) -> tuple:
    means = val_ll.mean(axis=0)
    best = int(np.nanargmax(means))
    return best, {f"{s:.4g}": float(m) for s, m in zip(sigmas, means)}


def _stats(ll: np.ndarray) -> dict:
    return {"mean": float(ll.mean()), "std": float(ll.std()),
            "stderr": float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else None,
            "num_test": int(len(ll))}


def parzen_evaluate(centres, validation, test, sigmas: Sequence[float] = DEFAULT_SIGMAS) -> dict:
    """The protocol: sigma maximising the mean validation log-likelihood, then the test.

    Returns a dict: mean/std/stderr of the test log-likelihoods (nats), the
    chosen sigma, the validation mean for every sigma tried, whether the
    choice sits at the edge of the grid (widen it), and the dimension.
    """
    best, tried = _choose(log_parzen_multi(validation, centres, sigmas), sigmas)
    ll = log_parzen(test, centres, sigmas[best])
    return {**_stats(ll), "sigma": float(sigmas[best]), "validation_by_sigma": tried,
            "sigma_at_grid_edge": best in (0, len(sigmas) - 1),
            "num_centres": int(len(centres)), "dim": int(_flat(centres[:1]).shape[1]),
            "units": "nats per example, pixels in [0, 1]"}


# Multi-scale ---------------------------------------------------------------------
def haar_split(x) -> tuple:
    """Orthonormal split of images [..., H, W, C] (H, W even) into (low, high).

    low [..., H/2, W/2, C] is 2 x the mean of each 2x2 block (= d(x) scaled to
    keep the map unitary); high [..., H/2, W/2, C, 3] are the three detail
    coefficients of each block, an orthonormal basis of the range of the
    seed's u ("remove the block mean").
    """
    x = np.asarray(x, np.float64)
    h, w = x.shape[-3], x.shape[-2]
    if h % 2 or w % 2:
        raise ValueError(f"images of {h}x{w} cannot be halved")
    a, b = x[..., 0::2, 0::2, :], x[..., 0::2, 1::2, :]
    c, d = x[..., 1::2, 0::2, :], x[..., 1::2, 1::2, :]
    low = (a + b + c + d) / 2.0
    high = np.stack([(a - b + c - d) / 2.0, (a + b - c - d) / 2.0, (a - b - c + d) / 2.0], -1)
    return low, high


def haar_merge(low, high) -> np.ndarray:
    """Inverse of ``haar_split``."""
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    h1, h2, h3 = high[..., 0], high[..., 1], high[..., 2]
    a = (low + h1 + h2 + h3) / 2.0
    b = (low - h1 + h2 - h3) / 2.0
    c = (low + h1 - h2 - h3) / 2.0
    d = (low - h1 - h2 + h3) / 2.0
    shape = list(low.shape)
    shape[-3] *= 2
    shape[-2] *= 2
    x = np.empty(shape)
    x[..., 0::2, 0::2, :], x[..., 0::2, 1::2, :] = a, b
    x[..., 1::2, 0::2, :], x[..., 1::2, 1::2, :] = c, d
    return x


def pyramid(x, levels: int) -> tuple:
    """([h_0 (finest), ..., h_{K-1}], l_K) of images [..., H, W, C]."""
    highs, low = [], np.asarray(x, np.float64)
    for _ in range(levels):
        low, high = haar_split(low)
        highs.append(high)
    return highs, low


def multiscale_evaluate(samples, validation, test, levels: int = 2,
                        sigmas: Sequence[float] = DEFAULT_SIGMAS,
                        coarse_centres=None,
                        highpass_fn: Optional[Callable] = None) -> dict:
    """Multi-scale Parzen log-likelihood of images [M, H, W, C] in [0, 1] (see module doc).

    Args:
      samples: generated images [N, H, W, C]: centres of every level.
      validation, test: held-out images; sigma of each level is chosen on validation.
      levels: K, the number of halvings (H and W divisible by 2^K).
      coarse_centres: centres of q_K (default: the samples' coarsest level).
      highpass_fn: ``(level, lowpass [M, ...]) -> [M, N0, ...]`` high passes
        drawn from the model given each true low pass (the seed's conditional
        sampling); None uses the samples' own high passes for every point.
    """
    h, w = np.shape(samples)[1:3]
    if levels < 1 or h % (2 ** levels) or w % (2 ** levels):
        raise ValueError(f"{levels} levels need H and W divisible by {2 ** levels}; got {h}x{w}")
    s_high, s_low = pyramid(samples, levels)
    if coarse_centres is not None:
        s_low = pyramid(coarse_centres, levels)[1]
    v_high, v_low = pyramid(validation, levels)
    t_high, t_low = pyramid(test, levels)
    v_lows = [pyramid(validation, k)[1] for k in range(1, levels + 1)]
    t_lows = [pyramid(test, k)[1] for k in range(1, levels + 1)]

    per_level, total = [], np.zeros(len(t_low))
    for k in range(levels):
        if highpass_fn is None:
            val = log_parzen_multi(v_high[k], s_high[k], sigmas)
            best, tried = _choose(val, sigmas)
            ll = log_parzen(t_high[k], s_high[k], sigmas[best])
        else:
            val = _conditional_log_parzen_multi(v_high[k], highpass_fn(k, v_lows[k]), sigmas)
            best, tried = _choose(val, sigmas)
            ll = _conditional_log_parzen_multi(t_high[k], highpass_fn(k, t_lows[k]),
                                               [sigmas[best]])[:, 0]
        total += ll
        per_level.append({"level": k, "part": "high pass",
                          "dim": int(_flat(t_high[k][:1]).shape[1]),
                          "sigma": float(sigmas[best]), "mean": float(ll.mean()),
                          "sigma_at_grid_edge": best in (0, len(sigmas) - 1)})
    val = log_parzen_multi(v_low, s_low, sigmas)
    best, _ = _choose(val, sigmas)
    ll = log_parzen(t_low, s_low, sigmas[best])
    total += ll
    per_level.append({"level": levels, "part": "low pass", "dim": int(_flat(t_low[:1]).shape[1]),
                      "sigma": float(sigmas[best]), "mean": float(ll.mean()),
                      "sigma_at_grid_edge": best in (0, len(sigmas) - 1)})
    return {**_stats(total), "levels": per_level, "num_levels": levels,
            "conditional": highpass_fn is not None,
            "coarse_centres": "given" if coarse_centres is not None else "samples",
            "num_centres": int(len(samples)),
            "units": "nats per example, pixels in [0, 1]"}
