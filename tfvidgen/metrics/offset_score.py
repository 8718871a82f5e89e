"""Inception Score of generated windows against their offset (seed 002, section 5.3.3, Fig. 5.9).

DRNet's KTH evaluation: condition a predictor on ``n_past`` real frames,
generate ``horizon`` frames ahead, and score every ``window``-frame window
of the generated frames with a clip classifier (seed 002: an action
classifier whose input is the 10 frames stacked along channels,
``classifiers.build_stacked_classifier``); the Inception Score of each
window position over the N sequences is plotted against the window's
offset, "from the final frame of the conditioned input, of the first
generated frame used".

Offsets and frames: generated frame k (1-based) is k steps after the last
real frame, i.e. frame ``n_past + k - 1`` (0-based) of the sequence. The
window at offset ``o`` holds generated frames ``o .. o + window - 1``;
offsets are ``1, 1 + stride, ...`` while the window fits in the horizon
(``window_offsets``). The reference is the same windows of the real
sequences (frames ``n_past + o - 1 ..`` of the clips the context came
from), where the clips are that long.

The score of each offset is ``classifier_score_splits`` over the N
sequences in their order (S consecutive splits, mean and std): the same
convention as the ``is`` protocol.
"""
from __future__ import annotations

import json
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np

from tfvidgen.metrics.classifier_score import classifier_score_splits
from tfvidgen.metrics.prediction import derive_seed


def window_offsets(horizon: int, window: int, stride: int = 1) -> List[int]:
    """Offsets (1-based, from the last real frame) of the windows that fit in ``horizon``."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    if horizon < window:
        raise ValueError(f"a horizon of {horizon} generated frames holds no {window}-frame "
                         "window: predict at least as many frames as the window")
    return list(range(1, horizon - window + 2, stride))


def window_frames(n_past: int, offset: int, window: int) -> List[int]:
    """0-based sequence frame indices (context frames first) of the window at ``offset``."""
    start = n_past + offset - 1
    return list(range(start, start + window))


def _uint8(frames) -> np.ndarray:
    """Predicted frames in [-1, 1] -> uint8, as samples are everywhere (round((x + 1) 127.5))."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.round((frames.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def offset_curve(predict_fn: Callable, clip_batches: Iterable[np.ndarray], logits_fn: Callable, *,
                 n_past: int, horizon: int, window: int, stride: int = 1, num_splits: int = 10,
                 seed: int = 0) -> dict:
    """IS of every window offset of predicted sequences, and of the real sequences.

    Args:
      predict_fn: ``(context [B, n_past, H, W, C] in [-1, 1], num_future, seed) ->
        [B, num_future, H, W, C]`` in [-1, 1] (or uint8).
      clip_batches: uint8 real clips [B, >= n_past, H, W, C], batch after batch
        (N clips in all). The first ``n_past`` frames condition the predictor;
        clips of ``n_past + horizon`` frames also give the real reference.
      logits_fn: uint8 clips [M, window, H, W, C] -> class logits [M, classes].
      num_splits: IS splits over the N sequences (consecutive, in order).
      seed: predictions of batch i use ``derive_seed(seed, 0x1F5, i)``.
    Returns:
      {"offsets", "frames" (sequence indices of each window), "generated":
      {"mean", "std"} per offset, "real": the same or None, "num_samples", ...}.
    """
    offsets = window_offsets(horizon, window, stride)
    generated: List[List[np.ndarray]] = [[] for _ in offsets]
    real: List[List[np.ndarray]] = [[] for _ in offsets]
    with_real, count = True, 0
    for i, clips in enumerate(clip_batches):
        clips = np.asarray(clips)
        if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[1] < n_past:
            raise ValueError(f"clips must be uint8 [B, >= {n_past}, H, W, C], got "
                             f"{clips.dtype} {clips.shape}")
        context = clips[:, :n_past].astype(np.float32) / 127.5 - 1.0
        future = _uint8(predict_fn(context, horizon, derive_seed(seed, 0x1F5, i)))
        if future.shape[:2] != (len(clips), horizon) or future.shape[2:] != clips.shape[2:]:
            raise ValueError(f"the predictor returned {future.shape} for {len(clips)} clips "
                             f"and {horizon} frames of {clips.shape[2:]}")
        with_real = with_real and clips.shape[1] >= n_past + horizon
        for j, offset in enumerate(offsets):
            generated[j].append(np.asarray(logits_fn(future[:, offset - 1:offset - 1 + window])))
            if with_real:
                frames = window_frames(n_past, offset, window)
                real[j].append(np.asarray(logits_fn(clips[:, frames[0]:frames[-1] + 1])))
        count += len(clips)
    if not count:
        raise ValueError("no clips to condition on")

    def scores(logits):
        pairs = [classifier_score_splits(np.concatenate(parts), num_splits=num_splits)
                 for parts in logits]
        return {"mean": [m for m, _ in pairs], "std": [s for _, s in pairs]}

    return {"offsets": offsets, "frames": [window_frames(n_past, o, window) for o in offsets],
            "n_past": int(n_past), "horizon": int(horizon), "window": int(window),
            "stride": int(stride), "num_samples": int(count), "num_splits": int(num_splits),
            "split_size": count // num_splits, "generated": scores(generated),
            "real": scores(real) if with_real else None}


def plot(curves: Dict[str, dict], path: str, title: str = "", classifier: str = "") -> str:
    """IS against the window offset, one line per curve (std over splits shaded), and
    the first curve's real reference as a dashed black line; a PNG at ``path``.

    ``curves``: label -> an ``offset_curve`` result (or the ``is_offset``
    protocol's details / curve JSON), e.g. {"DRNet": a, "SVG-LP": b}.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    reference = None
    for label, curve in curves.items():
        x = np.asarray(curve["offsets"])
        mean, std = (np.asarray(curve["generated"][k]) for k in ("mean", "std"))
        line, = ax.plot(x, mean, marker=".", label=f"{label} (n={curve['num_samples']})")
        ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color(),
                        linewidth=0)
        if reference is None and curve.get("real"):
            reference = curve
    if reference is not None:
        ax.plot(reference["offsets"], reference["real"]["mean"], "k--",
                label=f"real sequences (n={reference['num_samples']})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("offset of the window's first frame from the last real frame")
    ax.set_ylabel(f"Inception Score{f' ({classifier})' if classifier else ''}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    first = next(iter(curves.values()))
    ax.set_title(title or f"{first['window']}-frame windows after {first['n_past']} real frames")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load_curve(path: str) -> dict:
    """A curve written by the ``is_offset`` protocol (``<report>_is_offset.json``)."""
    with open(path) as f:
        return json.load(f)


def write_curve(curve: dict, path: str, extra: Optional[dict] = None) -> str:
    from tfvidgen.metrics.prediction import _clean
    with open(path, "w") as f:
        json.dump(_clean({**curve, **(extra or {})}), f, indent=2)
    return path
