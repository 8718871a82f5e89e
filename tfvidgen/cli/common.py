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


def parse_flags_or_fail(flag_values, argv, doc: str) -> None:
    """Parses flags for tools that do not use absl.app: --help prints ``doc``,
    a bad flag or a stray argument exits with a one-line error."""
    from absl import flags
    if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
        print(doc + "\nflags:\n" + flag_values.get_help())
        sys.exit(0)
    try:
        rest = flag_values(argv)
    except flags.Error as e:
        fail(str(e))
    if len(rest) > 1:
        fail(f"unexpected arguments {rest[1:]}: flags are written --name=value.")


def run_tool(flag_values, main, doc: str, argv=None) -> None:
    """Entry point of a tool with its own FlagValues: parses ``argv`` (default
    sys.argv) with ``parse_flags_or_fail``, then calls ``main()``."""
    parse_flags_or_fail(flag_values, list(sys.argv if argv is None else argv), doc)
    main()
