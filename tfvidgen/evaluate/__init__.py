"""Evaluation of a trained run: the library behind ``bin/evaluate`` and ``--eval_every``.

A *sampler* (a run's Task restored from its checkpoint, or a SavedModel
export: ``samplers``) is scored by named protocols, one module each, each
returning scalars whose names carry the protocol, details for the JSON
report, and files (plots) written next to it:

* ``fd`` (``fd.py``): Frechet distance of extractor activations of N
  generated and N real clips, ``fd_<extractor>_<N>v_<T>f``; ``is``: the
  classifier score over S splits of B samples, ``is_<extractor>_<S>x<B>``.
* ``ssim`` (also ``psnr``, ``prediction``; ``prediction.py``): seed 002's
  best-of-N prediction protocol on held-out sequences, ``ssim_bestof<N>_<P>p<F>f``.
* ``parzen`` and ``parzen_ms`` (``parzen.py``): Parzen-window log-likelihood
  of held-out data, sigma chosen on a validation half; multi-scale variant.
* ``nn`` (``nn.py``): nearest training items of generated samples.
* ``is_offset`` (``is_offset.py``): seed 002's KTH protocol (Fig. 5.9), the
  IS of each window of frames predicted after real context, against its offset.

``context.py`` holds what they share (real-data draws, extractors and the
samples: a conditional model's continue held-out real clips), ``runner.py``
runs them (``evaluate``, ``make_train_hook``), ``specs.py`` parses metric
names without TensorFlow (``tfvidgen.flags`` validates ``--eval_metrics``
with it). Runs are loaded by ``tfvidgen.runs.load_run``.

Extractors (I3D, C3D, dataset classifiers) come from
``tfvidgen.metrics.extractors``; a metric may name its own with
``fd@classifier:runs/expr_clf``. See docs/evaluation.md.

Names are imported from the submodules on first use, so that importing
this package (``tfvidgen.flags`` does, for ``check_train_metrics``) loads
no TensorFlow.
"""
from __future__ import annotations

import importlib

from tfvidgen.evaluate.specs import (ALIASES, BUILTIN_PROTOCOLS, MetricUnavailable,  # noqa: F401
                                     check_train_metrics, parse_metric_specs)

_LAZY = {
    "EvalConfig": "config",
    "Context": "context", "PROTOCOLS": "context", "protocol": "context",
    "make_extractor": "context", "real_clips": "context", "real_images": "context",
    "TaskSampler": "samplers", "SavedModelSampler": "samplers",
    "find_saved_model": "samplers", "load_sampler": "samplers",
    "fd_protocol": "fd", "is_protocol": "fd", "is_real_protocol": "fd",
    "prediction_protocol": "prediction", "prediction_horizon": "prediction",
    "is_offset_protocol": "is_offset",
    "parzen_protocol": "parzen", "multiscale_parzen_protocol": "parzen",
    "nn_protocol": "nn", "training_items": "nn",
    "check": "runner", "run_protocols": "runner", "write_summaries": "runner",
    "evaluate": "runner", "make_train_hook": "runner",
}
# Run loading lives in tfvidgen.runs; these names stay importable from here.
_RUNS = ("load_run", "read_flags_file", "RestoreError")

__all__ = sorted(["ALIASES", "BUILTIN_PROTOCOLS", "MetricUnavailable", "check_train_metrics",
                  "parse_metric_specs", *_LAZY, *_RUNS])


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        importlib.import_module(f"{__name__}.runner")  # every built-in protocol registered
    elif name in _RUNS:
        module = importlib.import_module("tfvidgen.runs")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
