"""UCF101 (Soomro et al. 2012) from its AVIs and official split lists, with a frame cache.

Layout (``--data_dir`` points at the root; https://www.crcv.ucf.edu/data/UCF101.php:
``UCF101.rar`` and ``UCF101TrainTestSplits-RecognitionTask.zip`` extracted
side by side)::

    data_dir/UCF-101/<Class>/v_<Class>_gGG_cCC.avi   (or data_dir/<Class>/...)
    data_dir/ucfTrainTestlist/classInd.txt           "1 ApplyEyeMakeup" ...
    data_dir/ucfTrainTestlist/trainlist01.txt        "ApplyEyeMakeup/v_..._g08_c01.avi 1"
    data_dir/ucfTrainTestlist/testlist01.txt         "ApplyEyeMakeup/v_..._g01_c01.avi"

``--split=train`` is ``trainlist0k`` (9,537 videos for k = 1, the split
seed 004 and TGAN train on), ``test`` is ``testlist0k``, ``all`` both.
Labels are ``classInd.txt``'s indices minus one, ``class_names`` its names.

Registered datasets:

* ``ucf101`` (and ``ucf101_split2``, ``ucf101_split3``): every frame of
  each video; the trainer draws random consecutive clips (TGAN's random
  16-frame clips, stride 1).
* ``ucf101_central32``: only the central 32 frames of each video (seed
  004, section 8.2: "central 32 frames ... resized and cropped").

Frames: the short side is resized to ``--image_size`` and the centre square
cropped (``crop="center"``; for UCF101's 320x240 this is TGAN's 64 x 85
resize and columns 10:74), or the frame squashed to a square
(``crop="none"``).

Frame cache: the first use decodes every video of the split once (threads;
ffmpeg runs outside the GIL) and stores its frames at the training size as
``<cache>/ucf101/<size>_<crop>/<Class>/<video>.npy`` (uint8 [T, S, S, 3]),
read back as memory maps, so no epoch decodes an AVI again. The folder is
``$TFVIDGEN_CACHE`` (default ``~/.cache/tfvidgen``); split 1's train list at
64x64 takes ~2.5 GB. AVI decoding goes through imageio with imageio-ffmpeg
(``pip install imageio-ffmpeg``, the ``video`` extra) or PyAV.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops, video_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import CorruptVideoError, DatasetMissingError, VideoSource

LISTS = "ucfTrainTestlist"
VIDEOS = "UCF-101"
CENTRAL_FRAMES = 32
HOW_TO_GET = (
    "get UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip from "
    "https://www.crcv.ucf.edu/data/UCF101.php and extract both into one folder "
    "(<folder>/UCF-101/<Class>/*.avi, <folder>/ucfTrainTestlist/classInd.txt, "
    "trainlist01.txt, testlist01.txt), then pass --data_dir=<folder>")


def cache_root() -> str:
    return os.path.join(os.environ.get("TFVIDGEN_CACHE")
                        or os.path.join(os.path.expanduser("~"), ".cache", "tfvidgen"), "ucf101")


def _missing(problem: str) -> DatasetMissingError:
    return DatasetMissingError(f"UCF101: {problem}; {HOW_TO_GET}.")


def read_class_index(path: str) -> tuple[str, ...]:
    """classInd.txt ("1 ApplyEyeMakeup" lines) -> class names in index order."""
    names = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise ValueError(f"{path}: indices are not 1..{len(names)}")
    return tuple(names[i] for i in range(1, len(names) + 1))


def read_split_list(path: str) -> list[str]:
    """A train/test list -> relative video paths ("<Class>/<video>.avi"), in order."""
    with open(path) as f:
        return [line.split()[0].replace("\\", "/") for line in f if line.strip()]


def decode_video(path: str) -> np.ndarray:
    """Every frame of a video file as uint8 [T, H, W, 3] (imageio)."""
    if (image_ops.has_extension(path, video_files.FFMPEG_EXTENSIONS)
            and not video_files.video_backend_available()):
        raise ImportError(f"UCF101's AVIs need a video backend: pip install imageio-ffmpeg "
                          f"(or pip install 'tfvidgen[video]', or pip install av); {path}")
    return np.stack([image_ops.frames_to_rgb(f) for f in video_files._iio().imiter(path)])


def resize_video(frames: np.ndarray, size: int, crop: str = "center") -> np.ndarray:
    """uint8 [T, H, W, 3] -> [T, size, size, 3]: short side to ``size`` and the centre
    square (``center``), or the whole frame squashed (``none``)."""
    out = np.empty((len(frames), size, size, 3), np.uint8)
    height, width = frames.shape[1:3]
    box = image_ops.center_crop_box(width, height) if crop == "center" else (0, 0, width, height)
    for t, frame in enumerate(frames):
        out[t] = image_ops.resize_frame(frame, size, box)
    return out


class UCF101(VideoSource):
    """The videos of one UCF101 split list, read from the frame cache."""

    name = "ucf101"

    def __init__(self, data_dir, split="train", image_size=64, split_number=1,
                 central_frames=0, crop="center", cache_dir=None, decoder=None, workers=None):
        """Reads the lists and checks the files; decodes nothing yet.

        Args:
          data_dir: the UCF101 folder (module docstring).
          split: "train", "test" or "all" (train then test list).
          image_size: cached frame side.
          split_number: 1, 2 or 3 (``trainlist0k`` / ``testlist0k``).
          central_frames: > 0: each video is only its central this many
            frames (seed 004: 32); 0: every frame.
          crop: "center" or "none" (see ``resize_video``).
          cache_dir: folder of the frame cache (default ``cache_root()``).
          decoder: path -> uint8 [T, H, W, 3] (default ``decode_video``).
          workers: threads that build the cache (default: CPU count).
        Raises:
          DatasetMissingError: the lists or the videos are not there.
        """
        super().__init__()
        if split not in ("train", "test", "all"):
            raise ValueError(f"UCF101 split must be train, test or all, got {split!r}")
        if crop not in ("center", "none"):
            raise ValueError(f"UCF101 crop must be center or none, got {crop!r}")
        if not data_dir or not os.path.isdir(data_dir):
            raise _missing("no --data_dir was given" if not data_dir
                           else f"--data_dir={data_dir} is not a folder")
        lists = os.path.join(data_dir, LISTS)
        if not os.path.isdir(lists) and os.path.exists(os.path.join(data_dir, "classInd.txt")):
            lists = data_dir
        names = {"train": [f"trainlist0{split_number}.txt"],
                 "test": [f"testlist0{split_number}.txt"]}
        names["all"] = names["train"] + names["test"]
        wanted = [os.path.join(lists, "classInd.txt")] + [os.path.join(lists, n)
                                                          for n in names[split]]
        absent = [p for p in wanted if not os.path.exists(p)]
        if absent:
            raise _missing(f"{absent[0]} not found")
        self.class_names = read_class_index(wanted[0])
        index = {name.lower(): i for i, name in enumerate(self.class_names)}
        videos = os.path.join(data_dir, VIDEOS)
        self.video_root = videos if os.path.isdir(videos) else str(data_dir)
        self.items = [rel for path in wanted[1:] for rel in read_split_list(path)]
        if not self.items:
            raise _missing(f"{wanted[1]} lists no videos")
        first = os.path.join(self.video_root, self.items[0])
        if not os.path.exists(first):
            raise _missing(f"{first} (the first video of {os.path.basename(wanted[1])}) "
                           "not found")
        try:
            self._labels = [index[rel.split("/")[0].lower()] for rel in self.items]
        except KeyError as e:
            raise ValueError(f"UCF101: class {e.args[0]} of the split list is not in "
                             "classInd.txt") from None
        self.split, self.image_size, self.crop = split, int(image_size), crop
        self.central_frames = int(central_frames)
        self.frame_shape = (self.image_size, self.image_size, 3)
        self.cache_dir = os.path.join(cache_dir or cache_root(), f"{self.image_size}_{crop}")
        self.decoder = decoder or decode_video
        self.workers = workers or os.cpu_count() or 1
        self._stored_lengths = {}

    def __len__(self):
        return len(self.items)

    def label(self, index):
        return self._labels[int(index)]

    def video_path(self, index) -> str:
        return os.path.join(self.video_root, self.items[int(index)])

    def cache_path(self, index) -> str:
        return os.path.join(self.cache_dir, os.path.splitext(self.items[int(index)])[0] + ".npy")

    def describe(self, index):
        return self.video_path(index)

    # The cache ----------------------------------------------------------------------------
    def _build_one(self, index) -> int:
        """Decodes video ``index`` into its cache file; returns its length."""
        path = self.cache_path(index)
        try:
            frames = resize_video(np.asarray(self.decoder(self.video_path(index))),
                                  self.image_size, self.crop)
        except ImportError:
            raise
        except Exception as e:  # noqa: BLE001  (any decoder error: a skipped video)
            raise CorruptVideoError(f"{self.video_path(index)}: "
                                    f"{image_ops.short_error(e)}") from e
        if not len(frames):
            raise CorruptVideoError(f"{self.video_path(index)}: no frames")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}-{index}.npy"
        np.save(tmp, frames)
        os.replace(tmp, path)
        return len(frames)

    def stored_length(self, index) -> int:
        """Frames in the cache of video ``index`` (built first if absent); 0 if unreadable."""
        index = int(index)
        if index not in self._stored_lengths:
            path = self.cache_path(index)
            if os.path.exists(path):
                n = int(np.load(path, mmap_mode="r").shape[0])
            else:
                try:
                    n = self._build_one(index)
                except CorruptVideoError as e:
                    self._record_skip(index, str(e))
                    n = 0
            self._stored_lengths[index] = n
        return self._stored_lengths[index]

    def prepare(self) -> int:
        """Builds the cache of every video not cached yet (in threads); returns how many."""
        todo = [i for i in range(len(self))
                if i not in self._stored_lengths and not os.path.exists(self.cache_path(i))]
        if todo:
            logging.info("UCF101: caching %d videos at %dx%d under %s (once)", len(todo),
                         self.image_size, self.image_size, self.cache_dir)
            with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(self.stored_length, todo))
        return len(todo)

    # VideoSource ---------------------------------------------------------------------------
    def _window(self, index):
        """(first stored frame, length) of the frames this source exposes."""
        n = self.stored_length(index)
        if self.central_frames and n > self.central_frames:
            return (n - self.central_frames) // 2, self.central_frames
        return 0, n

    def num_frames(self, index):
        return self._window(index)[1]

    def lengths(self):
        self.prepare()
        return np.array([self.num_frames(i) for i in range(len(self))], np.int64)

    def _read(self, index, frame_indices):
        start, length = self._window(index)
        if not length:
            raise CorruptVideoError(f"{self.video_path(index)}: unreadable (see the log)")
        frame_indices = np.asarray(frame_indices, np.int64)
        if frame_indices.size and (frame_indices.min() < 0 or frame_indices.max() >= length):
            raise IndexError(f"{self.describe(index)}: frames {frame_indices.tolist()} of "
                             f"{length}")
        frames = np.load(self.cache_path(index), mmap_mode="r")
        return np.asarray(frames[start + frame_indices])


def _factory(split_number=1, central_frames=0):
    def build(config: DataConfig) -> VideoSource:
        return UCF101(config.data_dir, config.split, config.image_size,
                      split_number=split_number, central_frames=central_frames)
    return build


registry.register_dataset("ucf101")(_factory())
registry.register_dataset("ucf101_split2")(_factory(split_number=2))
registry.register_dataset("ucf101_split3")(_factory(split_number=3))
registry.register_dataset("ucf101_central32")(_factory(central_frames=CENTRAL_FRAMES))
