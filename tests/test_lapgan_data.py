"""LAPGAN's real-data sources on tiny files in their released formats: CIFAR-10 and STL-10
binaries (numpy, no pickles), an LSUN category exported to images."""
import os

import numpy as np
import pytest
from PIL import Image

from tfvidgen import registry
from tfvidgen.data import cifar10, lsun, stl10  # noqa: F401  (registers them)
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError


def _images(n, side, seed):
    return np.random.default_rng(seed).integers(0, 256, [n, side, side, 3], dtype=np.uint8)


def test_cifar10_binary(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    images = {}
    for i, name in enumerate(list(cifar10.TRAIN_FILES) + list(cifar10.TEST_FILES)):
        x = _images(3, 32, i)
        labels = np.array([i % 10, 3, 9], np.uint8)
        records = np.concatenate([labels[:, None], x.transpose(0, 3, 1, 2).reshape(3, -1)], 1)
        records.tofile(folder / name)
        images[name] = (x, labels)
    train = registry.DATASETS.get("cifar10")(DataConfig(data_dir=str(tmp_path), image_size=32))
    assert len(train) == 15 and train.frame_shape == (32, 32, 3) and train.num_classes == 10
    np.testing.assert_array_equal(train.read(4, [0])[0], images["data_batch_2.bin"][0][1])
    assert train.label(3) == 1 and train.label(4) == 3
    test = cifar10.Cifar10Source(str(folder), "test", 16)  # 16 divides 32: stored at 32
    assert len(test) == 3 and test.frame_shape == (32, 32, 3)
    np.testing.assert_array_equal(test.read(2)[0], images["test_batch.bin"][0][2])
    assert cifar10.Cifar10Source(str(folder), "all", 64).read(0).shape == (1, 64, 64, 3)


def test_stl10_binary(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    x = {part: _images(n, 96, i) for i, (part, n) in
         enumerate([("unlabeled", 3), ("train", 2), ("test", 2)])}
    for part, images in x.items():  # column-major colour planes
        images.transpose(0, 3, 2, 1).tofile(folder / f"{part}_X.bin")
    np.array([1, 10], np.uint8).tofile(folder / "train_y.bin")
    np.array([2, 3], np.uint8).tofile(folder / "test_y.bin")
    train = stl10.Stl10Source(str(tmp_path), "train", 32)
    assert len(train) == 5 and train.frame_shape == (96, 96, 3)
    np.testing.assert_array_equal(train.read(1)[0], x["unlabeled"][1])
    np.testing.assert_array_equal(train.read(4)[0], x["train"][1])
    assert train.label(0) == -1 and train.label(3) == 0 and train.label(4) == 9
    test = stl10.Stl10Source(str(folder), "test", 64)
    assert test.frame_shape == (64, 64, 3) and test.label(1) == 2


def test_lsun_folder(tmp_path):
    for i in range(150):
        sub = tmp_path / f"{i % 3}" / "x"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_images(1, 20, i)[0][:, :12]).save(sub / f"{i:03d}.png")
    train = lsun.LsunFolderSource(str(tmp_path), "train", 16)
    test = lsun.LsunFolderSource(str(tmp_path), "test", 16)
    assert len(train) + len(test) == 150 and len(test) == 1
    assert train.read(0).shape == (1, 16, 16, 3)


@pytest.mark.parametrize("name,what", [("cifar10", "cifar-10-batches-bin"),
                                       ("stl10", "stl10_binary"), ("lsun", "export")])
def test_missing_data_says_what_where_and_which_flag(name, what, tmp_path):
    for data_dir in (None, str(tmp_path)):
        with pytest.raises(DatasetMissingError) as error:
            registry.DATASETS.get(name)(DataConfig(data_dir=data_dir))
        message = str(error.value)
        assert what in message and "--data_dir" in message and f"--dataset={name}" in message
