"""Nearest training items of generated samples, in pixel and feature space.

A memorisation check (seed 002 shows LAPGAN samples next to their nearest
training images): for each generated sample the ``k`` closest training
items, by root-mean-square pixel difference (pixels in [0, 1]) or by the
Euclidean distance between features (any ``features_fn``, e.g. an
extractor's ``activations``), and a PNG grid with one row per sample: the
sample (blue frame), then its neighbours from nearest to farthest, each a
strip of up to ``max_frames`` frames for videos.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageDraw

SAMPLE_BORDER = (40, 90, 255)
NEIGHBOUR_BORDER = (160, 160, 160)


def unit_range(x) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] -> float32 [0, 1]."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return (np.clip(x.astype(np.float32), -1.0, 1.0) + 1.0) / 2.0


def nearest(queries, items, k: int = 5, rms: bool = True, chunk: int = 256):
    """Indices [Q, k] and distances [Q, k] of the k nearest items to each query.

    Args:
      queries: [Q, ...] floats.
      items: [M, ...] floats (same trailing shape), or an iterable of such
        chunks (indices then run across the chunks), so that a whole
        training set is searched without holding it in memory.
      rms: distances as root-mean-square differences (per value) rather than
        plain Euclidean norms.
    """
    q = np.asarray(queries, np.float64).reshape(len(queries), -1)
    chunks = [items] if isinstance(items, np.ndarray) else items
    q_sq = np.sum(q * q, axis=1)
    best_d2 = np.full([len(q), 0], np.inf)
    best_idx = np.zeros([len(q), 0], np.int64)
    offset = 0
    for part in chunks:
        x = np.asarray(part, np.float64).reshape(len(part), -1)
        if x.shape[1] != q.shape[1]:
            raise ValueError(f"queries have {q.shape[1]} values each, items {x.shape[1]}")
        x_sq = np.sum(x * x, axis=1)
        for s in range(0, len(x), chunk):
            xb = x[s:s + chunk]
            d2 = np.maximum(q_sq[:, None] + x_sq[None, s:s + chunk] - 2.0 * q @ xb.T, 0.0)
            cand_d2 = np.concatenate([best_d2, d2], axis=1)
            cand_idx = np.concatenate(
                [best_idx, np.broadcast_to(offset + s + np.arange(len(xb)), d2.shape)], axis=1)
            keep = min(k, cand_d2.shape[1])
            order = np.argsort(cand_d2, axis=1, kind="stable")[:, :keep]
            best_d2 = np.take_along_axis(cand_d2, order, axis=1)
            best_idx = np.take_along_axis(cand_idx, order, axis=1)
        offset += len(x)
    if offset == 0:
        raise ValueError("no items to search")
    dist = np.sqrt(best_d2 / (q.shape[1] if rms else 1.0))
    return best_idx, dist


def _cell(item: np.ndarray, max_frames: int) -> np.ndarray:
    """uint8 [H, W', 3]: an image, or a strip of evenly spaced frames of a video."""
    item = np.asarray(item)
    if item.ndim == 3:
        return item
    t = item.shape[0]
    picks = np.unique(np.linspace(0, t - 1, min(max_frames, t)).round().astype(int))
    return np.concatenate(list(item[picks]), axis=1)


def grid_png(queries, items, indices, path: str, distances=None, max_frames: int = 4,
             min_height: int = 48) -> str:
    """The PNG grid: one row per query, the query then its neighbours.

    Args:
      queries: [Q, (T,) H, W, 3] generated samples (uint8 or [-1, 1]).
      items: training items indexed by ``indices`` [Q, k]: an array, or a
        callable index -> item.
      distances: [Q, k] drawn under each neighbour when given.
    """
    to8 = lambda a: np.round(unit_range(a) * 255).astype(np.uint8)  # noqa: E731
    get = items if callable(items) else items.__getitem__
    cells = [[_cell(to8(q), max_frames)] + [_cell(to8(get(int(j))), max_frames) for j in row]
             for q, row in zip(queries, indices)]
    h, w = cells[0][0].shape[:2]
    scale = max(1, math.ceil(min_height / h))
    h, w = h * scale, w * scale
    pad, text_h = 3, (12 if distances is not None else 0)
    cols = len(cells[0])
    gap = 8  # between the sample and its neighbours
    width = cols * (w + 2 * pad) + gap
    height = len(cells) * (h + 2 * pad + text_h)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(cells):
        y = r * (h + 2 * pad + text_h)
        for c, cell in enumerate(row):
            x = c * (w + 2 * pad) + (gap if c else 0)
            colour = SAMPLE_BORDER if c == 0 else NEIGHBOUR_BORDER
            draw.rectangle([x, y, x + w + 2 * pad - 1, y + h + 2 * pad - 1], fill=colour)
            img = Image.fromarray(np.repeat(np.repeat(cell, scale, 0), scale, 1))
            canvas.paste(img, (x + pad, y + pad))
            if distances is not None and c > 0:
                draw.text((x + pad, y + h + 2 * pad), f"{distances[r][c - 1]:.3f}",
                          fill=(0, 0, 0))
    canvas.save(path)
    return path


class ItemSet:
    """Training items searched in chunks: ``chunks()`` yields arrays, ``get(i)`` one item.

    ``ItemSet.from_array(array)`` for items already in memory.
    """

    def __init__(self, chunks: Callable, get: Callable, description: str = ""):
        self.chunks, self.get, self.description = chunks, get, description

    @classmethod
    def from_array(cls, array, chunk: int = 512) -> "ItemSet":
        array = np.asarray(array)
        return cls(lambda: (array[i:i + chunk] for i in range(0, len(array), chunk)),
                   lambda i: array[i], f"{len(array)} items")


def nearest_neighbours(samples, train_items, k: int = 5, features_fn: Optional[Callable] = None,
                       grid_path: Optional[str] = None, feature_grid_path: Optional[str] = None,
                       max_rows: int = 16) -> dict:
    """Pixel-space (and, with ``features_fn``, feature-space) neighbours of samples.

    Args:
      samples: [Q, (T,) H, W, 3] generated items (uint8 or [-1, 1]).
      train_items: [M, (T,) H, W, 3] training items of the same shape, or an ItemSet.
      features_fn: items (uint8 or [-1, 1], as given) -> [N, D] features.
      grid_path, feature_grid_path: PNG grids written there (first ``max_rows`` samples).
    Returns:
      {"pixel": {...}, "feature": {...}}: mean and per-sample distances to
      the nearest item, neighbour indices.
    """
    samples = np.asarray(samples)
    items = train_items if isinstance(train_items, ItemSet) else ItemSet.from_array(train_items)
    first = np.asarray(items.get(0))
    if samples.shape[1:] != first.shape:
        raise ValueError(f"samples {samples.shape[1:]} and training items {first.shape} "
                         "differ in shape")
    out = {}
    count = [0]

    def unit_chunks():
        for part in items.chunks():
            count[0] += len(part)
            yield unit_range(part)

    idx, dist = nearest(unit_range(samples), unit_chunks(), k, rms=True)
    out["pixel"] = {"distance": "RMS pixel difference, pixels in [0, 1]",
                    "mean_nearest": float(dist[:, 0].mean()),
                    "nearest": dist[:, 0].tolist(), "indices": idx.tolist()}
    if grid_path:
        grid_png(samples[:max_rows], items.get, idx[:max_rows], grid_path, dist[:max_rows])
        out["pixel"]["grid"] = grid_path
    if features_fn is not None:
        f_idx, f_dist = nearest(np.asarray(features_fn(samples)),
                                (np.asarray(features_fn(part)) for part in items.chunks()),
                                k, rms=False)
        out["feature"] = {"distance": "Euclidean distance between features",
                          "mean_nearest": float(f_dist[:, 0].mean()),
                          "nearest": f_dist[:, 0].tolist(), "indices": f_idx.tolist()}
        if feature_grid_path:
            grid_png(samples[:max_rows], items.get, f_idx[:max_rows], feature_grid_path,
                     f_dist[:max_rows])
            out["feature"]["grid"] = feature_grid_path
    out.update(num_samples=int(len(samples)), num_train_items=int(count[0]), k=int(k))
    if items.description:
        out["train_items"] = items.description
    return out
