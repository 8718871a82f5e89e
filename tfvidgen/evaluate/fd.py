"""Frechet distance (``fd``) and classifier score (``is``), seed 003's protocols.

* ``fd``: Frechet distance between extractor activations of N generated and
  N real clips (equal counts; seed 003 uses 624), ``fd_<extractor>_<N>v_<T>f``
  (``..._<N>i`` for an image extractor, on frames). Real clips are drawn
  from the training data as the trainer draws them.
* ``is``: classifier (Inception) score over S splits of B samples, mean and
  std (seed 003: 10 x 128 images), ``is_<extractor>_<S>x<B>`` (+ ``_std``).
* ``is_real``: the same score of real clips of the training data, drawn as
  the trainer draws them: the "maximum possible" row of seed 004's Table
  8.1, ``is_real_<extractor>_<S>x<B>_<T>f``.

Seed 004 / TGAN on UCF101 (``--extractor=c3d``, TGAN's C3D and mean clip):
``--metrics=is --is_splits=1 --is_split_size=10000`` is TGAN's protocol
(one split of ~10,000 16-frame samples; frames resized to 128, mean clip
subtracted, centre 112 crop: ``tfvidgen.metrics.c3d``); seed 004's FID is
``--metrics=fd --extractor=c3d-fc6 --num_videos=10000`` (fc6 features; 64x64
samples are resized to 128 by the same preprocessing).

A conditional model's samples continue held-out clips (``Context``).
"""
from __future__ import annotations

from tfvidgen.evaluate.context import Context, protocol, real_clips, real_images, \
    with_conditioning
from tfvidgen.evaluate.specs import MetricUnavailable


def _metric_name(*args, **kwargs) -> str:
    from tfvidgen.metrics import metric_name
    return metric_name(*args, **kwargs)


@protocol("fd")
def fd_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import frechet_distance
    ext = ctx.extractor(spec)
    cfg, n = ctx.config, ctx.config.num_videos
    if getattr(ext, "kind", "video") == "image":
        fake, note = ctx.generated_images(n)
        real = real_images(ctx.reference, n, cfg.seed)
        name, t = _metric_name("fd", ext.name, num_images=n), None
    else:
        t = ctx.clip_length(ext)
        fake, note = ctx.generated_videos(n, t)
        real = real_clips(ctx.reference, n, t, cfg.seed, ctx.every_nth)
        name = _metric_name("fd", ext.name, num_videos=n, num_frames=t)
    if real.shape[1:] != fake.shape[1:]:
        raise MetricUnavailable(f"real data {real.shape[1:]} and samples {fake.shape[1:]} differ")
    value = frechet_distance(ext.activations(real), ext.activations(fake))
    details = {"name": name, "value": value, "extractor": ext.name, "num_real": n,
               "num_generated": n, "num_frames": t,
               "real": ctx.reference_description()}
    return {name: value}, with_conditioning(details, note), {}


def _classifier_score(ctx: Context, spec, metric: str, draw):
    """``metric``'s classifier score of the samples ``draw(n, t)`` returns.

    ``draw`` gives (samples, conditioning note or None); ``t`` is None for an
    image extractor. One code path for ``is`` and ``is_real``.
    """
    from tfvidgen.metrics import classifier_score_splits
    ext = ctx.extractor(spec)
    cfg = ctx.config
    n = cfg.is_splits * cfg.is_split_size
    t = None if getattr(ext, "kind", "video") == "image" else ctx.clip_length(ext)
    samples, note = draw(n, t)
    mean, std = classifier_score_splits(ext.logits(samples), num_splits=cfg.is_splits)
    name = _metric_name(metric, ext.name, num_splits=cfg.is_splits,
                        split_size=cfg.is_split_size, num_frames=t)
    details = {"name": name, "mean": float(mean), "std": float(std), "extractor": ext.name,
               "num_splits": cfg.is_splits, "split_size": cfg.is_split_size, "num_frames": t}
    return {name: float(mean), name + "_std": float(std)}, details, note


@protocol("is")
def is_protocol(ctx: Context, spec=None):
    def draw(n, t):
        return ctx.generated_images(n) if t is None else ctx.generated_videos(n, t)
    scores, details, note = _classifier_score(ctx, spec, "is", draw)
    return scores, with_conditioning(details, note), {}


@protocol("is_real")
def is_real_protocol(ctx: Context, spec=None):
    """The classifier score of real clips (seed 004, Table 8.1's maximum possible)."""
    def draw(n, t):
        if t is None:
            return real_images(ctx.reference, n, ctx.config.seed), None
        return real_clips(ctx.reference, n, t, ctx.config.seed, ctx.every_nth), None
    scores, details, _ = _classifier_score(ctx, spec, "is_real", draw)
    details["real"] = ctx.reference_description()
    return scores, details, {}
