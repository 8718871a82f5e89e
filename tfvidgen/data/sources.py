"""The contract every video source implements, and its errors.

A source is a finite, indexable collection of videos stored at the
source's own frame size. It knows each video's length and label without
decoding pixels, and decodes only the frames asked for, so that S_T and S_1
sampling (tfvidgen.data.sampling) never decode a whole long video to use 16
frames of it. Images are videos of one frame.
"""
from __future__ import annotations

import abc
import logging
import struct
import threading
import zlib

import numpy as np

try:
    from PIL.Image import DecompressionBombError
except ImportError:  # pragma: no cover  (Pillow is a dependency)
    class DecompressionBombError(Exception):
        pass

# The most frames a video may have. A longer length read from a header or
# metadata is taken as a corrupt or hostile file: it is skipped and reported
# like one (it would otherwise dominate D_I's frame pool and the length table).
MAX_FRAMES = 100_000

# What decoders raise for corrupt, truncated or hostile files (Pillow, imageio,
# zlib); ``VideoSource.read`` and header reads turn these into a skipped file.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                 MemoryError, DecompressionBombError)


class DatasetMissingError(FileNotFoundError):
    """Raised when a dataset's files are not where the flags point.

    The message always says what to download, where to put it and which
    flag points at it.
    """


class CorruptVideoError(ValueError):
    """Raised by VideoSource.read when a file cannot be decoded."""


class VideoSource(abc.ABC):
    """A finite collection of labelled videos (uint8 RGB frames).

    Subclasses set ``name``, ``class_names`` (possibly empty) and
    ``frame_shape`` (H, W, 3), and implement ``__len__``, ``num_frames``,
    ``label`` and ``_read``.
    """

    name: str = "source"
    class_names: tuple[str, ...] = ()
    frame_shape: tuple[int, int, int] = (64, 64, 3)

    def __init__(self):
        self._skipped: dict[int, str] = {}
        self._lock = threading.Lock()

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of videos."""

    @abc.abstractmethod
    def num_frames(self, index: int) -> int:
        """Length of video ``index`` in frames, without decoding pixels."""

    def label(self, index: int) -> int:
        """Class index of video ``index`` (into class_names), or -1."""
        del index
        return -1

    def identity(self, index: int) -> int:
        """Content identity (e.g. subject) of video ``index``, or -1."""
        del index
        return -1

    def extra_specs(self) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """Further per-video arrays this source provides, by key: (dtype, shape).

        Attributes, class-conditional labels, pyramid levels, ...: a Task
        asks for them by name (``DataRequirements.extras``) and the pipeline
        delivers ``extras(index)[key]`` of the video each clip comes from,
        with this dtype and shape. Default: none.
        """
        return {}

    def extras(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of ``extra_specs`` for video ``index``, by key."""
        del index
        return {}

    @abc.abstractmethod
    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        """Decodes the given frames of video ``index`` as uint8 [len, H, W, 3]."""

    def read(self, index: int, frame_indices=None) -> np.ndarray:
        """Frames ``frame_indices`` (all when None) of video ``index``.

        Returns:
          uint8 array [len(frame_indices), H, W, 3] at ``frame_shape``.
        Raises:
          CorruptVideoError: the file cannot be decoded; the index is also
            recorded in ``skipped`` so that it can be reported.
        """
        if frame_indices is None:
            frame_indices = np.arange(self.num_frames(index))
        frame_indices = np.asarray(frame_indices, dtype=np.int64)
        try:
            frames = self._read(int(index), frame_indices)
        except CorruptVideoError as e:
            self._record_skip(index, str(e))
            raise
        except DECODE_ERRORS as e:  # PIL/imageio decode errors, hostile headers
            self._record_skip(index, f"{type(e).__name__}: {e}")
            raise CorruptVideoError(f"{self.describe(index)}: {e}") from e
        if frames.dtype != np.uint8 or frames.shape[1:] != tuple(self.frame_shape):
            raise CorruptVideoError(
                f"{self.describe(index)}: decoded to {frames.dtype}{frames.shape}, "
                f"expected uint8 [n, {', '.join(map(str, self.frame_shape))}]")
        return frames

    def describe(self, index: int) -> str:
        """A human-readable name for video ``index`` (its path for files)."""
        return f"{self.name}[{index}]"

    def lengths(self) -> np.ndarray:
        """Lengths of all videos (int64 [len(self)])."""
        return np.array([self.num_frames(i) for i in range(len(self))], np.int64)

    def labels(self) -> np.ndarray:
        return np.array([self.label(i) for i in range(len(self))], np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    # Corrupt-file bookkeeping -------------------------------------------------
    def _record_skip(self, index: int, reason: str) -> None:
        with self._lock:
            if index not in self._skipped:
                self._skipped[index] = reason
                logging.warning("Skipping unreadable video %s: %s",
                                self.describe(index), reason)

    @property
    def skipped(self) -> dict[int, str]:
        """Indices of videos that failed to decode, with the reason."""
        with self._lock:
            return dict(self._skipped)


class SubsetSource(VideoSource):
    """A view of some videos of another source (splits, mixed training)."""

    def __init__(self, base: VideoSource, indices):
        super().__init__()
        self.base = base
        self.indices = np.asarray(indices, np.int64)
        self.name = base.name
        self.class_names = base.class_names
        self.frame_shape = base.frame_shape

    def __len__(self):
        return len(self.indices)

    def num_frames(self, index):
        return self.base.num_frames(int(self.indices[index]))

    def label(self, index):
        return self.base.label(int(self.indices[index]))

    def identity(self, index):
        return self.base.identity(int(self.indices[index]))

    def extra_specs(self):
        return self.base.extra_specs()

    def extras(self, index):
        return self.base.extras(int(self.indices[index]))

    def describe(self, index):
        return self.base.describe(int(self.indices[index]))

    def _read(self, index, frame_indices):
        return self.base.read(int(self.indices[index]), frame_indices)


class ArraySource(VideoSource):
    """Videos held in memory: a list of uint8 arrays [T, H, W, 3] and labels.

    For notebooks, tests, and data already decoded by other tools.
    ``extras`` maps a key to an array [num_videos, ...] of per-video values
    (``VideoSource.extras``).
    """

    def __init__(self, videos, labels=None, class_names=(), name="arrays", extras=None):
        super().__init__()
        self.extra_arrays = {k: np.asarray(v) for k, v in (extras or {}).items()}
        for key, value in self.extra_arrays.items():
            if len(value) != len(videos):
                raise ValueError(f"extras[{key!r}] has {len(value)} rows for {len(videos)} videos")
        self.videos = [np.asarray(v, np.uint8) for v in videos]
        if not self.videos:
            raise ValueError("ArraySource needs at least one video")
        self.labels_ = list(labels) if labels is not None else [-1] * len(self.videos)
        self.class_names = tuple(class_names)
        self.frame_shape = tuple(self.videos[0].shape[1:])
        self.name = name

    def __len__(self):
        return len(self.videos)

    def num_frames(self, index):
        return int(self.videos[index].shape[0])

    def label(self, index):
        return int(self.labels_[index])

    def extra_specs(self):
        return {k: (v.dtype, v.shape[1:]) for k, v in self.extra_arrays.items()}

    def extras(self, index):
        return {k: v[index] for k, v in self.extra_arrays.items()}

    def _read(self, index, frame_indices):
        return self.videos[index][frame_indices]
