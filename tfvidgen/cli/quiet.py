"""Quiet by default: the tools show the progress bar, warnings and the lines a user acts on.

TensorFlow prints from two places. Its Python side logs through the
``tensorflow`` logger and absl (checkpoint sharding callbacks, strategy
devices, signature renames): ``quiet_python_logging`` raises them to
WARNING. Its C++ side writes straight to file descriptor 2, and much of it
before absl's logging is initialised, which ``TF_CPP_MIN_LOG_LEVEL`` does
not reach (CUDA probes on a machine without a GPU, oneDNN notices, grappler's
"remapper failed" on valid graphs). ``install`` therefore puts a filter on
fd 2 that drops C++ INFO/WARNING lines and the known harmless errors and
passes everything else through, while Python's ``sys.stderr`` keeps writing
to the terminal directly (the progress bar is not line-buffered).

Any ``--verbosity``/``-v`` on the command line (absl's flag) turns all of
this off: TensorFlow's detail comes back unchanged. A library user (a
notebook, the tests) is never affected: only the tools call ``install``.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

# C++ log lines: severity letter, MMDD or 0000, time, thread id, file:line].
_CPP_LINE = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ ([\w./-]+):\d+\] ?(.*)")
_DROPPED_ALWAYS = (
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
)
# E-level lines TensorFlow prints on healthy runs (and what they mean).
_HARMLESS_ERRORS = (
    b"failed call to cuInit",          # no GPU driver: TensorFlow falls back to the CPU
    b"remapper failed",                # grappler skips one optimisation; results unchanged
    b"Could not find cuda drivers",
)


def wants_detail(argv) -> bool:
    """Whether the command line asks for absl's verbosity (``--verbosity``, ``-v``)."""
    return any(a.startswith(("--verbosity", "-v=", "--v=")) or a in ("-v", "--v")
               for a in argv[1:])


def keep_line(line: bytes) -> bool:
    """Whether a line TensorFlow's C++ side wrote to fd 2 is shown in quiet mode."""
    if any(text in line for text in _DROPPED_ALWAYS):
        return False
    match = _CPP_LINE.match(line)
    if not match:
        return True
    severity, message = match.group(1), match.group(3)
    if severity in (b"I", b"W"):
        return False
    return not any(text in message for text in _HARMLESS_ERRORS)


class _Fd2Filter:
    """Replaces fd 2 by a pipe whose reader thread forwards the kept lines."""

    def __init__(self):
        self.terminal = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.read_end = read_end
        self.thread = threading.Thread(target=self._pump, name="stderr-filter", daemon=True)
        self.thread.start()

    def _pump(self):
        pending = b""
        while True:
            chunk = os.read(self.read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if keep_line(line))
            if out:
                os.write(self.terminal, out)
        if pending and keep_line(pending):
            os.write(self.terminal, pending)

    def close(self):
        """Restores fd 2 and forwards what is left (at exit)."""
        sys.stderr.flush()
        os.dup2(self.terminal, 2)  # closes the pipe's last write end: the reader drains
        self.thread.join(timeout=2.0)


_installed = None


def install(argv=None) -> None:
    """Quiets TensorFlow for a tool run, unless its command line asks for detail.

    Must run before TensorFlow is imported to catch its import-time lines.
    """
    global _installed
    argv = sys.argv if argv is None else argv
    if _installed is not None or wants_detail(argv) or os.environ.get("TFVIDGEN_VERBOSE"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        sys.stderr.flush()
        terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding,
                             errors="backslashreplace")
        _installed = _Fd2Filter()
    except OSError:  # no fd 2 (e.g. a detached process): nothing to filter
        return
    sys.stderr = terminal  # Python's own writes (progress bar, errors) bypass the filter
    atexit.register(_installed.close)


def quiet_python_logging(argv=None) -> None:
    """After flags are parsed: TensorFlow's and absl's INFO lines off unless
    ``--verbosity`` was given; tfvidgen's warnings stay."""
    argv = sys.argv if argv is None else argv
    if wants_detail(argv):
        return
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.WARNING)
    except ImportError:  # pragma: no cover
        pass
