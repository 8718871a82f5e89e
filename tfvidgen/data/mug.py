"""MUG Facial Expression Database (Aifanti et al., WIAMIS 2010), registered "mug".

The database is not downloadable by script: request it at
https://mug.ee.auth.gr/fed/ by signing its licence agreement (free for
research). It unpacks as::

    MUG/subjects3/<subject, e.g. 001>/<expression>/<take, e.g. take000>/img_0001.jpg

``--data_dir`` may point at ``MUG`` (the folder holding ``subjects3``) or at
``subjects3`` itself. Only the six basic expressions are used (``EXPRESSIONS``;
"neutral" and any other folder are ignored). A video is one take; its label
is the expression index and its identity the subject index (among all
subjects, so identities agree across splits).

Face crop: following the MoCoGAN/RJGAN preprocessing convention of a square
crop of the face region, each video gets one fixed square crop box computed
from its first frame's size (read from the header): a square of side
``FACE_CROP_FRACTION`` x the short side, centred at ``FACE_CROP_CENTER``
(fractions of width and height). MUG frames (896x896 colour JPEGs) show a
roughly centred face, so the defaults are a centred square; change the
constants (or the MugSource arguments) for other framing. No face detector is
used: the crop is dependency-free and identical for every frame of a take,
so it adds no jitter. Frames are then resized to ``image_size``.

Splits: "all"; "train"/"test" split by subject: the last
``TEST_SUBJECT_FRACTION`` of the sorted subject ids are the test subjects.
"""
from __future__ import annotations

import os

import numpy as np

from tfvidgen import registry
from tfvidgen.data import image_ops
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

# Side of the square face crop as a fraction of the frame's short side.
FACE_CROP_FRACTION = 0.8
# Centre (x, y) of the face crop as fractions of the frame's width and height.
FACE_CROP_CENTER = (0.5, 0.5)
# Fraction of the (sorted) subjects held out as the "test" split.
TEST_SUBJECT_FRACTION = 0.2

URL = "https://mug.ee.auth.gr/fed/"
SPLITS = ("all", "train", "test")

HOW_TO_GET = (
    f"The MUG Facial Expression Database cannot be downloaded by script: request it "
    f"at {URL} by signing its licence agreement (free for research use), then "
    f"unpack it.")
LAYOUT = """\
/path/to/MUG/subjects3/<subject id, e.g. 001>/<expression>/<take, e.g. take000>/img_0001.jpg ...
(the subjects3/ level is optional: /path/to/MUG/001/happiness/take000/img_0001.jpg)
<expression> is one of anger, disgust, fear, happiness, sadness, surprise
(neutral and other folders are ignored)"""
EXAMPLE = "bin/train --flagfile=configs/rjgan_mug.cfg --data_dir=/path/to/MUG"


def face_crop_box(width: int, height: int, fraction: float = None,
                  center=None) -> tuple[int, int, int, int]:
    """Square face crop (left, top, right, bottom) for a width x height frame.

    Args:
      width, height: frame size in pixels.
      fraction: side as a fraction of the short side (default FACE_CROP_FRACTION).
      center: (x, y) centre as fractions of width, height (default FACE_CROP_CENTER).
    Returns:
      The box, kept inside the frame.
    """
    fraction = FACE_CROP_FRACTION if fraction is None else fraction
    cx, cy = FACE_CROP_CENTER if center is None else center
    side = max(1, min(width, height, int(round(fraction * min(width, height)))))
    left = min(max(int(round(cx * width - side / 2)), 0), width - side)
    top = min(max(int(round(cy * height - side / 2)), 0), height - side)
    return left, top, left + side, top + side


def scan_mug(data_dir):
    """Finds the takes of a MUG tree.

    Args:
      data_dir: MUG root, with or without the ``subjects3`` level.
    Returns:
      (subjects, videos): sorted subject ids that have at least one take, and
      one (take_dir, expression_index, subject_index, frame_paths) per take.
    """
    root = os.path.join(data_dir, "subjects3")
    if not os.path.isdir(root):
        root = data_dir
    subjects, videos = [], []
    for subject_dir in image_ops.list_subdirs(root):
        takes = []
        for expression_dir in image_ops.list_subdirs(subject_dir):
            expression = os.path.basename(expression_dir).lower()
            if expression not in EXPRESSIONS:
                continue
            label = EXPRESSIONS.index(expression)
            direct = image_ops.list_files(expression_dir, image_ops.IMAGE_EXTENSIONS)
            if direct:  # frames without a take level: one take
                takes.append((expression_dir, label, direct))
            for take_dir in image_ops.list_subdirs(expression_dir):
                frames = image_ops.list_files(take_dir, image_ops.IMAGE_EXTENSIONS)
                if frames:
                    takes.append((take_dir, label, frames))
        if takes:
            subject = len(subjects)
            subjects.append(os.path.basename(subject_dir))
            videos.extend((d, label, subject, frames) for d, label, frames in takes)
    return subjects, videos


def split_subjects(num_subjects: int, split: str) -> list[int]:
    """Subject indices of ``split``: the last TEST_SUBJECT_FRACTION are "test"."""
    if split not in SPLITS:
        raise ValueError(f"MUG split must be one of {SPLITS}, got {split!r}")
    num_test = int(round(num_subjects * TEST_SUBJECT_FRACTION))
    if num_subjects > 1:
        num_test = min(max(num_test, 1), num_subjects - 1)
    else:
        num_test = 0
    first_test = num_subjects - num_test
    if split == "train":
        return list(range(first_test))
    if split == "test":
        return list(range(first_test, num_subjects))
    return list(range(num_subjects))


class MugSource(image_ops.FileListSource):
    """MUG takes as labelled videos, face-cropped and resized.

    Attributes:
      class_names: EXPRESSIONS.
      subjects: all subject ids found (identity i is subjects[i]).
      split: the split this source holds.
    """

    def __init__(self, data_dir: str, image_size: int = 64, split: str = "all",
                 crop_fraction: float = None, crop_center=None, name: str = "mug"):
        """Lists the takes of ``split``; decodes nothing.

        Args:
          data_dir: MUG root (see module docstring).
          image_size: frames are resized to image_size x image_size.
          split: "all", "train" or "test" (by subject).
          crop_fraction: face crop side / short side (default FACE_CROP_FRACTION).
          crop_center: face crop centre (x, y) fractions (default FACE_CROP_CENTER).
          name: dataset name used in messages.
        Raises:
          DatasetMissingError: data_dir is unset, missing or holds no takes.
          ValueError: unknown split.
        """
        subjects, videos = [], []
        if split not in SPLITS:
            raise ValueError(f"MUG split must be one of {SPLITS}, got {split!r}")
        if data_dir and os.path.isdir(data_dir):
            subjects, videos = scan_mug(data_dir)
        if not videos:
            raise image_ops.dataset_missing_error(
                name, data_dir, LAYOUT, how_to_get=HOW_TO_GET, example=EXAMPLE)
        keep = set(split_subjects(len(subjects), split))
        videos = [v for v in videos if v[2] in keep]
        if not videos:
            raise DatasetMissingError(
                f"MUG in {data_dir}: {len(subjects)} subject(s), none left for "
                f"split {split!r}; the test split is the last "
                f"{TEST_SUBJECT_FRACTION:.0%} of the subjects. {HOW_TO_GET}")
        super().__init__(name, [v[0] for v in videos], [v[1] for v in videos],
                         EXPRESSIONS, image_size, identities=[v[2] for v in videos],
                         lengths=[len(v[3]) for v in videos])
        self.data_dir = str(data_dir)
        self.subjects = tuple(subjects)
        self.split = split
        self.crop_fraction = FACE_CROP_FRACTION if crop_fraction is None else crop_fraction
        self.crop_center = tuple(FACE_CROP_CENTER if crop_center is None else crop_center)
        self._frames = [v[3] for v in videos]
        self._boxes = {}

    def frame_paths(self, index: int) -> list[str]:
        """Sorted frame files of take ``index``."""
        return list(self._frames[index])

    def crop_box(self, index: int) -> tuple[int, int, int, int]:
        """The face crop box of take ``index``, from its first frame's header."""
        box = self._boxes.get(index)
        if box is None:
            width, height = image_ops.image_header_size(self._frames[index][0])
            box = face_crop_box(width, height, self.crop_fraction, self.crop_center)
            self._boxes[index] = box
        return box

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        self._check_indices(index, frame_indices)
        box = self.crop_box(index)
        out = np.empty((len(frame_indices),) + tuple(self.frame_shape), np.uint8)
        for k, f in enumerate(frame_indices):
            out[k] = image_ops.read_frame(self._frames[index][int(f)], self.image_size, box)
        return out


@registry.register_dataset("mug")
def build_mug(config: DataConfig) -> VideoSource:
    """MUG takes of ``config.split`` under ``config.data_dir``."""
    return MugSource(config.data_dir, config.image_size, split=config.split)
