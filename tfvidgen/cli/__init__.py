"""Entry points behind bin/ (thin: parse flags, call the library)."""

import os as _os
import sys as _sys

# The tools (bin/<name> of this repository, or the tfvidgen-<name> console
# scripts) start quiet; importing tfvidgen.cli from a library or a test does not.
_TOOLS = {"train", "export", "evaluate", "sample", "serve", "benchmark", "benchmark_serving",
          "drnet_classify", "prior_uncertainty", "train_evaluator", "two_afc"}
_prog = _sys.argv[0] if _sys.argv and _sys.argv[0] else ""
if _os.path.basename(_prog).startswith("tfvidgen-") or (
        _os.path.basename(_prog) in _TOOLS and _os.path.isdir(
            _os.path.join(_os.path.dirname(_os.path.abspath(_prog)), "..", "tfvidgen"))):
    from tfvidgen.cli import quiet as _quiet
    _quiet.install()
