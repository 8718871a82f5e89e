"""KTH human actions (Schuldt et al., ICPR 2004), registered "kth" (seed 002, section 6.3.3).

Get the six zip files (walking, jogging, running, boxing, handwaving,
handclapping) from https://www.csc.kth.se/cvap/actions/ and unpack them into
one folder, one subfolder per action or all together; the file names carry
the person, the action and the scenario::

    KTH/boxing/person01_boxing_d1_uncomp.avi ...   (or KTH/person01_boxing_d1_uncomp.avi)
    KTH/00sequences.txt                            (optional, from the same page)

``--data_dir`` points at ``KTH``. Reading AVIs needs a video backend:
``pip install imageio-ffmpeg`` (the ``video`` extra) or PyAV. Any other
container imageio reads (mp4, gif, ...) works too, under the same names.

* Split by person, as the official SVG/DRNet loaders: persons 1-20 are
  "train", 21-25 "test" (``TRAIN_PERSONS``); "all" is everything.
* Labels are the actions (``ACTIONS``, alphabetical as the official code);
  the identity is the person number.
* When ``00sequences.txt`` is found (in ``data_dir`` or a subfolder), each
  file becomes one video per listed sequence (the 4 segments in which the
  subject crosses the view or repeats the action), as KTH defines its
  sequences; otherwise a file is one video.
* Frames (160x120 grey) are resized to image_size x image_size, the whole
  frame squashed as the official preprocessing does (``ffmpeg -s 64x64``),
  and delivered as three equal RGB channels (``--frame_channels=1`` makes
  SVG model one).
* With ``cache`` (the default), a file's frames are kept in memory (grey,
  at image_size) after its first decode: KTH at 64x64 is about 1.2 GB, and
  an AVI is decoded from its start, so re-decoding for every clip would
  dominate training time.
"""
from __future__ import annotations

import logging
import os
import re
import threading

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops, video_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import CorruptVideoError, DatasetMissingError, VideoSource

ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
TRAIN_PERSONS = tuple(range(1, 21))
TEST_PERSONS = tuple(range(21, 26))
SPLITS = ("train", "test", "all")
SEQUENCES_FILE = "00sequences.txt"
URL = "https://www.csc.kth.se/cvap/actions/"
NAME = re.compile(r"^person(\d+)_([a-z]+)_d(\d+)(?:_uncomp)?\.[a-z0-9]+$", re.IGNORECASE)
HOW_TO_GET = (f"Download walking.zip, jogging.zip, running.zip, boxing.zip, handwaving.zip and "
              f"handclapping.zip (and 00sequences.txt) from {URL} and unpack them.")
LAYOUT = """\
/path/to/KTH/<action>/person<NN>_<action>_d<K>_uncomp.avi   (or all files in /path/to/KTH/)
/path/to/KTH/00sequences.txt   (optional: splits each file into its listed sequences)
<action> is one of boxing, handclapping, handwaving, jogging, running, walking
AVI files need: pip install imageio-ffmpeg  (or 'tfvidgen[video]')"""
EXAMPLE = "bin/train --flagfile=configs/svg_lp_kth.cfg --data_dir=/path/to/KTH"


def parse_name(name: str):
    """(person, action index, scenario) from a KTH file name, or None."""
    match = NAME.match(os.path.basename(name))
    if not match or match.group(2).lower() not in ACTIONS:
        return None
    return int(match.group(1)), ACTIONS.index(match.group(2).lower()), int(match.group(3))


def parse_sequences(text: str) -> dict:
    """``00sequences.txt`` -> {video stem: [(first, last), ...]} with 0-based inclusive frames.

    Lines read ``person01_boxing_d1<tabs>frames<tab>1-95, 96-185, 186-245, 246-360``.
    """
    sequences = {}
    for line in text.splitlines():
        match = re.match(r"\s*(person\d+_[a-z]+_d\d+)\s+frames\s+(.*)$", line, re.IGNORECASE)
        if not match:
            continue
        ranges = [(int(a) - 1, int(b) - 1)
                  for a, b in re.findall(r"(\d+)\s*-\s*(\d+)", match.group(2))]
        if ranges:
            sequences[match.group(1).lower()] = ranges
    return sequences


def scan_kth(data_dir: str, max_depth: int = 2):
    """KTH video files under data_dir and the sequences file, if any.

    Returns:
      (files, sequences_path): files as (path, person, action, scenario),
      sorted by (action, person, scenario).
    """
    files, sequences_path, level = [], None, [data_dir]
    for _ in range(max_depth + 1):
        following = []
        for folder in level:
            for path in image_ops.list_files(folder, video_files.VIDEO_EXTENSIONS):
                parsed = parse_name(path)
                if parsed:
                    files.append((path,) + parsed)
            candidate = os.path.join(folder, SEQUENCES_FILE)
            if sequences_path is None and os.path.isfile(candidate):
                sequences_path = candidate
            following += image_ops.list_subdirs(folder)
        level = following
    files.sort(key=lambda f: (f[2], f[1], f[3], f[0]))
    return files, sequences_path


class KTHSource(image_ops.FileListSource):
    """KTH videos (or sequences) of one split: labelled by action, identity = person.

    Attributes:
      persons: person number of each video.
      segments: (first, last) frame of each video in its file (last = -1: to the end).
    """

    def __init__(self, data_dir: str, image_size: int = 64, split: str = "train",
                 use_sequences: bool = True, cache: bool = True, name: str = "kth"):
        """Lists the files of ``split``; decodes nothing.

        Args:
          data_dir: the KTH folder (see module docstring).
          image_size: frames are resized to image_size x image_size.
          split: "train" (persons 1-20), "test" (21-25) or "all".
          use_sequences: split files by 00sequences.txt when it is found.
          cache: keep each file's decoded frames in memory.
        Raises:
          DatasetMissingError: no KTH files under data_dir, or none in ``split``.
          ImportError: the files need a video backend that is not installed.
        """
        if split not in SPLITS:
            raise ValueError(f"KTH split must be one of {SPLITS}, got {split!r}")
        files, sequences_path = [], None
        if data_dir and os.path.isdir(data_dir):
            files, sequences_path = scan_kth(data_dir)
        if not files:
            raise image_ops.dataset_missing_error(name, data_dir, LAYOUT, how_to_get=HOW_TO_GET,
                                                  example=EXAMPLE)
        persons = {"train": TRAIN_PERSONS, "test": TEST_PERSONS}.get(split)
        kept = [f for f in files if persons is None or f[1] in persons]
        if not kept:
            found = sorted({f[1] for f in files})
            raise DatasetMissingError(
                f"KTH in {data_dir}: {len(files)} files of persons {found}, none in split "
                f"{split!r} (train: persons 1-20, test: 21-25). {HOW_TO_GET}")
        needs_backend = [f[0] for f in kept
                         if image_ops.has_extension(f[0], video_files.FFMPEG_EXTENSIONS)]
        if needs_backend and not video_files.video_backend_available():
            raise ImportError(f"{data_dir} holds KTH videos such as {needs_backend[0]} that "
                              f"imageio cannot read without a video backend; "
                              f"{video_files.INSTALL_HINT}")
        sequences = {}
        if use_sequences and sequences_path:
            with open(sequences_path) as f:
                sequences = parse_sequences(f.read())
            logging.info("KTH: sequences from %s", sequences_path)
        paths, labels, identities, segments = [], [], [], []
        for path, person, action, _ in kept:
            stem = re.sub(r"(_uncomp)?\.[a-z0-9]+$", "", os.path.basename(path).lower())
            for segment in sequences.get(stem, [(0, -1)]):
                paths.append(path)
                labels.append(action)
                identities.append(person)
                segments.append(segment)
        super().__init__(name, paths, labels, ACTIONS, image_size, identities=identities)
        self.data_dir, self.split = str(data_dir), split
        self.sequences_path = sequences_path if sequences else None
        self.persons = tuple(identities)
        self.segments = tuple(segments)
        self.cache = cache
        self._frames = {}  # path -> grey uint8 [n, S, S]
        self._file_lengths = {}
        self._cache_lock = threading.Lock()

    def describe(self, index: int) -> str:
        first, last = self.segments[index]
        if (first, last) == (0, -1):
            return self._paths[index]
        return f"{self._paths[index]} frames {first + 1}-{last + 1}"

    def _file_length(self, path: str) -> int:
        if path not in self._file_lengths:
            if path in self._frames:
                self._file_lengths[path] = len(self._frames[path])
            else:
                self._file_lengths[path] = video_files.count_frames(path)
        return self._file_lengths[path]

    def _count_frames(self, index: int) -> int:
        first, last = self.segments[index]
        n = self._file_length(self._paths[index])
        end = n if last < 0 else min(last + 1, n)
        if end <= first:
            raise ValueError(f"sequence starts at frame {first + 1} but the file has {n} frames")
        return end - first

    def _decode(self, path: str, last: int) -> np.ndarray:
        """Grey frames 0..last (all when last < 0) of a file, resized."""
        frames = []
        try:
            for f, frame in enumerate(video_files._iio().imiter(path,
                                                                plugin=video_files._plugin(path))):
                if 0 <= last < f:
                    break
                rgb = image_ops.frames_to_rgb(frame)
                h, w = rgb.shape[:2]
                # The whole frame, squashed to a square (official KTH preprocessing).
                small = image_ops.resize_frame(rgb, self.image_size, box=(0, 0, w, h))
                frames.append(np.round(small.mean(axis=-1)).astype(np.uint8))
        except (OSError, RuntimeError, KeyError, IndexError) as e:
            raise CorruptVideoError(f"{path}: {image_ops.short_error(e)}") from e
        if not frames:
            raise CorruptVideoError(f"{path}: no frames")
        return np.stack(frames)

    def _grey(self, path: str, last: int) -> np.ndarray:
        if not self.cache:
            return self._decode(path, last)
        frames = self._frames.get(path)
        if frames is None:
            frames = self._decode(path, -1)
            with self._cache_lock:
                self._frames[path] = frames
                self._file_lengths[path] = len(frames)
        return frames

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        self._check_indices(index, frame_indices)
        first = self.segments[index][0]
        wanted = frame_indices + first
        if not wanted.size:
            return np.empty((0,) + tuple(self.frame_shape), np.uint8)
        grey = self._grey(self._paths[index], int(wanted.max()))
        if wanted.max() >= len(grey):
            raise CorruptVideoError(f"{self.describe(index)}: stream ended before frame "
                                    f"{int(wanted.max()) + 1}")
        return np.repeat(grey[wanted][..., None], 3, axis=-1)


@registry.register_dataset("kth")
def build_kth(config: DataConfig) -> VideoSource:
    """KTH actions of ``config.split`` (by person) under ``config.data_dir``."""
    return KTHSource(config.data_dir, config.image_size, split=config.split, cache=config.cache)
