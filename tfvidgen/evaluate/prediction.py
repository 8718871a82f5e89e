"""Seed 002's best-of-N prediction protocol (``ssim``, also ``psnr``, ``prediction``).

Held-out sequences of P + F frames: the predictor continues the first P
(real) frames N times and the best sample by SSIM (or PSNR) is kept;
``ssim_bestof<N>_<P>p<F>f`` and ``psnr_...`` are the means over frames and
sequences, with per-timestep curves and 95% CIs in the report and a PNG.
The report's ``copy_last_frame`` holds the same curves for the last context
frame repeated, the floor a predictor should clear (also in the PNG).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from tfvidgen.data import pipeline
from tfvidgen.evaluate.config import EvalConfig
from tfvidgen.evaluate.context import Context, protocol, real_clips


def prediction_horizon(config: EvalConfig, values: dict) -> Tuple[int, int]:
    """(n_past, n_future) of the prediction protocol: the config's, else the run's."""
    n_past = config.n_past or values.get("n_past") or 5
    n_future = config.n_future
    if not n_future:
        n_eval = values.get("n_eval")
        n_future = (n_eval - n_past) if n_eval and n_eval > n_past else (
            values.get("n_future") or 10)
    return int(n_past), int(n_future)


@protocol("ssim")
def prediction_protocol(ctx: Context, spec=None):
    from tfvidgen.metrics import prediction
    from tfvidgen.train.summaries import write_gif
    cfg = ctx.config
    predict_fn = ctx.sampler.predictor()
    n_past, n_future = prediction_horizon(cfg, ctx.values)
    source, desc = ctx.heldout()
    data = pipeline.split_sources(source, seed=cfg.seed)
    sequences = real_clips(data, cfg.num_test_sequences, n_past + n_future, cfg.seed,
                           ctx.every_nth)
    sequences = sequences.astype(np.float32) / 127.5 - 1.0
    # The deterministic baseline is one sample (all samples would be the same).
    deterministic = getattr(getattr(ctx.sampler, "task", None), "stochastic", True) is False
    num_samples = 1 if deterministic else cfg.num_prediction_samples
    result = prediction.best_of_n(predict_fn, sequences, n_past, n_future,
                                  num_samples=num_samples, seed=cfg.seed,
                                  batch_size=cfg.batch_size, select_by=cfg.prediction_select_by,
                                  keep_examples=8)
    # The floor every predictor should clear: the last context frame, repeated.
    still = prediction.best_of_n(prediction.copy_last_frame, sequences, n_past, n_future,
                                 num_samples=1, batch_size=cfg.batch_size)
    tag = f"bestof{num_samples}_{n_past}p{n_future}f"
    summary = result.summary()
    scalars = {f"ssim_{tag}": summary["ssim"]["mean"], f"psnr_{tag}": summary["psnr"]["mean"]}
    details = {**summary, "names": list(scalars), "test_sequences": desc,
               "distinct_videos": min(len(source), cfg.num_test_sequences),
               "copy_last_frame": still.summary()}
    files = {}
    plot = ctx.path("prediction")
    if plot:
        trained = ctx.values.get("n_future") if ctx.values.get("n_past") == n_past else None
        prediction.plot({f"{ctx.sampler.name} ({result.label})": result,
                         "last context frame repeated": still}, plot,
                        trained_horizon=(n_past + trained) if trained else None)
        files["prediction_plot"] = plot
        with open(plot, "rb") as f:
            ctx.images["prediction/ssim_psnr"] = f.read()
        gif = ctx.path("prediction_examples", "gif")
        rows = np.concatenate([result.truths, result.examples], axis=0)
        write_gif(gif, rows, columns=len(result.truths))
        files["prediction_examples"] = gif
    return scalars, details, files
