"""Folders of frame images ("frame_folders") and folders of images ("image_folder").

frame_folders layouts (``--data_dir`` points at the root)::

    data_dir/<class>/<video>/<frame>.png   labelled by class folder
    data_dir/<video>/<frame>.png           unlabelled

The second form is detected when the subfolders of data_dir hold image files
directly. Frames are ordered by natural sort (1.png, 2.png, 10.png), and each
frame is centre-cropped to a square and resized to the configured size.

image_folder layouts::

    data_dir/<class>/<image>.png           labelled by class folder
    data_dir/<image>.png                   unlabelled

Each image is a video of one frame, for image-only training and for the image
half of mixed image+video training.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import VideoSource

FRAME_FOLDERS_LAYOUT = """\
data_dir/<class>/<video>/<frame>.png   (labelled; also .jpg, .jpeg, .bmp)
or data_dir/<video>/<frame>.png        (unlabelled)
frames of a video sort naturally: 1.png, 2.png, ..., 10.png"""

IMAGE_FOLDER_LAYOUT = """\
data_dir/<class>/<image>.png   (labelled; also .jpg, .jpeg, .bmp)
or data_dir/<image>.png        (unlabelled)
each image is a video of one frame"""


def scan_frame_folders(data_dir, extensions=image_ops.IMAGE_EXTENSIONS):
    """Finds the videos of a frame-folders tree.

    Args:
      data_dir: root folder.
      extensions: accepted frame file endings.
    Returns:
      (class_names, video_dirs, labels, frame_lists): class names (empty when
      the subfolders of data_dir are themselves videos), one folder, label
      and naturally sorted list of frame paths per video.
    """
    subdirs = image_ops.list_subdirs(data_dir)
    direct = [(d, image_ops.list_files(d, extensions)) for d in subdirs]
    if any(frames for _, frames in direct):  # subfolders are videos: no classes
        videos = [(d, frames) for d, frames in direct if frames]
        return (), [d for d, _ in videos], [-1] * len(videos), [f for _, f in videos]
    class_names, video_dirs, labels, frame_lists = [], [], [], []
    for class_dir in sorted(subdirs, key=os.path.basename):
        videos = [(d, image_ops.list_files(d, extensions))
                  for d in image_ops.list_subdirs(class_dir)]
        videos = [(d, frames) for d, frames in videos if frames]
        if not videos:
            continue
        label = len(class_names)
        class_names.append(os.path.basename(class_dir))
        for d, frames in videos:
            video_dirs.append(d)
            labels.append(label)
            frame_lists.append(frames)
    return tuple(class_names), video_dirs, labels, frame_lists


class FrameFoldersSource(image_ops.FileListSource):
    """Videos stored as one folder of frame images each.

    Lengths are the frame-file counts, known from the listing.
    """

    def __init__(self, data_dir: str, image_size: int = 64,
                 extensions=image_ops.IMAGE_EXTENSIONS, name: str = "frame_folders"):
        """Lists the videos and their frames; decodes nothing.

        Args:
          data_dir: root folder (see module docstring for the layouts).
          image_size: frames are resized to image_size x image_size.
          extensions: accepted frame file endings.
          name: dataset name used in messages.
        Raises:
          DatasetMissingError: data_dir is unset, missing or holds no videos.
        """
        class_names, video_dirs, labels, frame_lists = (), [], [], []
        if data_dir and os.path.isdir(data_dir):
            class_names, video_dirs, labels, frame_lists = scan_frame_folders(
                data_dir, extensions)
        if not video_dirs:
            raise image_ops.dataset_missing_error(
                name, data_dir, FRAME_FOLDERS_LAYOUT,
                example=f"bin/train --dataset={name} --data_dir=/path/to/frames")
        super().__init__(name, video_dirs, labels, class_names, image_size,
                         lengths=[len(f) for f in frame_lists])
        self.data_dir = str(data_dir)
        self._frames = frame_lists

    def frame_paths(self, index: int) -> list[str]:
        """Sorted frame files of video ``index``."""
        return list(self._frames[index])

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        self._check_indices(index, frame_indices)
        out = np.empty((len(frame_indices),) + tuple(self.frame_shape), np.uint8)
        for k, f in enumerate(frame_indices):
            out[k] = image_ops.read_frame(self._frames[index][int(f)], self.image_size)
        return out


class ImageFolderSource(image_ops.FileListSource):
    """Images as videos of one frame (centre square crop, resized)."""

    def __init__(self, data_dir: str, image_size: int = 64,
                 extensions=image_ops.IMAGE_EXTENSIONS, name: str = "image_folder"):
        """Lists the images; decodes nothing.

        Args:
          data_dir: root folder (see module docstring for the layouts).
          image_size: images are resized to image_size x image_size.
          extensions: accepted image file endings.
          name: dataset name used in messages.
        Raises:
          DatasetMissingError: data_dir is unset, missing or holds no images.
        """
        class_names, paths, labels = (), [], []
        if data_dir and os.path.isdir(data_dir):
            class_names, paths, labels = image_ops.scan_class_files(data_dir, extensions)
        if not paths:
            raise image_ops.dataset_missing_error(
                name, data_dir, IMAGE_FOLDER_LAYOUT,
                example=f"bin/train --dataset={name} --data_dir=/path/to/images")
        super().__init__(name, paths, labels, class_names, image_size,
                         lengths=np.ones(len(paths), np.int64))
        self.data_dir = str(data_dir)

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        self._check_indices(index, frame_indices)
        frame = image_ops.read_frame(self._paths[index], self.image_size)
        return np.repeat(frame[None], len(frame_indices), axis=0)


@registry.register_dataset("frame_folders")
def build_frame_folders(config: DataConfig) -> VideoSource:
    """Folders of frames under ``config.data_dir`` (every split is the whole tree)."""
    return FrameFoldersSource(config.data_dir, config.image_size)


@registry.register_dataset("image_folder")
def build_image_folder(config: DataConfig) -> VideoSource:
    """Images under ``config.data_dir`` as 1-frame videos (every split is all)."""
    return ImageFolderSource(config.data_dir, config.image_size)
