"""Video files (mp4, avi, mov, mkv, webm, gif) decoded with imageio v3.

Layouts (``--data_dir`` points at the root)::

    data_dir/<class>/<video>.mp4   labelled by class folder
    data_dir/<video>.mp4           unlabelled

GIFs decode with Pillow alone. The other containers need an imageio video
backend: ``pip install imageio-ffmpeg`` (the ``video`` extra:
``pip install 'tfvidgen[video]'``) or PyAV (``pip install av``). Frames are
centre-cropped to a square and resized to the configured size.

A video's length comes from imageio's metadata where it is exact (GIF,
PyAV's stream frame count); otherwise it is counted by ffmpeg itself
(imageio-ffmpeg's ``count_frames_and_secs``) or, failing that, by decoding.
Lengths are cached in the instance.
"""
from __future__ import annotations

import importlib.util
import math
import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import CorruptVideoError, VideoSource

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
# Containers that imageio cannot read without ffmpeg or PyAV.
FFMPEG_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")

INSTALL_HINT = ("install a video backend: pip install imageio-ffmpeg "
                "(or pip install 'tfvidgen[video]', or pip install av)")

LAYOUT = """\
data_dir/<class>/<video>.mp4   (labelled; also .avi, .mov, .mkv, .webm, .gif)
or data_dir/<video>.mp4        (unlabelled)
mp4/avi/mov/mkv/webm need: pip install imageio-ffmpeg  (or 'tfvidgen[video]')"""


def video_backend_available() -> bool:
    """Whether imageio can read mp4/avi/... (imageio-ffmpeg or PyAV installed)."""
    return any(importlib.util.find_spec(m) is not None for m in ("imageio_ffmpeg", "av"))


def _iio():
    import imageio.v3 as iio  # imported lazily: heavy, and only needed here
    return iio


def _no_backend(error: Exception, path: str) -> bool:
    """Whether ``error`` is imageio's "no backend" for a container needing ffmpeg."""
    return ("backend" in str(error).lower()
            and image_ops.has_extension(path, FFMPEG_EXTENSIONS))


def _plugin(path: str):
    """imageio plugin to use: Pillow for GIF (no probing of other plugins)."""
    return "pillow" if image_ops.has_extension(path, (".gif",)) else None


def _finite_count(value) -> int | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return int(value) if math.isfinite(value) and value > 0 else None


def count_frames(path: str) -> int:
    """Number of frames of a video file, decoding pixels only as a last resort.

    Args:
      path: video file.
    Returns:
      The frame count.
    Raises:
      OSError, ValueError: the file cannot be opened or has no frames.
    """
    iio = _iio()
    try:
        n = _finite_count(iio.improps(path, index=None, plugin=_plugin(path)).n_images)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        if _no_backend(e, path):
            raise OSError(f"{e}\n{INSTALL_HINT}") from e
        n = None
    if n is None:
        try:
            n = _finite_count(iio.immeta(path, index=None, plugin=_plugin(path)).get("nframes"))
        except (OSError, ValueError, RuntimeError, KeyError, TypeError):
            n = None
    if n is None and importlib.util.find_spec("imageio_ffmpeg") is not None:
        import imageio_ffmpeg
        try:
            n = _finite_count(imageio_ffmpeg.count_frames_and_secs(path)[0])
        except (OSError, RuntimeError, ValueError):
            n = None
    if n is None:  # decode everything, keeping nothing
        try:
            n = sum(1 for _ in iio.imiter(path, plugin=_plugin(path)))
        except (RuntimeError, KeyError, IndexError) as e:
            raise OSError(str(e)) from e
    if not n:
        raise ValueError("no frames")
    return n


class VideoFilesSource(image_ops.FileListSource):
    """Video files in class folders (or flat), decoded with imageio."""

    def __init__(self, data_dir: str, image_size: int = 64,
                 extensions=VIDEO_EXTENSIONS, name: str = "video_files"):
        """Lists the files; decodes nothing.

        Args:
          data_dir: root folder (see module docstring for the layouts).
          image_size: frames are resized to image_size x image_size.
          extensions: accepted file name endings.
          name: dataset name used in messages.
        Raises:
          DatasetMissingError: data_dir is unset, missing or holds no videos.
          ImportError: the folder holds mp4/avi/mov/mkv/webm files and neither
            imageio-ffmpeg nor PyAV is installed.
        """
        class_names, paths, labels = (), [], []
        if data_dir and os.path.isdir(data_dir):
            class_names, paths, labels = image_ops.scan_class_files(data_dir, extensions)
        if not paths:
            raise image_ops.dataset_missing_error(
                name, data_dir, LAYOUT,
                example=f"bin/train --dataset={name} --data_dir=/path/to/videos")
        needs_backend = [p for p in paths if image_ops.has_extension(p, FFMPEG_EXTENSIONS)]
        if needs_backend and not video_backend_available():
            raise ImportError(
                f"{data_dir} holds {len(needs_backend)} videos such as {needs_backend[0]} "
                f"that imageio cannot read without a video backend; {INSTALL_HINT}")
        super().__init__(name, paths, labels, class_names, image_size)
        self.data_dir = str(data_dir)

    def _count_frames(self, index: int) -> int:
        return count_frames(self._paths[index])

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        path = self._paths[index]
        self._check_indices(index, frame_indices)
        out = np.empty((len(frame_indices),) + tuple(self.frame_shape), np.uint8)
        if not frame_indices.size:
            return out
        wanted = set(int(f) for f in frame_indices)
        last = max(wanted)
        decoded = {}
        try:
            # Decodes from the start up to the last frame asked for, no further.
            for f, frame in enumerate(_iio().imiter(path, plugin=_plugin(path))):
                if f in wanted:
                    decoded[f] = image_ops.resize_frame(
                        image_ops.frames_to_rgb(frame), self.image_size)
                if f >= last:
                    break
        except OSError as e:
            if _no_backend(e, path):
                raise CorruptVideoError(f"{path}: {e}\n{INSTALL_HINT}") from e
            raise CorruptVideoError(f"{path}: {image_ops.short_error(e)}") from e
        except (RuntimeError, KeyError, IndexError) as e:
            raise CorruptVideoError(f"{path}: {image_ops.short_error(e)}") from e
        missing = wanted.difference(decoded)
        if missing:
            raise CorruptVideoError(
                f"{path}: stream ended before frame {min(missing)} "
                f"(length read as {self.num_frames(index)})")
        for k, f in enumerate(frame_indices):
            out[k] = decoded[int(f)]
        return out


@registry.register_dataset("video_files")
def build_video_files(config: DataConfig) -> VideoSource:
    """Video files under ``config.data_dir`` (every split is the whole tree)."""
    return VideoFilesSource(config.data_dir, config.image_size)
