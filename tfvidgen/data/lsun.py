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
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

EXTENSIONS = (".webp", ".jpg", ".jpeg", ".png")
TEST_EVERY = 100
HOW_TO_GET = ("Download a category's LMDB (e.g. tower_train_lmdb.zip, "
              "http://dl.yf.io/lsun/scenes/), export it to images with "
              "https://github.com/fyu/lsun ('python data.py export tower_train_lmdb --out_dir "
              "<folder>'), and pass --data_dir=<folder> (--dataset=lsun).")


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
            where = (f"--data_dir={data_dir} holds no .webp/.jpg/.png images" if data_dir
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


@registry.register_dataset("lsun")
def build_lsun(config: DataConfig) -> VideoSource:
    """An LSUN category exported to images under ``config.data_dir`` (see the module doc)."""
    return LsunFolderSource(config.data_dir, config.split, config.image_size)
