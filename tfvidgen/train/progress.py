"""A terminal progress bar with steps/s and ETA (no dependency)."""
from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Prints ``step/total [####....] 3.1 steps/s ETA 01:23 loss=...``.

    Rewrites one line on a terminal; prints a line every ``every`` steps
    otherwise (log files, CI).
    """

    def __init__(self, total: int, initial: int = 0, stream=None, every: int = 50,
                 width: int = 24):
        self.total, self.start_step = total, initial
        self.stream = stream or sys.stderr
        self.every, self.width = every, width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.rate = 0.0

    def update(self, step: int, metrics=None) -> str:
        elapsed = time.monotonic() - self.started
        done = step - self.start_step
        self.rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / self.rate if self.rate > 0 else 0.0
        filled = int(self.width * step / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        shown = " ".join(f"{k}={float(v):.3f}" for k, v in sorted((metrics or {}).items())
                         if k.endswith("loss"))
        line = (f"{step}/{self.total} [{bar}] {self.rate:.2f} steps/s "
                f"ETA {format_seconds(eta)} {shown}")
        if self.tty:
            self.stream.write("\r" + line[:200])
        elif step % self.every == 0 or step == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()
        return line

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
