"""Serving exported generators: TF Serving's gRPC/REST API, client and server.

* ``Client`` (``tfvidgen.serving.client``): sampling client for
  ``tensorflow_model_server`` or ``bin/serve``; numpy uint8 videos.
* ``tfvidgen.serving.server.ModelServer``: the package's implementation of
  TF Serving's PredictionService / ModelService (and REST), used by
  ``bin/serve`` when ``tensorflow_model_server`` is not on PATH.
* ``tfvidgen.serving.config``: ``models.config`` and batching parameters.
* ``tfvidgen.serving.savedmodel``: signature defs and warm-up records.
* ``tfvidgen.serving.benchmark``: gRPC vs in-process latency and throughput.

See docs/serving.md.
"""
from tfvidgen.serving.client import Client, derive_seed  # noqa: F401
from tfvidgen.serving.errors import ServingError  # noqa: F401
