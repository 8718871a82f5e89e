"""Imports every dataset module so that registry lookups see them all."""
from __future__ import annotations

from tfvidgen import registry
from tfvidgen.data import synthetic_expressions, video_folder, frame_folders, video_files, mug  # noqa: F401
from tfvidgen.data import bair, kth, moving_mnist  # noqa: F401
from tfvidgen.data.sources import VideoSource


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
