"""Prepared TFDS datasets read from a local folder, without running TFDS code.

A copy made on a machine with internet (``tfds build <name> --data_dir=DIR``)
and copied here holds ``DIR/<name>[/<config>]/<version>/dataset_info.json``
and the shards ``<name>-<split>.tfrecord-XXXXX-of-YYYYY`` of serialized
``tf.train.Example`` records (TFDS's default file format). TFDS stores an
``Image`` feature as its encoded bytes (PNG, or JPEG where the builder says
so), a ``ClassLabel`` and a bool as int64, and a nested feature dict under
``<parent>/<child>`` keys (CelebA's ``attributes/Smiling``).

The readers here index every record of a split once (bair.record_offsets:
the TFRecord headers), read the small columns (labels, ids, attributes) in one
pass, and decode one image per ``read`` (one seek and one parse), so a large
split is random access without being decoded into memory. Nothing is
downloaded: TFDS's own builder is never asked to prepare anything.
"""
from __future__ import annotations

import glob
import io
import os

import numpy as np
from PIL import Image

from tfvidgen.data.bair import record_offsets
from tfvidgen.data.sources import DatasetMissingError


def layout(name: str, version: str) -> str:
    """The expected files of a prepared TFDS copy of ``name`` (e.g. "lsun/tower")."""
    builder = name.split("/")[0]
    return (f"<data_dir>/{name}/{version}/{builder}-train.tfrecord-00000-of-000NN "
            f"(and dataset_info.json)")


def how_to_build(name: str, version: str) -> str:
    return (f"or a TFDS copy prepared on a machine with internet (tfds build {name} "
            f"--data_dir=<data_dir>, then copy <data_dir> here: {layout(name, version)})")


def find_version_dir(data_dir: str | None, name: str) -> str | None:
    """The version folder of a prepared TFDS ``name`` under data_dir, or None.

    ``data_dir`` may be TFDS's data_dir, the dataset's folder or the version
    folder itself; the newest version with shards of the builder wins.
    """
    if not data_dir or not os.path.isdir(data_dir):
        return None
    builder = name.split("/")[0]

    def has_shards(folder):
        return (os.path.exists(os.path.join(folder, "dataset_info.json"))
                and bool(glob.glob(os.path.join(folder, f"{builder}-*.tfrecord*"))))

    for base in (data_dir, os.path.join(data_dir, name)):
        if has_shards(base):
            return base
        try:
            versions = sorted((e.path for e in os.scandir(base) if e.is_dir()),
                              key=_version_key, reverse=True)
        except OSError:
            continue
        for version in versions:
            if has_shards(version):
                return version
    return None


def _version_key(path: str):
    parts = os.path.basename(path).split(".")
    return tuple(int(p) if p.isdigit() else -1 for p in parts)


def shard_paths(version_dir: str, name: str, split: str) -> list[str]:
    """The shards of ``split`` in a version folder, in TFDS's order."""
    builder = name.split("/")[0]
    return sorted(glob.glob(os.path.join(version_dir, f"{builder}-{split}.tfrecord*")))


class Records:
    """Random access to the serialized records of the shards of some splits.

    Args:
      version_dir: a prepared TFDS version folder.
      name: the TFDS name ("cifar10", "lsun/tower").
      splits: TFDS split names, read in this order.
      how_to_get: appended to the message when a split has no shards.
    """

    def __init__(self, version_dir: str, name: str, splits, how_to_get: str = ""):
        self.files, self.index = [], []
        for split in splits:
            files = shard_paths(version_dir, name, split)
            if not files:
                raise DatasetMissingError(
                    f"TFDS {name} in {version_dir} has no {split!r} shards "
                    f"({name.split('/')[0]}-{split}.tfrecord-*). {how_to_get}".rstrip())
            self.files.extend(files)
            self.index.extend((path, offset, length) for path in files
                              for offset, length in record_offsets(path))

    def __len__(self):
        return len(self.index)

    def __getitem__(self, index: int) -> bytes:
        path, offset, length = self.index[index]
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def describe(self, index: int) -> str:
        path, offset, _ = self.index[index]
        return f"{path}@{offset}"

    def columns(self, keys: dict) -> dict:
        """{key: numpy array over every record} of scalar features (int64 or bytes).

        Args:
          keys: {feature key: "int64" or "bytes"}; a missing int64 key reads as -1.
        """
        import tensorflow as tf  # parse_example: one pass over the shards in C++

        spec = {k: tf.io.FixedLenFeature([], tf.int64, default_value=-1) if kind == "int64"
                else tf.io.FixedLenFeature([], tf.string, default_value=b"")
                for k, kind in keys.items()}
        out = {k: [] for k in keys}
        dataset = tf.data.TFRecordDataset(self.files).batch(4096).map(
            lambda records: tf.io.parse_example(records, spec))
        for batch in dataset:
            for k in keys:
                out[k].append(batch[k].numpy())
        return {k: (np.concatenate(v) if v else np.zeros([0], np.int64 if keys[k] == "int64"
                                                          else object)) for k, v in out.items()}

    def image_bytes(self, index: int, key: str = "image") -> bytes:
        """The encoded image of one record."""
        from tensorflow.core.example import example_pb2

        example = example_pb2.Example.FromString(self[index])
        return example.features.feature[key].bytes_list.value[0]


def decode_rgb(data: bytes) -> np.ndarray:
    """Encoded image bytes -> uint8 [H, W, 3]."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), np.uint8)


class EncodedImages:
    """Indexable view of a ``Records``' images: [i] -> uint8 [H, W, 3].

    Args:
      records: the records.
      order: record of each position (default: the records' order).
    """

    def __init__(self, records: Records, order=None):
        self.records = records
        self.order = np.arange(len(records)) if order is None else np.asarray(order, np.int64)

    def __len__(self):
        return len(self.order)

    def __getitem__(self, index):
        return decode_rgb(self.records.image_bytes(int(self.order[index])))
