"""Tiny TFDS-prepared datasets written by TFDS's own builders, offline.

Each helper subclasses the real TFDS builder (so the features, file names,
version folder and ``dataset_info.json`` are exactly what ``tfds build``
writes) and replaces only ``_split_generators`` with a few given examples:
nothing is downloaded. Used by tests/test_lapgan_data.py and
tests/test_celeba.py to check that tfvidgen's readers of TFDS copies see the
images and labels that went in.
"""
from __future__ import annotations

import io

import numpy as np
import pytest


def _tfds():
    return pytest.importorskip("tensorflow_datasets")


def _prepare(builder_cls, data_dir, splits: dict, **kwargs):
    """Writes ``splits`` ({split: [(key, example), ...]}) with the builder's writer.

    Returns:
      The prepared version folder (``data_dir/<name>[/<config>]/<version>``).
    """
    tfds = _tfds()

    class Fake(builder_cls, skip_registration=True):
        name = builder_cls.name
        # Where TFDS finds the real builder's metadata and checksums.
        pkg_dir_path = builder_cls._get_pkg_dir_path()  # pylint: disable=protected-access
        code_path = None  # (TFDS 4.9 looks it up with importlib_resources)

        def _split_generators(self, dl_manager):
            return {split: iter(examples) for split, examples in splits.items()}

    builder = Fake(data_dir=str(data_dir), **kwargs)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        compute_stats=tfds.download.ComputeStatsMode.SKIP))
    return str(builder.data_dir)


def cifar10(data_dir, splits: dict):
    """``splits``: {split: (uint8 [N, 32, 32, 3], labels [N])}; ids in the released order."""
    from tensorflow_datasets.image_classification import cifar
    return _prepare(cifar.Cifar10, data_dir, {
        split: [(i, {"id": f"{split}_{i:05d}", "image": images[i], "label": int(labels[i])})
                for i in range(len(images))]
        for split, (images, labels) in splits.items()})


def stl10(data_dir, splits: dict):
    """``splits``: {"train"/"test"/"unlabelled": (uint8 [N, 96, 96, 3], labels [N])}."""
    from tensorflow_datasets.datasets.stl10 import stl10_dataset_builder
    return _prepare(stl10_dataset_builder.Builder, data_dir, {
        split: [(i, {"image": images[i], "label": int(labels[i])}) for i in range(len(images))]
        for split, (images, labels) in splits.items()})


def _jpeg(image) -> io.BytesIO:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="JPEG", quality=95)
    buffer.seek(0)
    return buffer


def lsun(data_dir, category: str, splits: dict):
    """``splits``: {"train"/"validation": [uint8 [H, W, 3], ...]} (stored as JPEG)."""
    from tensorflow_datasets.image import lsun as tfds_lsun
    return _prepare(tfds_lsun.Lsun, data_dir, {
        split: [(i, {"id": f"{category}{i:04d}", "image": _jpeg(image)})
                for i, image in enumerate(images)]
        for split, images in splits.items()}, config=category)


def celeb_a(data_dir, splits: dict):
    """``splits``: {split: [(file name, uint8 [218, 178, 3], {attribute: bool})]}.

    Attributes not given are False; landmarks and identity are zeros.
    """
    from tensorflow_datasets.datasets.celeb_a import celeb_a_dataset_builder as cb

    def record(image, attributes):
        return {"image": _jpeg(image),
                "landmarks": {k: 0 for k in cb.LANDMARK_HEADINGS},
                "attributes": {k: bool(attributes.get(k, False)) for k in cb.ATTR_HEADINGS},
                "identity": {k: 0 for k in cb.IDENTITY_HEADINGS}}

    return _prepare(cb.Builder, data_dir, {
        split: [(name, record(image, attributes)) for name, image, attributes in examples]
        for split, examples in splits.items()})
