"""LSUN scene categories as a folder of images (``lsun``).

LAPGAN's LSUN models (Denton, thesis section 4.3.2) train one model per
scene category (tower, bedroom, church outdoor, ...) on images downsampled
to 64x64. LSUN is released as LMDB databases, which need the ``lmdb``
package; export one first with the LSUN tools (``python data.py export
<category>_train_lmdb --out_dir <folder>``, https://github.com/fyu/lsun),
which writes the images (.webp) in nested folders. This source takes such a
folder: every image under ``--data_dir``, at any depth (.webp, .jpg,
.jpeg, .png), centre-cropped to a square and resized to ``--image_size``.

Splits: every 100th image (sorted by path) is ``test``, the others
``train``; ``all`` is every image. Unlabelled (one category per folder).

A TFDS copy of one category (``tfds build lsun/tower --data_dir=DIR`` on a
machine with internet, then copied: ``DIR/lsun/tower/3.1.0/lsun-{train,
validation}.tfrecord-*``) is read too, without TFDS code
(``tfvidgen/data/tfds_files.py``): ``--data_dir`` is DIR when it holds one
category (else DIR/lsun/<category>). Its JPEG images get the same centre
crop and resize; ``train`` is TFDS's train split, ``test`` its validation
split.
"""
from __future__ import annotations

import io
import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops, tfds_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")
TEST_EVERY = 100
TFDS_NAME, TFDS_VERSION = "lsun", "3.1.0"
TFDS_SPLITS = {"train": ("train",), "test": ("validation",), "all": ("train", "validation")}
HOW_TO_GET = ("Download a category's LMDB (e.g. tower_train_lmdb.zip, "
              "http://dl.yf.io/lsun/scenes/) and export it to images with "
              "https://github.com/fyu/lsun ('python data.py export tower_train_lmdb --out_dir "
              f"<folder>'), {tfds_files.how_to_build('lsun/tower', TFDS_VERSION)}; "
              "pass --data_dir=<folder> (--dataset=lsun).")


def list_images(data_dir) -> list:
    """Every image file under ``data_dir`` (recursively), sorted by path."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(root, f) for f in files
                     if not f.startswith(".") and image_ops.has_extension(f, EXTENSIONS))
    return sorted(found)


class LsunFolderSource(image_ops.FileListSource):
    """Images of one LSUN category (exported from its LMDB) as 1-frame videos."""

    def __init__(self, data_dir, split: str = "train", image_size: int = 64):
        paths = list_images(data_dir) if data_dir and os.path.isdir(data_dir) else []
        if not paths:
            where = (f"--data_dir={data_dir} holds no .webp/.jpg/.png images and no TFDS "
                     f"lsun/<category> copy" if data_dir
                     else "no --data_dir was given")
            raise DatasetMissingError(f"Dataset 'lsun': {where}. {HOW_TO_GET}")
        index = np.arange(len(paths))
        keep = {"train": index % TEST_EVERY != TEST_EVERY - 1,
                "test": index % TEST_EVERY == TEST_EVERY - 1,
                "all": np.ones(len(paths), bool)}
        if split not in keep:
            raise ValueError(f"lsun has splits train, test and all; got {split!r}")
        paths = [p for p, k in zip(paths, keep[split]) if k]
        if not paths:
            raise DatasetMissingError(f"Dataset 'lsun': {data_dir} has no {split!r} images "
                                      f"(every {TEST_EVERY}th image is a test image).")
        super().__init__("lsun", paths, [-1] * len(paths), (), image_size,
                         lengths=np.ones(len(paths), np.int64))

    def _read(self, index, frame_indices):
        self._check_indices(index, frame_indices)
        frame = image_ops.read_frame(self._paths[index], self.image_size)
        return np.repeat(frame[None], len(frame_indices), axis=0)


def find_tfds(data_dir) -> str | None:
    """The version folder of the one TFDS LSUN category under data_dir, or None.

    Raises:
      DatasetMissingError: data_dir holds several categories.
    """
    version_dir = tfds_files.find_version_dir(data_dir, TFDS_NAME)  # a category's folder
    if version_dir or not data_dir or not os.path.isdir(data_dir):
        return version_dir
    found = {}
    for root in (os.path.join(data_dir, TFDS_NAME), data_dir):
        try:
            categories = sorted(e.name for e in os.scandir(root) if e.is_dir())
        except OSError:
            continue
        for category in categories:
            version_dir = tfds_files.find_version_dir(os.path.join(root, category), TFDS_NAME)
            if version_dir:
                found.setdefault(category, version_dir)
    if len(found) > 1:
        raise DatasetMissingError(
            f"Dataset 'lsun': --data_dir={data_dir} holds TFDS copies of several categories "
            f"({', '.join(sorted(found))}); pass --data_dir=<data_dir>/lsun/<category> "
            f"(--dataset=lsun).")
    return next(iter(found.values()), None)


class LsunTfdsSource(VideoSource):
    """One LSUN category from a prepared TFDS copy (JPEG records) as 1-frame videos."""

    name = "lsun"

    def __init__(self, version_dir: str, split: str = "train", image_size: int = 64):
        super().__init__()
        if split not in TFDS_SPLITS:
            raise ValueError(f"lsun has splits train, test and all; got {split!r}")
        self.records = tfds_files.Records(version_dir, TFDS_NAME, TFDS_SPLITS[split], HOW_TO_GET)
        self.image_size = int(image_size)
        self.frame_shape = (self.image_size, self.image_size, 3)

    def __len__(self):
        return len(self.records)

    def num_frames(self, index):
        return 1

    def describe(self, index):
        return self.records.describe(index)

    def _read(self, index, frame_indices):
        data = self.records.image_bytes(index)
        frame = image_ops.read_frame(io.BytesIO(data), self.image_size)
        return np.repeat(frame[None], len(frame_indices), axis=0)


@registry.register_dataset("lsun")
def build_lsun(config: DataConfig) -> VideoSource:
    """An LSUN category's TFDS copy or images exported from its LMDB under
    ``config.data_dir`` (see the module doc)."""
    version_dir = find_tfds(config.data_dir)
    if version_dir:
        return LsunTfdsSource(version_dir, config.split, config.image_size)
    return LsunFolderSource(config.data_dir, config.split, config.image_size)
