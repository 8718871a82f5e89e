"""Imports every module of tfvidgen.data so that registry lookups see every dataset.

A new dataset is a new module with a ``@registry.register_dataset``
decorator and no edit here.
"""
from __future__ import annotations

import importlib
import pkgutil

import tfvidgen.data
from tfvidgen import registry
from tfvidgen.data.sources import VideoSource

for _module in pkgutil.iter_modules(tfvidgen.data.__path__):
    if _module.name != "datasets":
        importlib.import_module(f"tfvidgen.data.{_module.name}")


def build_source(name: str, config) -> VideoSource:
    """Builds the registered dataset ``name`` from a DataConfig.

    Args:
      name: registered dataset name, e.g. "video_folder" or "mug".
      config: tfvidgen.data.config.DataConfig.
    Returns:
      The VideoSource.
    Raises:
      KeyError: unknown name (the message lists the known ones).
      DatasetMissingError: the dataset's files are not where config points.
    """
    return registry.DATASETS.get(name)(config)
