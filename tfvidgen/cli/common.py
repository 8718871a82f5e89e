"""Helpers shared by the entry points."""
from __future__ import annotations

import os
import sys


def resume_argv(argv):
    """Prepends ``--flagfile=<model_dir>/flags.txt`` when resuming a run.

    ``bin/train --model_dir=runs/x`` of an existing run then needs no other
    flag; flags given on the command line still override the saved ones.
    """
    if any(a.startswith("--flagfile") for a in argv[1:]):
        return argv
    model_dir = None
    for i, arg in enumerate(argv[1:], start=1):
        if arg.startswith("--model_dir="):
            model_dir = arg.split("=", 1)[1]
        elif arg == "--model_dir" and i + 1 < len(argv):
            model_dir = argv[i + 1]
    if model_dir and os.path.exists(os.path.join(model_dir, "flags.txt")):
        return [argv[0], f"--flagfile={os.path.join(model_dir, 'flags.txt')}"] + list(argv[1:])
    return argv


def fail(message: str) -> None:
    """Prints a one-paragraph error (no traceback) and exits with status 2."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)
