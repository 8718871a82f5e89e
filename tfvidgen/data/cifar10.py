"""CIFAR-10 from its binary release (``cifar-10-batches-bin``), read with numpy.

LAPGAN's CIFAR-10 models (Denton, thesis section 4.3.1) train on the 50,000
training images (32x32, 10 classes); the thesis takes 28x28 crops
(``--crop_from=32`` of the lapgan settings). The python release is pickles,
which are never unpickled here: use the binary one. Each record of
``data_batch_{1..5}.bin`` / ``test_batch.bin`` is one label byte and 3072
pixel bytes (the red, green and blue 32x32 planes, row-major).

Splits: ``train`` (the five training batches), ``test`` (``test_batch.bin``),
``all``. Images are stored at 32x32 when ``--image_size`` divides 32 (the
pipeline average-pools them to a smaller size), else resized to
``--image_size``. Images are videos of one frame.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
HOW_TO_GET = ("Download the CIFAR-10 binary version (cifar-10-binary.tar.gz, "
              "https://www.cs.toronto.edu/~kriz/cifar.html), unpack it so that "
              "<data_dir>/cifar-10-batches-bin/data_batch_1.bin exists, and pass "
              "--data_dir=<data_dir> (--dataset=cifar10).")


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
        folder = None
        for candidate in ([os.path.join(data_dir, "cifar-10-batches-bin"), data_dir]
                          if data_dir else []):
            if os.path.exists(os.path.join(candidate, "test_batch.bin")):
                folder = candidate
                break
        if folder is None:
            where = f"--data_dir={data_dir} has no cifar-10-batches-bin/test_batch.bin" \
                if data_dir else "no --data_dir was given"
            raise DatasetMissingError(f"Dataset 'cifar10': {where}. {HOW_TO_GET}")
        files = {"train": TRAIN_FILES, "test": TEST_FILES, "all": TRAIN_FILES + TEST_FILES}
        if split not in files:
            raise ValueError(f"cifar10 has splits train, test and all; got {split!r}")
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


@registry.register_dataset("cifar10")
def build_cifar10(config: DataConfig) -> VideoSource:
    """CIFAR-10's binary release under ``config.data_dir`` (see the module docstring)."""
    return Cifar10Source(config.data_dir, config.split, config.image_size)
