"""Nearest training items of generated samples (``nn``): memorisation check.

``nn_pixel_<unit>_<Q>s`` is the mean RMS distance of Q samples to their
nearest training item (frames or non-overlapping clips), with a PNG grid;
with an extractor, the same in its feature space. A conditional model's
samples continue held-out clips (``Context``).
"""
from __future__ import annotations

import logging

import numpy as np

from tfvidgen.evaluate.context import Context, protocol
from tfvidgen.evaluate.specs import MetricUnavailable


def training_items(source, unit: str, num_frames: int, max_items: int = 0, seed: int = 0,
                   videos_per_chunk: int = 16):
    """Every training frame, or every non-overlapping clip of ``num_frames``, as an ItemSet."""
    from tfvidgen.metrics.neighbours import ItemSet
    refs = []
    for v in range(len(source)):
        length = source.num_frames(v)
        if length <= 0:
            continue
        if unit == "frames":
            refs += [(v, f) for f in range(length)]
        else:
            refs += [(v, s) for s in range(0, max(length - num_frames, 0) + 1, num_frames)]
    if max_items and len(refs) > max_items:
        keep = np.sort(np.random.default_rng([seed, 0x11]).choice(len(refs), max_items,
                                                                   replace=False))
        refs = [refs[i] for i in keep]

    def frames_of(v, start):
        if unit == "frames":
            return [start]
        return np.minimum(start + np.arange(num_frames), source.num_frames(v) - 1)

    def read(ref):
        frames = source.read(ref[0], frames_of(*ref))
        return frames[0] if unit == "frames" else frames

    def chunks():
        batch, current = [], set()
        for ref in refs:
            if ref[0] not in current and len(current) >= videos_per_chunk:
                yield np.stack(batch)
                batch, current = [], set()
            current.add(ref[0])
            batch.append(read(ref))
        if batch:
            yield np.stack(batch)

    what = "frames" if unit == "frames" else f"{num_frames}-frame clips (non-overlapping)"
    return ItemSet(chunks, lambda i: read(refs[i]),
                   f"{len(refs)} training {what} of {len(source)} videos"), len(refs)


def _feature_space(ctx: Context, spec, unit: str, t: int):
    """(features_fn, extractor name, note why skipped) of nn's feature space."""
    cfg = ctx.config
    if spec is None and cfg.extractor is None:
        return None, None, None
    note = None
    try:
        ext = ctx.extractor(spec)
        kind = getattr(ext, "kind", "video")
        if (kind == "video") != (unit == "videos"):
            note = f"extractor {ext.name!r} takes {kind}s, --nn_unit={unit}"
        elif unit == "videos" and getattr(ext, "num_frames", None) not in (None, t):
            note = f"extractor {ext.name!r} takes {ext.num_frames}-frame clips, not {t}"
        else:
            return ext.activations, ext.name, None
    except (MetricUnavailable, FileNotFoundError, ImportError, ValueError) as e:
        note = str(e)
    logging.warning("nn: feature space skipped: %s", note)
    return None, None, note


@protocol("nn")
def nn_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics.neighbours import nearest_neighbours
    cfg = ctx.config
    unit = cfg.nn_unit
    if unit not in ("frames", "videos"):
        raise MetricUnavailable(f"nn unit must be frames or videos, got {unit!r}")
    t = ctx.clip_length() if unit == "videos" else 1
    samples, conditioning = (ctx.generated_videos(cfg.nn_samples, t) if unit == "videos"
                             else ctx.generated_images(cfg.nn_samples))
    items, count = training_items(ctx.data.videos, unit, t, cfg.nn_max_train_items, cfg.seed)
    if not count:
        raise MetricUnavailable("no training items to compare with")
    features_fn, ext_name, note = _feature_space(ctx, spec, unit, t)
    label = unit + (f"{t}f" if unit == "videos" else "")
    result = nearest_neighbours(
        samples, items, k=cfg.nn_k, features_fn=features_fn,
        grid_path=ctx.path("nn_pixel"),
        feature_grid_path=ctx.path(f"nn_{ext_name}") if ext_name else None)
    scalars = {f"nn_pixel_{label}_{cfg.nn_samples}s": result["pixel"]["mean_nearest"]}
    if "feature" in result:
        scalars[f"nn_{ext_name}_{label}_{cfg.nn_samples}s"] = result["feature"]["mean_nearest"]
    elif note:
        result["feature_skipped"] = note
    if conditioning:
        result["conditioning"] = conditioning
    files = {k: v["grid"] for k, v in result.items() if isinstance(v, dict) and "grid" in v}
    for key, path in files.items():
        with open(path, "rb") as f:
            ctx.images[f"nearest_neighbours/{key}"] = f.read()
    files = {f"nn_{k}_grid": v for k, v in files.items()}
    return scalars, {"names": list(scalars), **result}, files
