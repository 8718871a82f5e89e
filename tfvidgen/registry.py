"""Name -> factory registries for tasks (models), datasets and metrics.

Modules register themselves at import; ``tfvidgen.models`` and
``tfvidgen.data.datasets`` import every built-in module so that a name
lookup sees them all. A new method is a new module with a
``@registry.register_task("name")`` decorator, not an edit elsewhere.
"""
from __future__ import annotations

import difflib
from typing import Callable, Dict


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: Dict[str, Callable] = {}

    def register(self, name: str):
        def decorator(factory):
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._factories[name] = factory
            return factory
        return decorator

    def get(self, name: str) -> Callable:
        if name not in self._factories:
            close = difflib.get_close_matches(name, self._factories, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"Unknown {self.kind} {name!r}; known: {', '.join(sorted(self._factories))}.{hint}")
        return self._factories[name]

    def names(self):
        return sorted(self._factories)

    def __contains__(self, name):
        return name in self._factories


TASKS = Registry("model")
DATASETS = Registry("dataset")
METRICS = Registry("metric")

register_task = TASKS.register
register_dataset = DATASETS.register
register_metric = METRICS.register
