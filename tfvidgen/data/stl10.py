"""STL-10 from its binary release (``stl10_binary``), read with numpy (memory-mapped).

LAPGAN's STL-10 model (Denton, thesis section 4.3.1) trains on the 100,000
unlabelled 96x96 images, with 4 levels 8 -> 16 -> 32 -> 64 -> 96. Files:
``unlabeled_X.bin``, ``train_X.bin`` / ``train_y.bin`` (5,000 labelled),
``test_X.bin`` / ``test_y.bin`` (8,000): uint8 images of 3 x 96 x 96 bytes,
each colour plane column-major, and label bytes 1..10.

A TFDS copy (``tfds build stl10 --data_dir=DIR`` on a machine with internet,
then copied: ``DIR/stl10/1.0.0/stl10-{train,test,unlabelled}.tfrecord-*``) is
read too, without TFDS code (``tfvidgen/data/tfds_files.py``), when the
binary release is not there: the same images (PNG-encoded) and labels
(0..9, -1 for ``unlabelled``), in TFDS's shuffled order within each split.

Splits: ``train`` (unlabelled then labelled training images; the unlabelled
ones have label -1; the labelled ones alone when ``unlabeled_X.bin`` is
absent), ``test`` (the test images) and ``all``. Images are stored at 96x96 when ``--image_size``
divides 96 (e.g. 32, which the pipeline reaches by 3x3 average pooling:
Table 4.1's STL-10 @32x32), else resized to ``--image_size``.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import tfds_files
from tfvidgen.data.cifar10 import (Concat, ImageArraySource, _PlaneImages, release_or_tfds,
                                   stored_size)
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

CLASS_NAMES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
               "truck")
SIDE = 96
TFDS_NAME, TFDS_VERSION = "stl10", "1.0.0"
HOW_TO_GET = ("Download the STL-10 binary files (stl10_binary.tar.gz, "
              "https://cs.stanford.edu/~acoates/stl10/) and unpack them so that "
              "<data_dir>/stl10_binary/test_X.bin exists, "
              f"{tfds_files.how_to_build(TFDS_NAME, TFDS_VERSION)}; "
              "pass --data_dir=<data_dir> (--dataset=stl10).")
SPLITS = {"train": ("unlabeled", "train"), "test": ("test",), "all": ("unlabeled", "train", "test")}
TFDS_SPLITS = {"unlabeled": "unlabelled", "train": "train", "test": "test"}


class Stl10Source(ImageArraySource):
    """STL-10 (binary release) as 1-frame videos."""

    def __init__(self, data_dir, split: str = "train", image_size: int = SIDE):
        if split not in SPLITS:
            raise ValueError(f"stl10 has splits train, test and all; got {split!r}")
        layout, folder = release_or_tfds("stl10", data_dir, "stl10_binary", "test_X.bin",
                                         TFDS_NAME, HOW_TO_GET)
        self.layout = layout
        parts, labels = [], []
        for part in SPLITS[split]:
            if layout == "tfds":
                tfds_split = TFDS_SPLITS[part]
                if part == "unlabeled" and split == "train" and not tfds_files.shard_paths(
                        folder, TFDS_NAME, tfds_split):
                    continue  # the labelled training images alone
                records = tfds_files.Records(folder, TFDS_NAME, [tfds_split], HOW_TO_GET)
                parts.append(tfds_files.EncodedImages(records))
                labels.append(np.full(len(records), -1, np.int64) if part == "unlabeled"
                              else records.columns({"label": "int64"})["label"])
                continue
            path = os.path.join(folder, f"{part}_X.bin")
            if not os.path.exists(path):
                if part == "unlabeled" and split == "train":
                    continue  # the labelled training images alone
                raise DatasetMissingError(f"Dataset 'stl10': {path} is missing. {HOW_TO_GET}")
            rows = np.memmap(path, np.uint8, mode="r").reshape(-1, 3 * SIDE * SIDE)
            parts.append(_PlaneImages(rows, SIDE, transpose=True))
            label_path = os.path.join(folder, f"{part}_y.bin")
            if part == "unlabeled" or not os.path.exists(label_path):
                labels.append(np.full(len(rows), -1, np.int64))
            else:
                labels.append(np.fromfile(label_path, np.uint8).astype(np.int64) - 1)
        super().__init__("stl10", Concat(parts), np.concatenate(labels), CLASS_NAMES,
                         stored_size(SIDE, image_size))


@registry.register_dataset("stl10")
def build_stl10(config: DataConfig) -> VideoSource:
    """STL-10's binary release or TFDS copy under ``config.data_dir`` (module docstring)."""
    return Stl10Source(config.data_dir, config.split, config.image_size)
