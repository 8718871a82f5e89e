"""Running protocols: ``evaluate`` (bin/evaluate) and ``make_train_hook`` (--eval_every)."""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
from typing import Optional

import tensorflow as tf

# The built-in protocols register themselves on import.
from tfvidgen.evaluate import fd, is_offset, nn, parzen, prediction  # noqa: F401
from tfvidgen.data import pipeline
from tfvidgen.evaluate.config import EvalConfig
from tfvidgen.evaluate.context import PROTOCOLS, Context
from tfvidgen.evaluate.samplers import TaskSampler
from tfvidgen.evaluate.specs import check_train_metrics, parse_metric_specs


def check(ctx: Context, specs) -> None:
    """Fails before any work when a requested metric cannot run (no extractor, no predictor)."""
    for name, spec in specs:
        if name in ("fd", "is", "is_real", "is_offset"):
            ctx.extractor(spec)
        if name in ("ssim", "is_offset"):
            ctx.sampler.predictor()


def run_protocols(ctx: Context, specs) -> dict:
    """Runs the metrics; returns {"metrics": scalars, "details": {...}, "files": {...}}."""
    check(ctx, specs)
    scalars, details, files = {}, {}, {}
    for name, spec in specs:
        logging.info("evaluation: %s%s", name, f" ({spec})" if spec else "")
        s, d, f = PROTOCOLS[name](ctx, spec)
        scalars.update(s)
        key = name if spec is None else f"{name}@{spec}"
        details[key] = d
        files.update(f)
    return {"metrics": scalars, "details": details, "files": files}


def write_summaries(log_dir: str, step: int, scalars: dict, images: Optional[dict] = None) -> None:
    """Scalars (and PNG images) into TensorBoard events under ``log_dir`` (a run's eval/)."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=int(step)):
        for name, value in scalars.items():
            tf.summary.scalar(name, float(value))
        for name, png in (images or {}).items():
            tf.summary.image(name, tf.image.decode_png(png, channels=3)[None])
    writer.flush()
    writer.close()


def _json_safe(x):
    from tfvidgen.metrics.prediction import _clean
    return _clean(x)


def evaluate(sampler, config: EvalConfig, *, values: Optional[dict] = None,
             data: Optional[pipeline.TrainingData] = None, output: Optional[str] = None,
             step: Optional[int] = None, log_dir: Optional[str] = None,
             source: Optional[dict] = None) -> dict:
    """Runs ``config.metrics`` on a sampler.

    Args:
      sampler: a ``TaskSampler`` or ``SavedModelSampler``.
      config: the protocols' sizes.
      values: the run's values (its data, held-out split, n_past, ...).
      data: the training data (default: built from ``values``).
      output: the JSON report's path; plots are written next to it.
      step: the checkpoint's step (TensorBoard and the report).
      log_dir: TensorBoard folder of the scalars (with ``step``).
      source: what was evaluated, for the report.
    Returns:
      The report: metrics, details, files, source, config.
    """
    specs = parse_metric_specs(config.metrics)
    stem = None
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        stem = os.path.splitext(output)[0]
    ctx = Context(sampler, config, values=values, data=data, output_stem=stem)
    result = run_protocols(ctx, specs)
    cfg = {k: v for k, v in dataclasses.asdict(config).items()
           if isinstance(v, (int, float, str, bool, type(None), tuple, list))}
    if not isinstance(config.extractor, str):
        cfg["extractor"] = getattr(config.extractor, "name", repr(config.extractor))
    report = {
        "kind": "tfvidgen evaluation", "version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": {**(source or {}), "step": step},
        "config": cfg, **result}
    if output:
        with open(output + ".tmp", "w") as f:
            json.dump(_json_safe(report), f, indent=2)
        os.replace(output + ".tmp", output)
    if log_dir and step is not None:
        write_summaries(log_dir, step, result["metrics"], ctx.images)
        report["source"]["eval_events"] = log_dir
    return report


def make_train_hook(metrics: str, values: Optional[dict] = None, seed: int = 0, task=None,
                    data: Optional[pipeline.TrainingData] = None, **overrides):
    """``fn(trainer, step) -> {name: float}`` for ``Trainer(hooks=[(every, fn)])``.

    Runs ``metrics`` ("parzen", "fd@classifier:runs/clf,nn", ...) with
    ``EvalConfig.cheap`` sizes (``overrides`` change them) on the trainer's
    Task and data; the trainer writes the scalars under eval/. The same seed
    every time, so that the curve follows the model and not the noise, and
    only stateless noise: the training RNG is not touched. A conditional
    model's samples continue held-out clips, as in ``evaluate``.

    With ``task`` (and ``data``) given, extractors are loaded and metrics
    checked now, so that a wrong ``--eval_metrics`` stops the run before it
    trains (ValueError / FileNotFoundError). An error while evaluating later
    is logged and the step's evaluation skipped: training goes on.
    """
    specs = check_train_metrics(metrics)
    config = EvalConfig.cheap(metrics=tuple(n if s is None else f"{n}@{s}" for n, s in specs),
                              seed=seed, **overrides)
    state = {}
    if task is not None:
        state["ctx"] = Context(TaskSampler(task, config.batch_size), config, values=values,
                               data=data)
        check(state["ctx"], specs)

    def hook(trainer, step):
        if "ctx" not in state:
            state["ctx"] = Context(TaskSampler(trainer.task, config.batch_size), config,
                                   values=values, data=trainer.data)
            check(state["ctx"], specs)
        try:
            return run_protocols(state["ctx"], specs)["metrics"]
        except Exception:  # noqa: BLE001  (evaluation must not end a training run)
            logging.exception("evaluation at step %d failed; training continues", step)
            return {}

    return hook
