"""Small numpy/PIL helpers shared by the file-based sources.

Frame ops (to_rgb, resize_frame, read_frame), file discovery (natural sort,
class-folder scanning), the DatasetMissingError message builder, and
FileListSource, the base class of the file-based sources (paths, labels,
identities and lazily counted, cached lengths).
"""
from __future__ import annotations

import logging
import math
import os
import re

import numpy as np
from PIL import Image

from tfvidgen.data.sources import (DECODE_ERRORS, MAX_FRAMES, CorruptVideoError,
                                   DatasetMissingError, VideoSource)

# The most pixels an image file may claim in its header (Pillow's own bomb
# threshold). A larger one is skipped like a corrupt file before any decoding.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of a PIL image; RGBA and palette images are composited on black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def center_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Largest centred square (left, top, right, bottom)."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def resize_frame(frame, size: int, box=None) -> np.ndarray:
    """Crops ``box`` (default: centred square) and resizes to size x size.

    Args:
      frame: PIL image or uint8 array [H, W, 3].
      size: output side in pixels.
      box: optional (left, top, right, bottom) crop in input pixels.
    Returns:
      uint8 array [size, size, 3].
    """
    image = frame if isinstance(frame, Image.Image) else Image.fromarray(np.asarray(frame))
    image = to_rgb(image)
    if box is None:
        box = center_crop_box(*image.size)
    image = image.crop(tuple(int(v) for v in box))
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


# File discovery and reading helpers shared by the file-based sources --------

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def natural_sort_key(name: str):
    """Sort key that orders embedded numbers numerically (1, 2, 10 not 1, 10, 2).

    Args:
      name: a file or folder name (or path).
    Returns:
      A list alternating lower-cased text and integers, comparable across names.
    """
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", str(name))]


def has_extension(name: str, extensions) -> bool:
    """Whether ``name`` ends with one of ``extensions`` (case-insensitive)."""
    return name.lower().endswith(tuple(extensions))


def list_files(directory, extensions) -> list[str]:
    """Paths of the non-hidden files in ``directory`` with ``extensions``, naturally sorted."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    names = [e.name for e in entries
             if not e.name.startswith(".") and has_extension(e.name, extensions)
             and e.is_file()]
    return [os.path.join(directory, n) for n in sorted(names, key=natural_sort_key)]


def list_subdirs(directory) -> list[str]:
    """Paths of the non-hidden subfolders of ``directory``, naturally sorted."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    return [os.path.join(directory, n) for n in sorted(names, key=natural_sort_key)]


def scan_class_files(data_dir, extensions):
    """Finds ``data_dir/<class>/<file>`` or, with no class folders, ``data_dir/<file>``.

    Class names are the sorted names of the subfolders that hold at least one
    matching file. Loose files beside class folders are ignored (with a warning).

    Args:
      data_dir: root folder.
      extensions: accepted file name endings, e.g. IMAGE_EXTENSIONS.
    Returns:
      (class_names, paths, labels): a tuple of names (empty when flat), the
      file paths and their class indices (-1 when flat).
    """
    classes = []
    for sub in sorted(list_subdirs(data_dir), key=lambda p: os.path.basename(p)):
        files = list_files(sub, extensions)
        if files:
            classes.append((os.path.basename(sub), files))
    loose = list_files(data_dir, extensions)
    if classes:
        if loose:
            logging.warning("%s: ignoring %d files beside the class folders",
                            data_dir, len(loose))
        paths = [p for _, files in classes for p in files]
        labels = [i for i, (_, files) in enumerate(classes) for _ in files]
        return tuple(name for name, _ in classes), paths, labels
    return (), loose, [-1] * len(loose)


def dataset_missing_error(dataset: str, data_dir, layout: str,
                          how_to_get: str = "", example: str = ""):
    """A DatasetMissingError saying what is missing, the layout and the flag.

    Args:
      dataset: registered dataset name (used in the default example command).
      data_dir: the --data_dir value that was given (None when unset).
      layout: the expected folder layout, one path pattern per line.
      how_to_get: where to obtain the data (a sentence), if not self-made.
      example: example command; default ``bin/train --dataset=<dataset>
        --data_dir=/path/to/data``.
    Returns:
      DatasetMissingError (to raise).
    """
    if data_dir is None or str(data_dir) == "":
        problem = "no --data_dir was given"
    elif not os.path.isdir(data_dir):
        problem = f"--data_dir={data_dir} is not a folder"
    else:
        problem = f"--data_dir={data_dir} holds no videos in the expected layout"
    example = example or f"bin/train --dataset={dataset} --data_dir=/path/to/data"
    lines = [f"Dataset {dataset!r}: {problem}."]
    if how_to_get:
        lines.append(how_to_get)
    lines.append("Expected layout:")
    lines.extend("  " + line for line in layout.strip().splitlines())
    lines.append(f"Point --data_dir at that folder, e.g.\n  {example}")
    return DatasetMissingError("\n".join(lines))


def short_error(error, max_lines: int = 3) -> str:
    """``Type: message`` of an exception, long messages (ffmpeg logs) cut to first/last line."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) > max_lines:
        lines = [lines[0], "...", lines[-1]]
    return f"{type(error).__name__}: " + "\n".join(lines)


def open_image(path) -> Image.Image:
    """``Image.open`` (lazy: the header only) refusing images that claim more
    than ``MAX_PIXELS`` pixels.

    Raises:
      ValueError: the header claims too many pixels (a hostile or corrupt file).
      OSError and the other ``DECODE_ERRORS``: the file is not a readable image.
    """
    image = Image.open(path)
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ValueError(f"its header claims {width}x{height} pixels, more than the "
                         f"limit of {MAX_PIXELS} (tfvidgen.data.image_ops.MAX_PIXELS)")
    return image


def image_header_size(path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header only (at most
    ``MAX_PIXELS`` pixels, else ValueError)."""
    with open_image(path) as image:
        return image.size


def read_frame(path, size: int, box=None) -> np.ndarray:
    """Decodes an image file, crops ``box`` and resizes it to size x size RGB.

    JPEGs are decoded at a reduced DCT scale when the crop is much larger than
    ``size`` (PIL draft mode), which makes large frames (e.g. MUG's 896x896)
    several times cheaper to read.

    Args:
      path: image file.
      size: output side in pixels.
      box: (left, top, right, bottom) in full-resolution pixels; default the
        centred square.
    Returns:
      uint8 array [size, size, 3].
    """
    with open_image(path) as image:
        full_w, full_h = image.size
        if box is None:
            box = center_crop_box(full_w, full_h)
        crop_w, crop_h = box[2] - box[0], box[3] - box[1]
        if image.format == "JPEG" and min(crop_w, crop_h) > 2 * size:
            scale = size / min(crop_w, crop_h)
            image.draft("RGB", (math.ceil(full_w * scale), math.ceil(full_h * scale)))
        sx, sy = image.size[0] / full_w, image.size[1] / full_h
        if (sx, sy) != (1.0, 1.0):
            box = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
            box = tuple(int(round(v)) for v in box)
        image.load()
        return resize_frame(image, size, box)


def frames_to_rgb(frame) -> np.ndarray:
    """uint8 [H, W, 3] from a decoded frame that may be gray, RGBA or float."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    if frame.shape[2] == 4:
        frame = np.asarray(to_rgb(Image.fromarray(frame, "RGBA")))
    return frame


class FileListSource(VideoSource):
    """Base of the file-based sources: one path, label and identity per video.

    Subclasses implement ``_count_frames`` (cheap: headers or file counts)
    and ``_read``. Lengths are cached in the instance; a video whose length
    cannot be read, or is more than ``sources.MAX_FRAMES``, counts 0 frames
    and is recorded in ``skipped``.
    """

    def __init__(self, name: str, paths, labels, class_names, image_size: int,
                 identities=None, lengths=None):
        """Stores the file list.

        Args:
          name: dataset name (registry name).
          paths: one path (file or folder) per video; ``describe`` shows it.
          labels: class index per video, -1 when unlabelled.
          class_names: names indexed by the labels (empty when unlabelled).
          image_size: frames are delivered as image_size x image_size RGB.
          identities: content identity per video (default -1).
          lengths: frame counts when already known (default: counted lazily).
        """
        super().__init__()
        self.name = name
        self.class_names = tuple(class_names)
        self.image_size = int(image_size)
        self.frame_shape = (self.image_size, self.image_size, 3)
        self._paths = [str(p) for p in paths]
        n = len(self._paths)
        self._labels = np.asarray(labels, np.int64).reshape(n)
        self._identities = (np.full(n, -1, np.int64) if identities is None
                            else np.asarray(identities, np.int64).reshape(n))
        self._lengths = (np.full(n, -1, np.int64) if lengths is None
                         else np.asarray(lengths, np.int64).reshape(n))

    def __len__(self) -> int:
        return len(self._paths)

    def _count_frames(self, index: int) -> int:
        """Frame count of video ``index`` without decoding pixels."""
        raise NotImplementedError

    def num_frames(self, index: int) -> int:
        n = int(self._lengths[index])
        if n < 0:
            try:
                n = int(self._count_frames(index))
            except DECODE_ERRORS as e:
                self._record_skip(index, short_error(e))
                n = 0
            if n > MAX_FRAMES:
                self._record_skip(index, f"its header claims {n} frames, more than the "
                                         f"limit of {MAX_FRAMES} (tfvidgen.data.sources."
                                         "MAX_FRAMES)")
                n = 0
            self._lengths[index] = n
        return n

    def lengths(self) -> np.ndarray:
        return np.array([self.num_frames(i) for i in range(len(self))], np.int64)

    def label(self, index: int) -> int:
        return int(self._labels[index])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def identity(self, index: int) -> int:
        return int(self._identities[index])

    def path(self, index: int) -> str:
        """File or folder of video ``index``."""
        return self._paths[index]

    def describe(self, index: int) -> str:
        return self._paths[index]

    def _check_indices(self, index: int, frame_indices: np.ndarray) -> None:
        """Raises IndexError when a frame index is outside video ``index``.

        Raises:
          CorruptVideoError: the video's length could not be read.
          IndexError: a frame index is out of range.
        """
        n = self.num_frames(index)
        reason = self._skipped.get(index) if n == 0 else None
        if reason is not None:
            raise CorruptVideoError(f"{self.describe(index)}: {reason}")
        if frame_indices.size:
            bad = frame_indices[(frame_indices < 0) | (frame_indices >= n)]
            if bad.size:
                raise IndexError(f"{self.describe(index)} has {n} frames; "
                                 f"asked for frame {int(bad[0])}")
