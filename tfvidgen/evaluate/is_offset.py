"""``is_offset``: Inception Score of generated windows against their offset (seed 002, Fig. 5.9).

DRNet's KTH protocol (section 5.3.3): N = S x B held-out real sequences
(``--is_splits`` x ``--is_split_size``, the ``is`` protocol's convention);
the predictor continues the first P real frames (``--prediction_past``,
default the run's ``--n_past``) for F frames (``--prediction_future``); the
clip classifier (``--extractor`` or ``is_offset@classifier:<folder>``, e.g.
a ``bin/train_evaluator --architecture=stacked2d --clip_length=10`` one)
scores every window of its clip length, offsets 1, 1 + stride, ...
(``--is_offset_stride``), and the IS of each offset over the N sequences is
reported, with the real continuations' IS at the same windows as the
reference. Scalars ``is_offset_<extractor>_<S>x<B>_<W>f_<P>p<F>f_at<o>``
and ``is_offset_real_..._at<o>``; the curve goes to the report's details,
``<stem>_is_offset.json`` and ``<stem>_is_offset.png``.
"""
from __future__ import annotations

import numpy as np

from tfvidgen.data import pipeline
from tfvidgen.evaluate.context import Context, protocol
from tfvidgen.evaluate.prediction import prediction_horizon
from tfvidgen.evaluate.specs import MetricUnavailable


def sequence_batches(data: pipeline.TrainingData, n: int, num_frames: int, seed: int,
                     every_nth: int, batch_size: int):
    """uint8 clips [<= batch_size, num_frames, H, W, 3], n in all: ``real_clips``'s draws,
    a batch at a time (hundreds of frames per sequence do not fit at once)."""
    loader = pipeline.ElementLoader(data, num_frames, every_nth, 0, seed)
    for start in range(0, n, batch_size):
        yield np.stack([loader(g)[0] for g in range(start, min(start + batch_size, n))])


@protocol("is_offset")
def is_offset_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import metric_name, offset_score
    ext = ctx.extractor(spec)
    cfg = ctx.config
    if getattr(ext, "kind", "video") != "video":
        raise MetricUnavailable(f"is_offset scores windows of frames: extractor {ext.name!r} "
                                "takes single images; train a clip classifier (bin/"
                                "train_evaluator --kind=video --architecture=stacked2d)")
    window = ctx.clip_length(ext)
    n_past, horizon = prediction_horizon(cfg, ctx.values)
    stride = int(cfg.is_offset_stride)
    try:
        offsets = offset_score.window_offsets(horizon, window, stride)
    except ValueError as e:
        raise MetricUnavailable(f"is_offset: {e} (--prediction_future={horizon}, "
                                f"window {window})") from None
    predict_fn = ctx.sampler.predictor()
    source, desc = ctx.heldout()
    data = pipeline.split_sources(source, seed=cfg.seed)
    n = cfg.is_splits * cfg.is_split_size
    span = n_past + horizon
    batches = sequence_batches(data, n, span, cfg.seed, ctx.every_nth, cfg.batch_size)
    curve = offset_score.offset_curve(predict_fn, batches, ext.logits, n_past=n_past,
                                      horizon=horizon, window=window, stride=stride,
                                      num_splits=cfg.is_splits, seed=cfg.seed)
    # Videos too short for P + F frames (at the run's stride) give clips whose real
    # continuation is read at stride 1 or ends in copies of the last frame.
    lengths = np.asarray(source.lengths(), np.int64)
    needed = (span - 1) * ctx.every_nth + 1
    short = int(((lengths > 0) & (lengths < needed)).sum())
    base = metric_name("is_offset", ext.name, num_splits=cfg.is_splits,
                       split_size=cfg.is_split_size, num_frames=window) + f"_{n_past}p{horizon}f"
    real_base = base.replace("is_offset_", "is_offset_real_", 1)
    scalars = {}
    for k, offset in enumerate(offsets):
        scalars[f"{base}_at{offset}"] = float(curve["generated"]["mean"][k])
        if curve["real"]:
            scalars[f"{real_base}_at{offset}"] = float(curve["real"]["mean"][k])
    details = {
        **curve, "name": base, "real_name": real_base, "names": list(scalars),
        "extractor": ext.name,
        "classifier": spec or (cfg.extractor if isinstance(cfg.extractor, str) else ext.name),
        "sequences": (f"{n} clips of {span} frames (stride {ctx.every_nth}) of {desc}, drawn "
                      f"with seed {cfg.seed}: the first {n_past} real frames condition the "
                      f"model, the next {horizon} are the real reference"),
        "heldout_videos": int(len(source)), "heldout_videos_shorter_than_span": short,
        "offset": ("1-based, from the last real frame: the window at offset o holds "
                   "generated frames o .. o + window - 1 (frames[] are 0-based sequence "
                   "indices, context first)")}
    if short:
        details["warning"] = (
            f"{short} of {len(source)} held-out videos have fewer than {needed} frames: "
            f"their sequences are read at stride 1 or repeat their last frame, so the real "
            "reference at late offsets holds still frames")
    files = {}
    plot = ctx.path("is_offset")
    if plot:
        label = ctx.sampler.name
        offset_score.write_curve(curve, ctx.path("is_offset", "json"),
                                 {"label": label, "classifier": ext.name, "name": base})
        offset_score.plot({label: curve}, plot, classifier=ext.name)
        files.update(is_offset_curve=ctx.path("is_offset", "json"), is_offset_plot=plot)
        with open(plot, "rb") as f:
            ctx.images["is_offset/curve"] = f.read()
    return scalars, details, files
