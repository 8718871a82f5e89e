"""LAPGAN's real-data sources on tiny files in their released formats: CIFAR-10 and STL-10
binaries (numpy, no pickles), an LSUN category exported to images; and the same from
TFDS copies written by TFDS's own builders (tests/tfds_fakes.py, nothing downloaded)."""
import os

import numpy as np
import pytest
from PIL import Image

import tfds_fakes
from tfvidgen import registry
from tfvidgen.data import cifar10, lsun, stl10, tfds_files  # noqa: F401  (registers them)
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError


def _images(n, side, seed):
    return np.random.default_rng(seed).integers(0, 256, [n, side, side, 3], dtype=np.uint8)


def _write_cifar10_binary(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    images = {}
    for i, name in enumerate(list(cifar10.TRAIN_FILES) + list(cifar10.TEST_FILES)):
        x = _images(3, 32, i)
        labels = np.array([i % 10, 3, 9], np.uint8)
        records = np.concatenate([labels[:, None], x.transpose(0, 3, 1, 2).reshape(3, -1)], 1)
        records.tofile(folder / name)
        images[name] = (x, labels)
    return folder, images


def test_cifar10_binary(tmp_path):
    folder, images = _write_cifar10_binary(tmp_path)
    train = registry.DATASETS.get("cifar10")(DataConfig(data_dir=str(tmp_path), image_size=32))
    assert len(train) == 15 and train.frame_shape == (32, 32, 3) and train.num_classes == 10
    np.testing.assert_array_equal(train.read(4, [0])[0], images["data_batch_2.bin"][0][1])
    assert train.label(3) == 1 and train.label(4) == 3
    test = cifar10.Cifar10Source(str(folder), "test", 16)  # 16 divides 32: stored at 32
    assert len(test) == 3 and test.frame_shape == (32, 32, 3)
    np.testing.assert_array_equal(test.read(2)[0], images["test_batch.bin"][0][2])
    assert cifar10.Cifar10Source(str(folder), "all", 64).read(0).shape == (1, 64, 64, 3)


def _source_arrays(source):
    return (np.stack([source.read(i)[0] for i in range(len(source))]),
            [source.label(i) for i in range(len(source))])


def test_cifar10_tfds_copy_gives_the_release_arrays_and_labels(tmp_path):
    _, images = _write_cifar10_binary(tmp_path / "release")
    train = [images[name] for name in cifar10.TRAIN_FILES]
    version = tfds_fakes.cifar10(tmp_path / "tfds", {
        "train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
        "test": images["test_batch.bin"]})
    assert version.endswith(os.path.join("cifar10", cifar10.TFDS_VERSION))
    for split in ("train", "test", "all"):
        release = cifar10.Cifar10Source(str(tmp_path / "release"), split, 32)
        copy = registry.DATASETS.get("cifar10")(DataConfig(
            data_dir=str(tmp_path / "tfds"), image_size=32, split=split))
        assert release.layout == "release" and copy.layout == "tfds"
        want, got = _source_arrays(release), _source_arrays(copy)
        np.testing.assert_array_equal(got[0], want[0])  # same images, the release's order
        assert got[1] == want[1]
    assert cifar10.Cifar10Source(version, "test", 16).frame_shape == (32, 32, 3)


def test_stl10_binary(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    x = _stl10_images()
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


def _stl10_images():
    return {part: _images(n, 96, i) for i, (part, n) in
            enumerate([("unlabeled", 3), ("train", 2), ("test", 2)])}


def _as_set(images, labels):
    return sorted((int(y), x.tobytes()) for x, y in zip(images, labels))


def test_stl10_tfds_copy_gives_the_release_images_and_labels(tmp_path):
    x = _stl10_images()
    tfds_fakes.stl10(tmp_path, {"unlabelled": (x["unlabeled"], [-1] * 3),
                                "train": (x["train"], [0, 9]), "test": (x["test"], [1, 2])})
    train = registry.DATASETS.get("stl10")(DataConfig(data_dir=str(tmp_path), image_size=32))
    assert train.layout == "tfds" and len(train) == 5 and train.frame_shape == (96, 96, 3)
    assert [train.label(i) for i in range(3)] == [-1] * 3  # unlabelled first, as released
    assert _as_set(*_source_arrays(train)) == _as_set(
        np.concatenate([x["unlabeled"], x["train"]]), [-1, -1, -1, 0, 9])
    test = stl10.Stl10Source(str(tmp_path), "test", 96)
    assert _as_set(*_source_arrays(test)) == _as_set(x["test"], [1, 2])


def test_lsun_tfds_copy(tmp_path):
    rng = np.random.default_rng(0)
    smooth = [np.kron(rng.integers(0, 256, [5, 4, 3]), np.ones([8, 8, 1])).astype(np.uint8)
              for _ in range(4)]  # 40x32, JPEG-friendly
    tfds_fakes.lsun(tmp_path, "tower", {"train": smooth[:3], "validation": smooth[3:]})
    for data_dir in (tmp_path, tmp_path / "lsun" / "tower"):
        train = registry.DATASETS.get("lsun")(DataConfig(data_dir=str(data_dir), image_size=16))
        assert isinstance(train, lsun.LsunTfdsSource) and len(train) == 3
    test = lsun.LsunTfdsSource(lsun.find_tfds(str(tmp_path)), "test", 16)
    assert len(test) == 1 and test.frame_shape == (16, 16, 3)
    # The centre crop and resize of the folder source, from the decoded JPEG.
    folder = tmp_path / "exported"
    folder.mkdir()
    Image.fromarray(tfds_files.decode_rgb(test.records.image_bytes(0))).save(folder / "a.png")
    want = lsun.LsunFolderSource(str(folder), "all", 16).read(0)
    np.testing.assert_array_equal(test.read(0), want)
    assert np.abs(test.read(0)[0].astype(int).mean() - smooth[3][4:36].mean()) < 8
    tfds_fakes.lsun(tmp_path, "bedroom", {"train": smooth[:1]})
    with pytest.raises(DatasetMissingError, match="bedroom, tower"):
        registry.DATASETS.get("lsun")(DataConfig(data_dir=str(tmp_path)))


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
        assert "tfds build" in message and ".tfrecord" in message
