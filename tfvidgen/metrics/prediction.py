"""Video-prediction evaluation: best of N samples by SSIM (seed 002, section 6.3).

Denton's protocol for stochastic video prediction (SVG): condition on the
first ``n_past`` frames of each test sequence, draw ``num_samples`` (100)
futures of ``n_future`` frames, keep for each sequence the sample with the
best mean SSIM against the ground truth, and plot the mean per-timestep SSIM
and PSNR of the kept samples over the test sequences with 95% confidence
intervals. A deterministic model is the same protocol with one sample.

A model enters as a callable::

    predict_fn(context, num_future, seed) -> [B, num_future, H, W, C]

with ``context`` float [B, n_past, H, W, C] in [-1, 1] and an integer
``seed`` (same seed, same futures). ``task_predictor`` wraps a Task with a
``predict(context_frames, num_future, noise)`` method. Scores are computed on
frames mapped to [0, 1] (``tfvidgen.metrics.ssim``).

Confidence intervals are the normal approximation, mean +- 1.96 standard
errors over sequences (the sequences are independent; with the usual
hundreds of test sequences the t quantile is the same to three digits).
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Callable, Dict, Iterable, Optional

import numpy as np

from tfvidgen.metrics.ssim import frame_scores

Z95 = 1.959963984540054


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (one per (seed, batch, sample))."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & 0x7FFFFFFFFFFFFFFF


def mean_ci(values: np.ndarray, axis: int = 0):
    """(mean, half-width of the 95% normal CI) along ``axis``; NaN half-width for n < 2."""
    values = np.asarray(values, np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = Z95 * values.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean, half


def _clean(x):
    """numpy -> JSON-safe Python (NaN and inf become None)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


@dataclasses.dataclass
class PredictionResult:
    """Scores of the kept (best) sample of every test sequence."""
    n_past: int
    n_future: int
    num_samples: int
    select_by: str
    ssim: np.ndarray        # [num_sequences, n_future]
    psnr: np.ndarray        # [num_sequences, n_future]
    best_sample: np.ndarray  # [num_sequences] index of the kept sample
    examples: Optional[np.ndarray] = None  # [k, n_past + n_future, H, W, C] kept predictions
    truths: Optional[np.ndarray] = None    # [k, n_past + n_future, H, W, C] ground truth

    @property
    def num_sequences(self) -> int:
        return int(self.ssim.shape[0])

    @property
    def label(self) -> str:
        return f"best of {self.num_samples}" if self.num_samples > 1 else "1 sample"

    def summary(self) -> dict:
        """Per-timestep means and 95% CIs, and the means over all future frames."""
        out = {"protocol": {
            "n_past": self.n_past, "n_future": self.n_future,
            "num_samples": self.num_samples, "num_sequences": self.num_sequences,
            "select_by": (f"kept sample (examples): mean {self.select_by.upper()} over the "
                          f"{self.n_future} future frames; curves: SSIM of the best-SSIM "
                          "sample, PSNR of the best-PSNR sample"),
            "value_range": "[0, 1]", "ci": "95% normal approximation over sequences",
            "timesteps": list(range(self.n_past + 1, self.n_past + self.n_future + 1))}}
        for name, values in (("ssim", self.ssim), ("psnr", self.psnr)):
            mean, half = mean_ci(values)
            seq_mean, seq_half = mean_ci(values.mean(axis=1))
            out[name] = {"per_timestep": mean, "ci_low": mean - half, "ci_high": mean + half,
                         "mean": float(seq_mean), "mean_ci_halfwidth": float(seq_half)}
        return _clean(out)

    def to_json(self, path: str, extra: Optional[dict] = None) -> None:
        with open(path, "w") as f:
            json.dump({**self.summary(), **(extra or {})}, f, indent=2)


def best_of_n(predict_fn: Callable, sequences, n_past: int, n_future: int,
              num_samples: int = 100, seed: int = 0, batch_size: int = 16,
              select_by: str = "ssim", keep_examples: int = 0) -> PredictionResult:
    """Runs the best-of-N protocol over test sequences.

    Args:
      predict_fn: ``(context [B, n_past, H, W, C], num_future, seed) -> [B, n_future, H, W, C]``,
        floats in [-1, 1].
      sequences: float [-1, 1] array [M, >= n_past + n_future, H, W, C], or an
        iterable of such batches.
      num_samples: futures drawn per sequence (1: a deterministic model).
      seed: base seed; sample s of batch i gets ``derive_seed(seed, i, s)``.
      batch_size: sequences per call of ``predict_fn`` when ``sequences`` is an array.
      select_by: which score picks the kept prediction (``best_sample``,
        ``examples``). The curves follow the thesis ("the one with the best
        score"): the SSIM curve is the best SSIM sample's, the PSNR curve the
        best PSNR sample's, whatever ``select_by`` is.
      keep_examples: keep the kept predictions of the first k sequences (for GIFs).
    """
    if num_samples < 1 or n_past < 1 or n_future < 1:
        raise ValueError("num_samples, n_past and n_future must be >= 1")
    if select_by not in ("ssim", "psnr"):
        raise ValueError(f"select_by must be 'ssim' or 'psnr', got {select_by!r}")
    if isinstance(sequences, np.ndarray) or hasattr(sequences, "shape"):
        arr = np.asarray(sequences, np.float32)
        batches: Iterable = (arr[i:i + batch_size] for i in range(0, len(arr), batch_size))
    else:
        batches = sequences
    all_ssim, all_psnr, all_best, examples, truths = [], [], [], [], []
    for b, batch in enumerate(batches):
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 5 or batch.shape[1] < n_past + n_future:
            raise ValueError(f"test sequences must be [B, >= {n_past + n_future}, H, W, C] "
                             f"(n_past + n_future frames), got {batch.shape}")
        context = batch[:, :n_past]
        truth = batch[:, n_past:n_past + n_future]
        best_score = np.full([len(batch)], -np.inf)
        best_ssim_score = np.full([len(batch)], -np.inf)
        best_psnr_score = np.full([len(batch)], -np.inf)
        best_ssim = np.zeros([len(batch), n_future])
        best_psnr = np.zeros([len(batch), n_future])
        best_index = np.zeros([len(batch)], np.int64)
        best_pred = np.zeros_like(truth) if len(examples) < keep_examples else None
        for s in range(num_samples):
            pred = np.asarray(predict_fn(context, n_future, derive_seed(seed, b, s)), np.float32)
            if pred.shape != truth.shape:
                raise ValueError(f"predict_fn returned {pred.shape}, expected {truth.shape}")
            s_ssim, s_psnr = frame_scores(pred, truth)
            # Each curve keeps its own best sample: SSIM by SSIM, PSNR by PSNR.
            ssim_score, psnr_score = s_ssim.mean(axis=1), s_psnr.mean(axis=1)
            better_ssim, better_psnr = ssim_score > best_ssim_score, psnr_score > best_psnr_score
            best_ssim_score = np.where(better_ssim, ssim_score, best_ssim_score)
            best_psnr_score = np.where(better_psnr, psnr_score, best_psnr_score)
            best_ssim[better_ssim], best_psnr[better_psnr] = s_ssim[better_ssim], s_psnr[better_psnr]
            score = ssim_score if select_by == "ssim" else psnr_score
            better = score > best_score
            best_score = np.where(better, score, best_score)
            best_index[better] = s
            if best_pred is not None:
                best_pred[better] = pred[better]
        all_ssim.append(best_ssim)
        all_psnr.append(best_psnr)
        all_best.append(best_index)
        if best_pred is not None:
            examples.extend(np.concatenate([context, best_pred], axis=1))
            truths.extend(batch[:, :n_past + n_future])
    if not all_ssim:
        raise ValueError("no test sequences")
    k = keep_examples
    return PredictionResult(
        n_past=n_past, n_future=n_future, num_samples=num_samples, select_by=select_by,
        ssim=np.concatenate(all_ssim), psnr=np.concatenate(all_psnr),
        best_sample=np.concatenate(all_best),
        examples=np.stack(examples[:k]) if k and examples else None,
        truths=np.stack(truths[:k]) if k and truths else None)


def plot(results: Dict[str, PredictionResult], path: str, trained_horizon: Optional[int] = None,
         title: str = "") -> str:
    """SSIM and PSNR per timestep with shaded 95% CIs, one curve per result, as a PNG.

    Args:
      results: label -> result (e.g. {"SVG (best of 100)": r1, "deterministic": r2}).
      trained_horizon: draw a vertical bar at the last frame the model was
        trained to predict (the seed's figures 6.8 and 6.9).
    """
    return plot_summaries({label: r.summary() for label, r in results.items()}, path,
                          trained_horizon, title)


def load_summary(report_path: str, key: str = "ssim") -> dict:
    """The curves of a ``bin/evaluate`` report's prediction protocol (``details[key]``),
    for ``plot_summaries``: several runs' curves in one figure (Figure 6.5)."""
    with open(report_path) as f:
        report = json.load(f)
    details = report.get("details", {})
    if key not in details or "ssim" not in details[key]:
        raise ValueError(f"{report_path} has no {key!r} prediction curves: evaluate the run "
                         "with bin/evaluate --metrics=ssim")
    return details[key]


def plot_summaries(summaries: Dict[str, dict], path: str,
                   trained_horizon: Optional[int] = None, title: str = "") -> str:
    """``plot`` from ``PredictionResult.summary()`` dicts (e.g. ``load_summary`` of
    several reports): label -> summary."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    def array(values):   # JSON writes NaN as null
        return np.array([np.nan if v is None else v for v in values], np.float64)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, summary in summaries.items():
        x = summary["protocol"]["timesteps"]
        n = summary["protocol"]["num_sequences"]
        for ax, name in zip(axes, ("ssim", "psnr")):
            curve = summary[name]
            mean = array(curve["per_timestep"])
            low, high = array(curve["ci_low"]), array(curve["ci_high"])
            line, = ax.plot(x, mean, marker=".", label=f"{label} (n={n})")
            if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
                ax.fill_between(x, low, high, alpha=0.25, color=line.get_color(), linewidth=0)
    for ax, name in zip(axes, ("SSIM", "PSNR (dB)")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("time step (frame index)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if trained_horizon:
            ax.axvline(trained_horizon, color="black", linewidth=1)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "Prediction: mean over test sequences, 95% CI shaded")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def copy_last_frame(context, num_future, seed=None):
    """The still baseline as a ``predict_fn``: the last context frame, repeated."""
    del seed
    context = np.asarray(context)
    return np.repeat(context[:, -1:], int(num_future), axis=1)


def task_predictor(task) -> Callable:
    """``predict_fn`` from a Task with ``predict(context_frames, num_future, noise)``."""
    import tensorflow as tf

    from tfvidgen.models.base import StatelessNoise

    predict = getattr(task, "predict", None)
    if predict is None:
        raise ValueError(
            f"{type(task).__name__} does not predict frames: the prediction protocol "
            "(ssim/psnr) needs a Task with predict(context_frames, num_future, noise), "
            "e.g. SVG; unconditional generators are evaluated with fd, is, parzen, nn.")

    def predict_fn(context, num_future, seed):
        out = predict(tf.convert_to_tensor(context, tf.float32), int(num_future),
                      StatelessNoise(seed))
        return out.numpy() if hasattr(out, "numpy") else np.asarray(out)

    return predict_fn
