"""What a dataset factory is told: filled from the data flags."""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass
class DataConfig:
    """Arguments of every registered dataset factory.

    Attributes:
      data_dir: root folder of the dataset's files (None for built-ins).
      image_size: frames are delivered as image_size x image_size RGB.
      split: "train", "test" or "all" where the dataset defines splits.
      seed: seed of any random split or generation.
      num_identities: built-in synthetic data: number of identities.
      num_takes: built-in synthetic data: takes per (identity, expression).
      video_length: built-in synthetic data: frames per video.
      cache: keep decoded/drawn videos in memory after the first read.
    """
    data_dir: Optional[str] = None
    image_size: int = 64
    split: str = "train"
    seed: int = 0
    num_identities: int = 24
    num_takes: int = 2
    video_length: int = 32
    cache: bool = True
