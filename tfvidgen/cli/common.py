"""Helpers shared by the entry points."""
from __future__ import annotations

import os
import sys


HELP_ARGS = ("-h", "-?", "--help", "--helpshort", "--helpfull")


def parse_run_flags(argv):
    """absl ``flags_parser`` of the tools that take a method's settings (bin/train).

    Parses the run-level flags (expanding ``--flagfile``) and returns the
    arguments absl does not know, the method's ``--name=value`` settings,
    for ``experiment.resolve``. ``--help``/``--helpfull`` print the flags and,
    when ``--model`` (or a run directory's model) is known, that model's
    settings with their defaults.
    """
    from absl import flags

    from tfvidgen import flags as tfv_flags
    fv = tfv_flags.FLAGS
    wants_help = [a for a in argv[1:] if a in HELP_ARGS]
    argv = [a for a in argv if a not in HELP_ARGS]
    try:
        rest = fv(argv, known_only=True)
    except flags.Error as e:
        fail(str(e))
    if wants_help:
        print(fv.main_module_help() if wants_help != ["--helpfull"] else fv.get_help())
        print(model_settings_help(fv))
        sys.exit(0)
    return rest


def model_settings_help(fv) -> str:
    from tfvidgen import experiment
    model = fv["model"].value
    if not fv["model"].present and fv["model_dir"].value and \
            experiment.has_run(fv["model_dir"].value):
        model = experiment.read_run(fv["model_dir"].value)["model"]
    try:
        experiment.import_user_modules(fv["user_module"].value)
        return "\n" + experiment.settings_help(model)
    except ValueError as e:
        return f"\n({e})"


def fail(message: str) -> None:
    """Prints a one-paragraph error (no traceback) and exits with status 2."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(2)


def parse_flags_or_fail(flag_values, argv, doc: str) -> None:
    """Parses flags for tools that do not use absl.app: --help prints ``doc``,
    a bad flag or a stray argument exits with a one-line error. Flags not in
    ``argv`` take their defaults, also when a tool runs twice in one process
    (an earlier run's values do not leak into the next)."""
    from absl import flags
    if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv[1:]):
        print(doc + "\nflags:\n" + flag_values.get_help())
        sys.exit(0)
    if flag_values.is_parsed():  # a second run in one process starts from the defaults
        flag_values.unparse_flags()
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
