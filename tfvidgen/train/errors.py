"""Errors that stop a run for a stated reason (bin/train prints them as one line).

Every ``TrainingError`` carries a message that says what happened and what
to do; ``bin/train`` prints it without a traceback and exits with status 2.
"""
from __future__ import annotations

import re


class TrainingError(RuntimeError):
    """A run cannot start or continue; the message names the fix."""


class NonFiniteError(TrainingError, FloatingPointError):
    """A loss or a checkpointed variable is NaN or infinite (training diverged).

    No checkpoint is written from such a state; the latest checkpoint is the
    last one whose every variable was finite.
    """


class RunDirError(TrainingError):
    """The run directory cannot be written (read-only, no permission, disk full)."""


class ClusterError(TrainingError):
    """A multi-worker cluster cannot be formed or lost a worker."""


class DataStopError(TrainingError):
    """The input pipeline cannot deliver data (e.g. every file unreadable)."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message that says something, cut to
    ``limit`` characters. TensorFlow errors wrap it in boilerplate ("Graph
    execution error:", "Detected at node ...", an indented stack, a
    ``{{function_node ...}}`` prefix), which is skipped."""
    text = getattr(error, "message", None) or str(error)
    for raw in text.splitlines():
        if raw[:1].isspace():  # stack lines of "Detected at node ..."
            continue
        line = re.sub(r"^\{\{[^}]*\}\}\s*", "", raw.strip())
        if not line or line == "Graph execution error:" or line.startswith("Detected at node"):
            continue
        return line if len(line) <= limit else line[:limit] + "..."
    return type(error).__name__
