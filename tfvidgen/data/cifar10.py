"""CIFAR-10 from its binary release (``cifar-10-batches-bin``), read with numpy.

LAPGAN's CIFAR-10 models (Denton, thesis section 4.3.1) train on the 50,000
training images (32x32, 10 classes); the thesis takes 28x28 crops
(``--crop_from=32`` of the lapgan settings). The python release is pickles,
which are never unpickled here: use the binary one. Each record of
``data_batch_{1..5}.bin`` / ``test_batch.bin`` is one label byte and 3072
pixel bytes (the red, green and blue 32x32 planes, row-major).

A TFDS copy (``tfds build cifar10 --data_dir=DIR`` on a machine with
internet, then copied: ``DIR/cifar10/3.0.2/cifar10-{train,test}.tfrecord-*``)
is read too, without TFDS code (``tfvidgen/data/tfds_files.py``), when the
binary release is not there: its PNG images are the same pixels, and its
records are put back in the release's order by their ``id``
(``train_00000`` ...), so both give the same arrays and labels.

Splits: ``train`` (the five training batches), ``test`` (``test_batch.bin``),
``all``. Images are stored at 32x32 when ``--image_size`` divides 32 (the
pipeline average-pools them to a smaller size), else resized to
``--image_size``. Images are videos of one frame.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops, tfds_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
SPLITS = {"train": ("train",), "test": ("test",), "all": ("train", "test")}  # TFDS splits
TFDS_NAME, TFDS_VERSION = "cifar10", "3.0.2"
HOW_TO_GET = ("Download the CIFAR-10 binary version (cifar-10-binary.tar.gz, "
              "https://www.cs.toronto.edu/~kriz/cifar.html) and unpack it so that "
              "<data_dir>/cifar-10-batches-bin/data_batch_1.bin exists, "
              f"{tfds_files.how_to_build(TFDS_NAME, TFDS_VERSION)}; "
              "pass --data_dir=<data_dir> (--dataset=cifar10).")


def stored_size(native: int, image_size: int) -> int:
    """The native size when ``image_size`` divides it (pooled later), else ``image_size``."""
    return native if image_size and native % image_size == 0 else image_size


class ImageArraySource(VideoSource):
    """Images held in (memory-mapped) arrays [N, H, W, 3], as one-frame videos.

    Args:
      images: uint8 array-like [N, H, W, 3] (read lazily when memory-mapped).
      labels: int [N] (-1: unlabelled).
      size: delivered side; images of another size are resized (bilinear).
    """

    def __init__(self, name, images, labels, class_names, size: int):
        super().__init__()
        self.name, self.images, self.labels_ = name, images, np.asarray(labels, np.int64)
        self.class_names = tuple(class_names)
        self.size = int(size)
        self.frame_shape = (self.size, self.size, 3)

    def __len__(self):
        return len(self.labels_)

    def num_frames(self, index):
        return 1

    def label(self, index):
        return int(self.labels_[index])

    def image(self, index) -> np.ndarray:
        return np.asarray(self.images[index], np.uint8)

    def _read(self, index, frame_indices):
        image = self.image(index)
        if image.shape[0] != self.size:
            image = image_ops.resize_frame(image, self.size)
        return np.repeat(image[None], len(frame_indices), axis=0)


def find_release(data_dir, folder: str, marker: str):
    """``data_dir/folder`` or ``data_dir`` itself, whichever holds ``marker``; else None."""
    for candidate in ([os.path.join(data_dir, folder), data_dir] if data_dir else []):
        if os.path.exists(os.path.join(candidate, marker)):
            return candidate
    return None


def release_or_tfds(dataset: str, data_dir, folder: str, marker: str, tfds_name: str,
                    how_to_get: str):
    """("release", folder) or ("tfds", version folder) under data_dir.

    Raises:
      DatasetMissingError: neither is there (says what, where and which flag).
    """
    found = find_release(data_dir, folder, marker)
    if found:
        return "release", found
    version_dir = tfds_files.find_version_dir(data_dir, tfds_name)
    if version_dir:
        return "tfds", version_dir
    where = (f"--data_dir={data_dir} has neither {folder}/{marker} nor a TFDS {tfds_name} "
             f"copy" if data_dir else "no --data_dir was given")
    raise DatasetMissingError(f"Dataset '{dataset}': {where}. {how_to_get}")


def _chunks(paths):
    for path in paths:
        raw = np.memmap(path, np.uint8, mode="r")
        if raw.size % 3073:
            raise DatasetMissingError(f"{path} is not a CIFAR-10 binary batch (size "
                                      f"{raw.size} is not a multiple of 3073). {HOW_TO_GET}")
        yield raw.reshape(-1, 3073)


class Cifar10Source(ImageArraySource):
    """CIFAR-10 (binary release) as 1-frame labelled videos."""

    def __init__(self, data_dir, split: str = "train", image_size: int = 32):
        if split not in SPLITS:
            raise ValueError(f"cifar10 has splits train, test and all; got {split!r}")
        self.layout, folder = release_or_tfds("cifar10", data_dir, "cifar-10-batches-bin",
                                              "test_batch.bin", TFDS_NAME, HOW_TO_GET)
        if self.layout == "tfds":
            parts, labels = [], []
            for tfds_split in SPLITS[split]:
                records = tfds_files.Records(folder, TFDS_NAME, [tfds_split], HOW_TO_GET)
                columns = records.columns({"id": "bytes", "label": "int64"})
                order = np.argsort(columns["id"], kind="stable")  # the release's order
                parts.append(tfds_files.EncodedImages(records, order))
                labels.append(columns["label"][order])
            super().__init__("cifar10", Concat(parts), np.concatenate(labels), CLASS_NAMES,
                             stored_size(32, image_size))
            return
        files = {"train": TRAIN_FILES, "test": TEST_FILES, "all": TRAIN_FILES + TEST_FILES}
        missing = [f for f in files[split] if not os.path.exists(os.path.join(folder, f))]
        if missing:
            raise DatasetMissingError(f"Dataset 'cifar10': {folder} lacks {', '.join(missing)}. "
                                      f"{HOW_TO_GET}")
        records = np.concatenate(list(_chunks(os.path.join(folder, f) for f in files[split])))
        self.records = records
        images = _PlaneImages(records[:, 1:], 32)
        super().__init__("cifar10", images, records[:, 0].astype(np.int64), CLASS_NAMES,
                         stored_size(32, image_size))


class _PlaneImages:
    """Indexable view: rows of R, G, B planes (3 * side^2 bytes) -> [side, side, 3]."""

    def __init__(self, rows, side: int, transpose: bool = False):
        self.rows, self.side, self.transpose = rows, side, transpose

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        planes = np.asarray(self.rows[index]).reshape(3, self.side, self.side)
        if self.transpose:  # column-major planes (STL-10)
            planes = planes.transpose(0, 2, 1)
        return planes.transpose(1, 2, 0)


class Concat:
    """Indexable concatenation of indexable parts."""

    def __init__(self, parts):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self):
        return int(self.offsets[-1])

    def __getitem__(self, index):
        part = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.parts[part][index - int(self.offsets[part])]


@registry.register_dataset("cifar10")
def build_cifar10(config: DataConfig) -> VideoSource:
    """CIFAR-10's binary release or TFDS copy under ``config.data_dir`` (module docstring)."""
    return Cifar10Source(config.data_dir, config.split, config.image_size)
