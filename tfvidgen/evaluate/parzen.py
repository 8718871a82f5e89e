"""Parzen-window log-likelihood (``parzen``) and its multi-scale estimator (``parzen_ms``).

* ``parzen``: sigma chosen on a validation half of the held-out videos,
  mean log-likelihood over the other half, ``parzen_<unit>_<N>s`` (nats per
  example, pixels in [0, 1]); N is ``--parzen_samples``, by default the
  thesis' 50,000 (Table 4.1), e.g. ``parzen_frames_50000s``. The estimator
  streams over the centres (``metrics.parzen.log_parzen_multi``), so 50,000
  samples of 32x32x3 cost their float32 array (about 600 MB) and little more.
* ``parzen_ms``: the Laplacian-pyramid estimator, ``parzen_ms<K>_<unit>_<N>s``
  with N = ``--parzen_ms_samples`` (N_0; default 1000: a LAPGAN draws N_0
  refinements per held-out image and level, and the thesis gives no N_0).

A conditional model's samples continue clips of the validation half, so
the test half, whose likelihood is reported, is never shown to the model.
"""
from __future__ import annotations

import logging

from tfvidgen.evaluate.context import Context, protocol, real_clips, real_images, unit, \
    with_conditioning
from tfvidgen.evaluate.specs import MetricUnavailable


def _items(ctx: Context, kind: str, data, n: int, seed: int, t: int):
    if kind == "frames":
        return unit(real_images(data, n, seed))
    return unit(real_clips(data, n, t, seed, ctx.every_nth))


def match_size(items, size: int):
    """Real frames [..., H, W, C] at the samples' side ``size``: average-pooled by H / size
    when it is an integer (the training pipeline's pooling), else centre-cropped (a model
    of crops: LAPGAN's 28x28 CIFAR-10)."""
    h = items.shape[-3]
    if h == size or h < size:
        return items
    if h % size == 0:
        f = h // size
        shape = items.shape[:-3] + (size, f, size, f, items.shape[-1])
        return items.reshape(shape).mean(axis=(-4, -2))
    top = (h - size) // 2
    return items[..., top:top + size, top:top + size, :]


def parzen_setup(ctx: Context, num_samples: int):
    """(``num_samples`` samples, validation items, test items, held-out description, clip
    length or None, conditioning note) in [0, 1]."""
    cfg = ctx.config
    if cfg.parzen_unit not in ("frames", "videos"):
        raise MetricUnavailable(f"parzen unit must be frames or videos, got {cfg.parzen_unit!r}")
    t = None if cfg.parzen_unit == "frames" else ctx.clip_length()
    val_data, test_data, desc = ctx.heldout_halves()
    heldout = (val_data, f"the validation half (even-indexed videos) of {ctx.heldout()[1]}")
    samples, note = (ctx.generated_images(num_samples, heldout) if t is None
                     else ctx.generated_videos(num_samples, t, heldout))
    val = _items(ctx, cfg.parzen_unit, val_data, cfg.parzen_heldout, cfg.seed + 1, t)
    test = _items(ctx, cfg.parzen_unit, test_data, cfg.parzen_heldout, cfg.seed + 2, t)
    size = samples.shape[-3]
    return unit(samples), match_size(val, size), match_size(test, size), desc, t, note


@protocol("parzen")
def parzen_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import parzen
    cfg = ctx.config
    samples, val, test, desc, t, note = parzen_setup(ctx, cfg.parzen_samples)
    result = parzen.parzen_evaluate(samples, val, test)
    name = f"parzen_{cfg.parzen_unit}" + (f"{t}f" if t else "") + f"_{cfg.parzen_samples}s"
    if result["sigma_at_grid_edge"]:
        logging.warning("parzen: the chosen sigma %.3g is at the edge of the grid",
                        result["sigma"])
    details = with_conditioning({"name": name, **result, "heldout": desc}, note)
    return {name: result["mean"]}, details, {}


@protocol("parzen_ms")
def multiscale_parzen_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import parzen
    cfg = ctx.config
    samples, val, test, desc, t, note = parzen_setup(ctx, cfg.parzen_ms_samples)
    levels, conditional = cfg.parzen_levels, {}
    # A model that refines a coarse image (LAPGAN) gives q_k(h | l) given the true low pass.
    hook = getattr(getattr(ctx.sampler, "task", None), "multiscale_parzen", None)
    if hook is not None and t is None:
        try:
            levels, conditional = hook(samples, cfg)
        except ValueError as e:
            raise MetricUnavailable(f"parzen_ms: {e}") from None
    result = parzen.multiscale_evaluate(samples, val, test, levels=levels, **conditional)
    name = (f"parzen_ms{levels}_{cfg.parzen_unit}" + (f"{t}f" if t else "")
            + f"_{cfg.parzen_ms_samples}s")
    details = with_conditioning({"name": name, **result, "heldout": desc}, note)
    return {name: result["mean"]}, details, {}
