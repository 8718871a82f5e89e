"""Metric names of ``bin/evaluate --metrics`` and ``--eval_metrics``, without TensorFlow.

``tfvidgen.flags`` validates ``--eval_metrics`` at parse time through
``check_train_metrics``; this module imports nothing but the registry, so
that check loads no TensorFlow and ``tfvidgen.flags`` and the evaluation
protocols do not import each other.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from tfvidgen import registry

# The protocols of tfvidgen.evaluate (each module registers its own with
# ``protocol``); tests check that the two agree.
BUILTIN_PROTOCOLS = ("fd", "is", "is_real", "is_offset", "ssim", "parzen", "parzen_ms", "nn")
ALIASES = {"psnr": "ssim", "prediction": "ssim", "fvd": "fd", "laplacian": "parzen_ms"}
# Protocols that need a feature extractor.
NEEDS_EXTRACTOR = ("fd", "is", "is_real", "is_offset")


class MetricUnavailable(ValueError):
    """A requested metric cannot run for this model or setup (the message says why)."""


def known_protocols() -> List[str]:
    """The built-in protocols and any registered since (``tfvidgen.evaluate.protocol``)."""
    return sorted(set(BUILTIN_PROTOCOLS) | set(registry.METRICS.names()))


def parse_metric_specs(text) -> List[Tuple[str, Optional[str]]]:
    """Metric names, each with the extractor it names, in the order given.

    Args:
      text: "fd,is@classifier:runs/clf,parzen" or a sequence of such items.
    Returns:
      [("fd", None), ("is", "classifier:runs/clf"), ("parzen", None)]:
      aliases resolved (psnr -> ssim, fvd -> fd, ...), repeats dropped.
    Raises:
      ValueError: an unknown name, or no name at all.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    known = known_protocols()
    specs = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, extractor = item.partition("@")
        name = ALIASES.get(name.strip().lower(), name.strip().lower())
        if name not in known:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(known)} "
                             f"(aliases: {', '.join(sorted(ALIASES))})")
        spec = (name, extractor.strip() or None)
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise ValueError("no metric given")
    return specs


def check_train_metrics(text) -> List[Tuple[str, Optional[str]]]:
    """Parses ``--eval_metrics``; fd and is must name their extractor there
    (``fd@classifier:<folder>``): training has no ``--extractor`` flag."""
    specs = parse_metric_specs(text)
    for name, spec in specs:
        if name in NEEDS_EXTRACTOR and spec is None:
            raise ValueError(f"{name} needs a feature extractor during training: write "
                             f"{name}@classifier:<folder> (bin/train_evaluator) or "
                             f"{name}@i3d:<path>")
    return specs
