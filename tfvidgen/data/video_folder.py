"""MoCoGAN's video-folder format: one image strip of square frames per video.

Layout (``--data_dir`` points at the root)::

    data_dir/<class>/<video>.png    (or .jpg, .jpeg, .bmp)

Each file is a horizontal (or vertical) strip of square frames: a 2048x64
image holds 2048 // 64 = 32 frames of 64x64. Class names are the sorted
subfolder names and a video's label is its class index; with no subfolders
(files directly in data_dir) the videos are unlabelled. RGBA strips are
composited on black. This is the format of MoCoGAN's "moving shapes" and
preprocessed Weizmann videos.

Lengths come from the image headers (PIL opens lazily), so scanning a folder
of thousands of strips takes well under a second per thousand files.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import VideoSource

LAYOUT = """\
data_dir/<class>/<video>.png   (also .jpg, .jpeg, .bmp), one folder per class
each file a horizontal or vertical strip of square frames:
a 2048x64 image is 32 frames of 64x64 (frames = long side // short side)"""


def strip_frame_count(width: int, height: int) -> int:
    """Number of square frames in a width x height strip."""
    short, long = min(width, height), max(width, height)
    return long // short if short > 0 else 0


def strip_frame_box(width: int, height: int, frame: int) -> tuple[int, int, int, int]:
    """Crop box (left, top, right, bottom) of frame ``frame`` of a strip."""
    if width >= height:
        return frame * height, 0, (frame + 1) * height, height
    return 0, frame * width, width, (frame + 1) * width


class VideoFolderSource(image_ops.FileListSource):
    """Videos stored as image strips in class folders (MoCoGAN video-folder).

    Attributes:
      class_names: sorted class-folder names (empty for a flat folder).
      frame_shape: (image_size, image_size, 3).
    """

    def __init__(self, data_dir: str, image_size: int = 64,
                 extensions=image_ops.IMAGE_EXTENSIONS, name: str = "video_folder"):
        """Lists the strips; decodes nothing.

        Args:
          data_dir: root folder (see module docstring for the layout).
          image_size: frames are resized to image_size x image_size.
          extensions: accepted file name endings.
          name: dataset name used in messages.
        Raises:
          DatasetMissingError: data_dir is unset, missing or holds no strips.
        """
        class_names, paths, labels = (), [], []
        if data_dir and os.path.isdir(data_dir):
            class_names, paths, labels = image_ops.scan_class_files(data_dir, extensions)
        if not paths:
            raise image_ops.dataset_missing_error(
                name, data_dir, LAYOUT,
                example=f"bin/train --dataset={name} --data_dir=/path/to/videos")
        super().__init__(name, paths, labels, class_names, image_size)
        self.data_dir = str(data_dir)

    def _count_frames(self, index: int) -> int:
        return strip_frame_count(*image_ops.image_header_size(self._paths[index]))

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        with image_ops.open_image(self._paths[index]) as image:
            image.load()  # decodes the strip once
            strip = image_ops.to_rgb(image)
        width, height = strip.size
        self._check_indices(index, frame_indices)  # lengths from headers, with their limits
        out = np.empty((len(frame_indices),) + tuple(self.frame_shape), np.uint8)
        for k, f in enumerate(frame_indices):
            box = strip_frame_box(width, height, int(f))
            out[k] = image_ops.resize_frame(strip, self.image_size, box)
        return out


@registry.register_dataset("video_folder")
def build_video_folder(config: DataConfig) -> VideoSource:
    """MoCoGAN video-folder strips under ``config.data_dir`` (no splits).

    Every split ("train", "test", "all") is the whole folder: MoCoGAN trains
    on all videos; keep a held-out copy in another folder if needed.
    """
    return VideoFolderSource(config.data_dir, config.image_size)
