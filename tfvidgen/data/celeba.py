"""CelebA aligned images with 18 binary attributes ("celeba"), from local files.

The MVAE test bed of seed 000 (section III.B.2) and the official MVAE code
(mhw32/multimodal-vae-public, ``celeba/datasets.py``): the aligned 178x218
images resized so that the shorter side is ``--image_size`` and centre
cropped (torchvision ``Resize(64)`` + ``CenterCrop(64)``), with the 18 of
the 40 attributes that code keeps (``ATTRIBUTE_NAMES``) as the float32 [18]
extra ``attributes`` (1: +1 in ``list_attr_celeba.txt``, 0: -1). Splits
follow ``list_eval_partition.txt`` (0 train, 1 validation, 2 test; "test"
here is the official test partition) when present, else every image is
"train" and "test" is empty. Images are videos of one frame.

Layout under ``--data_dir``::

    img_align_celeba/000001.jpg ...
    list_attr_celeba.txt
    list_eval_partition.txt        (optional)

or a TFDS copy (``tfds build celeb_a --data_dir=DIR`` on a machine with
internet, then copied), read without TFDS code (``tfvidgen/data/tfds_files.py``)::

    DIR/celeb_a/2.1.0/celeb_a-{train,validation,test}.tfrecord-*   (and dataset_info.json)

whose records hold the same JPEG bytes and the 40 attributes as
``attributes/<name>`` (int64 0/1); TFDS's splits are the official
partitions (``all`` is the three), in TFDS's shuffled order.
"""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from tfvidgen import registry
from tfvidgen.data import image_ops, tfds_files
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

# Official MVAE: indices [4, 5, 8, 9, 11, 12, 15, 17, 18, 20, 21, 22, 26, 28, 31, 32, 33, 35].
ATTRIBUTE_NAMES = ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows",
                   "Eyeglasses", "Gray_Hair", "Heavy_Makeup", "Male", "Mouth_Slightly_Open",
                   "Mustache", "Pale_Skin", "Receding_Hairline", "Smiling", "Straight_Hair",
                   "Wavy_Hair", "Wearing_Hat")
HOW_TO_GET = ("download CelebA's aligned images (img_align_celeba.zip) and "
              "list_attr_celeba.txt (mmlab.ie.cuhk.edu.hk/projects/CelebA.html), unpack them "
              "so that <data_dir>/img_align_celeba/000001.jpg and "
              "<data_dir>/list_attr_celeba.txt exist, "
              f"{tfds_files.how_to_build('celeb_a', '2.1.0')}; pass --data_dir=<data_dir> "
              "(--dataset=celeba)")
TFDS_NAME = "celeb_a"
TFDS_SPLITS = {"train": ("train",), "test": ("test",), "all": ("train", "validation", "test")}


def read_attributes(path: str):
    """``list_attr_celeba.txt`` -> (file names, float32 [N, 18] of 0/1)."""
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[1].split()
    columns = [header.index(name) for name in ATTRIBUTE_NAMES]
    names, rows = [], []
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != len(header) + 1:
            continue
        names.append(parts[0])
        values = np.array(parts[1:], np.int64)[columns]
        rows.append(values > 0)
    return names, np.asarray(rows, np.float32).reshape(-1, len(ATTRIBUTE_NAMES))


def read_partition(path: str) -> dict:
    with open(path) as f:
        return {p[0]: int(p[1]) for p in (line.split() for line in f) if len(p) == 2}


def resize_and_center_crop(image: Image.Image, size: int) -> np.ndarray:
    """The shorter side to ``size`` (bilinear), then the centred size x size square."""
    image = image_ops.to_rgb(image)
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                         Image.BILINEAR)
    return image_ops.resize_frame(image, size)


class CelebA(VideoSource):
    """CelebA's aligned images as one-frame videos with an ``attributes`` extra."""

    name = "celeba"

    def __init__(self, data_dir, image_size: int = 64, split: str = "train"):
        super().__init__()
        folder = os.path.join(data_dir or "", "img_align_celeba")
        attr_path = os.path.join(data_dir or "", "list_attr_celeba.txt")
        self.records = None
        self.frame_shape = (int(image_size), int(image_size), 3)
        if not data_dir or not os.path.isdir(folder) or not os.path.isfile(attr_path):
            version_dir = tfds_files.find_version_dir(data_dir, TFDS_NAME)
            if version_dir:
                self._init_tfds(version_dir, split)
                return
            where = "no --data_dir was given" if not data_dir else \
                f"{data_dir} has no img_align_celeba/ and list_attr_celeba.txt nor a TFDS " \
                f"celeb_a copy"
            raise DatasetMissingError(f"Dataset 'celeba': {where}; {HOW_TO_GET}.")
        names, attrs = read_attributes(attr_path)
        keep = np.ones(len(names), bool)
        partition_path = os.path.join(data_dir, "list_eval_partition.txt")
        if split != "all":
            if os.path.isfile(partition_path):
                part = read_partition(partition_path)
                want = 0 if split == "train" else 2
                keep = np.array([part.get(n, -1) == want for n in names])
            elif split != "train":
                keep[:] = False
        self.folder = folder
        self.files = [n for n, k in zip(names, keep) if k]
        self.attribute_table = attrs[keep]

    def _init_tfds(self, version_dir: str, split: str):
        if split not in TFDS_SPLITS:
            raise ValueError(f"celeba has splits train, test and all; got {split!r}")
        splits = [s for s in TFDS_SPLITS[split]
                  if split != "all" or tfds_files.shard_paths(version_dir, TFDS_NAME, s)]
        self.records = tfds_files.Records(version_dir, TFDS_NAME, splits or ["train"],
                                          HOW_TO_GET)
        keys = {f"attributes/{name}": "int64" for name in ATTRIBUTE_NAMES}
        columns = self.records.columns(keys)
        self.attribute_table = np.stack([columns[k] > 0 for k in keys], axis=1).astype(
            np.float32).reshape(-1, len(ATTRIBUTE_NAMES))
        self.folder, self.files = version_dir, None

    def __len__(self):
        return len(self.attribute_table)

    def num_frames(self, index):
        return 1

    def describe(self, index):
        if self.records is not None:
            return self.records.describe(index)
        return os.path.join(self.folder, self.files[index])

    def extra_specs(self):
        return {"attributes": (np.dtype(np.float32), (len(ATTRIBUTE_NAMES),))}

    def extras(self, index):
        return {"attributes": self.attribute_table[index]}

    def _read(self, index, frame_indices):
        where = self.describe(index) if self.records is None else \
            io.BytesIO(self.records.image_bytes(index))
        with Image.open(where) as image:
            frame = resize_and_center_crop(image, self.frame_shape[0])
        return np.repeat(frame[None], len(frame_indices), axis=0)


@registry.register_dataset("celeba")
def build(config: DataConfig) -> CelebA:
    """CelebA from ``--data_dir`` (aligned images and list_attr_celeba.txt, or TFDS celeb_a)."""
    return CelebA(config.data_dir, image_size=config.image_size, split=config.split)
