"""BAIR robot pushing (Ebert et al., 2017), registered "bair" (seed 002, section 6.3.4).

64x64 RGB videos of 30 frames of a robot arm pushing objects; actions are
not used (the paper predicts from frames alone). Two local layouts are read,
found anywhere under ``--data_dir``:

* the original TFRecords: ``bair_robot_pushing_dataset_v0.tar`` from
  http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar
  (about 30 GB), untarred: ``softmotion30_44k/{train,test}/traj_*_to_*.tfrecords``
  (tf.train.Example with raw 64x64x3 frames under ``<t>/image_aux1/encoded``);
* a TFDS copy of ``bair_robot_pushing_small`` prepared on a machine with
  internet (``tfds build bair_robot_pushing_small --data_dir=DIR``) and
  copied: ``DIR/bair_robot_pushing_small/2.0.0/bair_robot_pushing_small-{train,test}.tfrecord-*``
  (PNG frames per sequence under ``image_aux1``).

Both are read without TFDS: each shard's records are indexed once (the
TFRecord headers: length, CRC, data, CRC) and a video is one seek and one
``tf.train.Example`` parse, so videos are random access like every source.
The camera is ``image_aux1`` as in the official SVG conversion script
(``camera="image_main"`` for the other one). Splits: "train", "test"
(TFDS's and the original's), "all". All videos have the length of the
first one (30 frames in BAIR); frames are resized when ``image_size`` is
not 64.
"""
from __future__ import annotations

import glob
import io
import os
import struct

import numpy as np
from PIL import Image

from tfvidgen import registry
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import CorruptVideoError, DatasetMissingError, VideoSource

URL = "http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar"
TFDS_NAME = "bair_robot_pushing_small"
SPLITS = ("train", "test", "all")
HOW_TO_GET = (
    f"BAIR robot pushing is read from local files, either the original TFRecords ({URL}, "
    f"about 30 GB; untar it) or a TFDS copy (on a machine with internet: "
    f"tfds build {TFDS_NAME} --data_dir=DIR, then copy DIR).")
LAYOUT = f"""\
/path/to/bair/softmotion30_44k/train/traj_0_to_255.tfrecords ...   (original; also test/)
or /path/to/tfds/{TFDS_NAME}/2.0.0/{TFDS_NAME}-train.tfrecord-00000-of-00256 ...  (TFDS)"""
EXAMPLE = "bin/train --flagfile=configs/svg_lp_bair.cfg --data_dir=/path/to/bair"


def record_offsets(path: str) -> list[tuple[int, int]]:
    """(offset of the data, length) of every record of an uncompressed TFRecord file."""
    offsets = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        position = 0
        while position < size:
            header = f.read(12)
            if len(header) < 12:
                raise CorruptVideoError(f"{path}: truncated record header at byte {position}")
            length, = struct.unpack("<Q", header[:8])
            offsets.append((position + 12, length))
            position += 12 + length + 4
            f.seek(position)
    if position != size:
        raise CorruptVideoError(f"{path}: last record runs past the end of the file")
    return offsets


def find_files(data_dir: str, split: str) -> tuple[str, list[str]]:
    """("original" or "tfds", shard paths) of ``split`` under data_dir, or ("", [])."""
    splits = ("train", "test") if split == "all" else (split,)
    for pattern in ("**/softmotion30_44k/{s}/*.tfrecords", "{s}/*.tfrecords"):
        found = [p for s in splits for p in sorted(glob.glob(
            os.path.join(data_dir, pattern.format(s=s)), recursive=True))]
        if found:
            return "original", found
    found = [p for s in splits for p in sorted(glob.glob(
        os.path.join(data_dir, "**", f"{TFDS_NAME}-{s}.tfrecord*"), recursive=True))]
    return ("tfds", found) if found else ("", [])


class BairSource(VideoSource):
    """BAIR robot pushing videos (uint8 [30, S, S, 3]) of one split."""

    name = "bair"

    def __init__(self, data_dir: str, image_size: int = 64, split: str = "train",
                 camera: str = "image_aux1", name: str = "bair"):
        """Indexes the records of ``split``; decodes one video (the first).

        Raises:
          DatasetMissingError: no BAIR TFRecords of ``split`` under data_dir.
        """
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"BAIR split must be one of {SPLITS}, got {split!r}")
        layout, files = ("", [])
        if data_dir and os.path.isdir(data_dir):
            layout, files = find_files(data_dir, split)
        if not files:
            problem = ("no --data_dir was given" if not data_dir else
                       f"--data_dir={data_dir} is not a folder" if not os.path.isdir(data_dir)
                       else f"--data_dir={data_dir} holds no BAIR TFRecords of split {split!r}")
            raise DatasetMissingError(
                f"Dataset 'bair': {problem}.\n{HOW_TO_GET}\nExpected layout:\n"
                + "\n".join("  " + line for line in LAYOUT.splitlines())
                + f"\nPoint --data_dir at that folder, e.g.\n  {EXAMPLE}")
        self.name, self.layout, self.camera, self.split = name, layout, camera, split
        self.data_dir = str(data_dir)
        self.image_size = int(image_size)
        self.frame_shape = (self.image_size, self.image_size, 3)
        self.records = [(path, offset, length) for path in files
                        for offset, length in record_offsets(path)]
        if not self.records:
            raise DatasetMissingError(f"BAIR files under {data_dir} hold no records. {HOW_TO_GET}")
        self.video_length = len(self._frames_of(self._example(0)))

    def __len__(self):
        return len(self.records)

    def num_frames(self, index: int) -> int:
        return self.video_length

    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.video_length, np.int64)

    def describe(self, index: int) -> str:
        path, offset, _ = self.records[index]
        return f"{path}@{offset}"

    def _example(self, index: int):
        import tensorflow as tf  # the tf.train.Example protobuf

        path, offset, length = self.records[index]
        with open(path, "rb") as f:  # one open per read: no descriptor per thread and shard
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:
            raise CorruptVideoError(f"{self.describe(index)}: truncated record")
        try:
            return tf.train.Example.FromString(data).features.feature
        except Exception as e:  # protobuf's DecodeError
            raise CorruptVideoError(f"{self.describe(index)}: {e}") from e

    def _frames_of(self, features) -> list:
        """Encoded (TFDS) or raw (original) frames of one example's camera."""
        if self.layout == "tfds":
            if self.camera not in features:
                raise CorruptVideoError(f"no {self.camera!r} in a {TFDS_NAME} record")
            return list(features[self.camera].bytes_list.value)
        frames, t = [], 0
        while f"{t}/{self.camera}/encoded" in features:
            frames.append(features[f"{t}/{self.camera}/encoded"].bytes_list.value[0])
            t += 1
        if not frames:
            raise CorruptVideoError(f"no '0/{self.camera}/encoded' in a BAIR record")
        return frames

    def _decode(self, data: bytes) -> np.ndarray:
        if len(data) == 64 * 64 * 3:  # the original's raw frames
            frame = np.frombuffer(data, np.uint8).reshape(64, 64, 3)
        else:
            frame = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if frame.shape[:2] != (self.image_size, self.image_size):
            frame = np.asarray(Image.fromarray(frame).resize(
                (self.image_size, self.image_size), Image.BILINEAR))
        return frame

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        frames = self._frames_of(self._example(index))
        if frame_indices.size and (frame_indices.min() < 0 or frame_indices.max() >= len(frames)):
            raise IndexError(f"{self.describe(index)} has {len(frames)} frames")
        out = np.empty((len(frame_indices),) + self.frame_shape, np.uint8)
        for k, t in enumerate(frame_indices):
            out[k] = self._decode(frames[int(t)])
        return out


@registry.register_dataset("bair")
def build_bair(config: DataConfig) -> VideoSource:
    """BAIR robot pushing videos of ``config.split`` under ``config.data_dir``."""
    return BairSource(config.data_dir, config.image_size, split=config.split)
