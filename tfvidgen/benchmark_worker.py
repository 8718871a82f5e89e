"""The PyTorch side of ``bin/benchmark --baseline=torch`` without TensorFlow.

``load_baseline`` imports ``benchmarks/<name>.py`` from the source tree;
``main`` is the child process (``python -m tfvidgen.benchmark_worker``) of ``tfvidgen.benchmark.TorchProcess``.
This module imports neither TensorFlow nor Keras, so the spawned child
holds PyTorch's threads only.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

TORCH_MISSING = ("PyTorch is not installed: pip install torch==2.13.0 for --baseline=torch "
                 "(needed for the side-by-side measurement only, not by tfvidgen).")


def load_baseline(name: str = "mocogan_torch"):
    """Imports ``benchmarks/<name>.py`` from the source tree (needs PyTorch)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise RuntimeError(TORCH_MISSING) from None
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", f"{name}.py")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not found: --baseline=torch runs from a source checkout.")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Child process of ``tfvidgen.benchmark.TorchProcess`` (JSON lines on stdin/stdout).

    Reads {"name", "kwargs"}, builds ``Baseline(**kwargs)`` of
    ``benchmarks/<name>.py`` and answers {"ready": describe()} (or
    {"error": ...}); then runs one iteration per "iteration" line and
    answers {"seconds", "cpu"} (this process's CPU seconds), until EOF.
    """
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # anything else printed must not reach the protocol
    request = json.loads(sys.stdin.readline())
    try:
        baseline = load_baseline(request["name"]).Baseline(**request["kwargs"])
    except Exception as e:  # noqa: BLE001  (reported to the parent)
        protocol.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        protocol.flush()
        return
    protocol.write(json.dumps({"ready": baseline.describe()}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        if line.strip() != "iteration":
            break
        start_cpu = time.process_time()
        seconds = baseline.iteration()
        protocol.write(json.dumps({"seconds": seconds,
                                   "cpu": time.process_time() - start_cpu}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
