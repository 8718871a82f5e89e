"""File-based sources on tiny data generated in tmp_path (plus real data if present)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from tfvidgen import registry
from tfvidgen.data import frame_folders, image_ops, mug, video_files, video_folder
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import CorruptVideoError, DatasetMissingError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def frame_colour(k: int, label: int = 0) -> tuple[int, int, int]:
    return (10 + 20 * k) % 256, 200 - 10 * k, 60 * label


def write_strip(path, n, size=16, vertical=False, rgba=False, label=0):
    """A strip of n constant-colour frames (frame k has frame_colour(k))."""
    frames = [np.full((size, size, 3), frame_colour(k, label), np.uint8) for k in range(n)]
    strip = np.concatenate(frames, axis=0 if vertical else 1)
    if rgba:
        alpha = np.full(strip.shape[:2] + (1,), 255, np.uint8)
        alpha[0, 0] = 0  # one transparent pixel: composited on black
        strip = np.concatenate([strip, alpha], axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path)


def write_frame(path, colour, size=16, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour, np.uint8)).save(path, format=fmt)


def mean_colour(frames):
    return frames.reshape(len(frames), -1, 3).mean(axis=1)


# video_folder ----------------------------------------------------------------

@pytest.fixture
def strips(tmp_path):
    root = tmp_path / "strips"
    write_strip(root / "b_class" / "h.png", 5, label=1)
    write_strip(root / "b_class" / "v.png", 4, vertical=True, label=1)
    write_strip(root / "a_class" / "rgba.png", 3, rgba=True, label=0)
    write_strip(root / "a_class" / "one.bmp", 1, label=0)
    (root / "a_class" / "notes.txt").write_text("not a video")
    return root


def test_video_folder_classes_labels_lengths(strips):
    src = video_folder.VideoFolderSource(str(strips), image_size=16)
    assert src.class_names == ("a_class", "b_class")
    names = [os.path.basename(src.describe(i)) for i in range(len(src))]
    assert names == ["one.bmp", "rgba.png", "h.png", "v.png"]
    assert src.labels().tolist() == [0, 0, 1, 1]
    assert src.lengths().tolist() == [1, 3, 5, 4]
    assert src.frame_shape == (16, 16, 3)


def test_video_folder_lengths_without_decoding(strips, monkeypatch):
    src = video_folder.VideoFolderSource(str(strips), image_size=16)

    def no_decode(self):
        raise AssertionError("pixels decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    assert src.lengths().tolist() == [1, 3, 5, 4]

    def no_open(*args, **kwargs):
        raise AssertionError("file opened again")
    monkeypatch.setattr(Image, "open", no_open)
    assert src.num_frames(2) == 5  # cached


def test_video_folder_reads_horizontal_vertical_rgba(strips):
    src = video_folder.VideoFolderSource(str(strips), image_size=16)
    h, v, rgba = 2, 3, 1
    frames = src.read(h)
    assert frames.shape == (5, 16, 16, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(mean_colour(frames), [frame_colour(k, 1) for k in range(5)])
    part = src.read(v, [3, 0, 3])
    np.testing.assert_array_equal(mean_colour(part), [frame_colour(k, 1) for k in (3, 0, 3)])
    rgb = src.read(rgba, [0])
    assert rgb.shape == (1, 16, 16, 3)
    assert tuple(rgb[0, 0, 0]) == (0, 0, 0)  # transparent -> black
    assert tuple(rgb[0, 5, 5]) == frame_colour(0)
    with pytest.raises(IndexError):
        src.read(h, [5])


def test_video_folder_resize(strips):
    src = video_folder.VideoFolderSource(str(strips), image_size=8)
    frames = src.read(2, [1, 4])
    assert frames.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(frames[0], np.full((8, 8, 3), frame_colour(1, 1)))


def test_corrupt_files_are_skipped_and_others_read(strips):
    cls = strips / "b_class"
    (cls / "random.png").write_bytes(os.urandom(300))
    noise = np.random.default_rng(0).integers(0, 256, (32, 6 * 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(cls / "trunc.jpg", quality=95)
    data = (cls / "trunc.jpg").read_bytes()
    (cls / "trunc.jpg").write_bytes(data[: len(data) * 6 // 10])
    src = video_folder.VideoFolderSource(str(strips), image_size=16)
    names = [os.path.basename(src.describe(i)) for i in range(len(src))]
    bad_random, bad_trunc = names.index("random.png"), names.index("trunc.jpg")
    assert src.num_frames(bad_random) == 0  # unreadable header: 0 frames
    assert src.num_frames(bad_trunc) == 6  # header fine, pixels not
    for bad in (bad_random, bad_trunc):
        with pytest.raises(CorruptVideoError):
            src.read(bad)
        with pytest.raises(CorruptVideoError):
            src.read(bad, [0])
    assert set(src.skipped) == {bad_random, bad_trunc}
    for i in set(range(len(src))) - {bad_random, bad_trunc}:
        assert src.read(i).shape == (src.num_frames(i), 16, 16, 3)


def test_video_folder_flat_is_unlabelled(tmp_path):
    write_strip(tmp_path / "x.png", 2)
    src = video_folder.VideoFolderSource(str(tmp_path), image_size=16)
    assert src.class_names == () and src.labels().tolist() == [-1]


# frame_folders / image_folder ------------------------------------------------

def write_video_dir(path, n, size=16):
    for k in range(1, n + 1):
        write_frame(path / f"{k}.png", frame_colour(k), size)


def test_frame_folders_with_classes_natural_sort(tmp_path):
    write_video_dir(tmp_path / "walk" / "v1", 11)
    write_video_dir(tmp_path / "walk" / "v2", 3)
    write_video_dir(tmp_path / "run" / "v1", 2, size=24)
    src = frame_folders.FrameFoldersSource(str(tmp_path), image_size=16)
    assert src.class_names == ("run", "walk")
    assert src.labels().tolist() == [0, 1, 1]
    assert src.lengths().tolist() == [2, 11, 3]
    frames = src.read(1, [0, 1, 9, 10])  # files 1, 2, 10, 11
    np.testing.assert_array_equal(mean_colour(frames), [frame_colour(k) for k in (1, 2, 10, 11)])
    assert src.read(0).shape == (2, 16, 16, 3)  # 24x24 resized


def test_frame_folders_without_classes(tmp_path):
    write_video_dir(tmp_path / "clip_a", 3)
    write_video_dir(tmp_path / "clip_b", 4)
    src = frame_folders.FrameFoldersSource(str(tmp_path), image_size=16)
    assert src.class_names == () and src.labels().tolist() == [-1, -1]
    assert src.lengths().tolist() == [3, 4]
    assert src.read(1, [3]).shape == (1, 16, 16, 3)


def test_image_folder_classes_and_flat(tmp_path):
    write_frame(tmp_path / "cls" / "cat" / "1.png", (255, 0, 0), size=20)
    write_frame(tmp_path / "cls" / "dog" / "a.jpg", (0, 255, 0), fmt="JPEG")
    write_frame(tmp_path / "cls" / "dog" / "b.png", (0, 0, 255))
    src = frame_folders.ImageFolderSource(str(tmp_path / "cls"), image_size=8)
    assert src.class_names == ("cat", "dog")
    assert src.labels().tolist() == [0, 1, 1]
    assert src.lengths().tolist() == [1, 1, 1]
    frame = src.read(0)
    assert frame.shape == (1, 8, 8, 3) and tuple(frame[0, 4, 4]) == (255, 0, 0)
    write_frame(tmp_path / "flat" / "x.png", (1, 2, 3))
    flat = frame_folders.ImageFolderSource(str(tmp_path / "flat"), image_size=16)
    assert len(flat) == 1 and flat.label(0) == -1


# video_files -----------------------------------------------------------------

def write_gif(path, n, size=16):
    import imageio.v3 as iio
    frames = np.stack([np.full((size, size, 3), c, np.uint8)
                       for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
                                 (0, 255, 255), (255, 0, 255)][:n]])
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frames, extension=".gif", duration=100, loop=0)
    return frames


def test_video_files_gif(tmp_path):
    frames = write_gif(tmp_path / "a" / "one.gif", 5)
    write_gif(tmp_path / "b" / "two.gif", 3, size=32)
    src = video_files.VideoFilesSource(str(tmp_path), image_size=16)
    assert src.class_names == ("a", "b")
    assert src.labels().tolist() == [0, 1]
    assert src.lengths().tolist() == [5, 3]
    part = src.read(0, [4, 1])
    assert part.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(part, frames[[4, 1]])
    assert src.read(1).shape == (3, 16, 16, 3)


def test_video_files_corrupt_gif(tmp_path):
    write_gif(tmp_path / "good.gif", 2)
    (tmp_path / "bad.gif").write_bytes(os.urandom(200))
    src = video_files.VideoFilesSource(str(tmp_path), image_size=16)
    bad = [os.path.basename(src.describe(i)) for i in range(len(src))].index("bad.gif")
    with pytest.raises(CorruptVideoError):
        src.read(bad)
    assert bad in src.skipped
    assert src.read(1 - bad).shape == (2, 16, 16, 3)


def test_video_files_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio
    frames = np.stack([np.full((32, 32, 3), 20 * k, np.uint8) for k in range(12)])
    iio.imwrite(tmp_path / "clip.mp4", frames, fps=10)
    src = video_files.VideoFilesSource(str(tmp_path), image_size=16)
    assert src.num_frames(0) == 12
    out = src.read(0, [0, 11])
    assert out.shape == (2, 16, 16, 3)
    assert abs(float(out[1].mean()) - 220) < 12
    (tmp_path / "bad.mp4").write_bytes(os.urandom(500))
    src = video_files.VideoFilesSource(str(tmp_path), image_size=16)
    bad = [os.path.basename(src.describe(i)) for i in range(len(src))].index("bad.mp4")
    with pytest.raises(CorruptVideoError):
        src.read(bad, [0])
    assert bad in src.skipped
    assert src.read(1 - bad, [3]).shape == (1, 16, 16, 3)


def test_video_files_without_backend_says_pip_install(tmp_path, monkeypatch):
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 64)
    monkeypatch.setattr(video_files, "video_backend_available", lambda: False)
    with pytest.raises(ImportError, match="pip install imageio-ffmpeg"):
        video_files.VideoFilesSource(str(tmp_path))


# MUG -------------------------------------------------------------------------

def write_mug(root, subjects=("001", "002", "003", "004", "005"), size=32, frames=3):
    for s in subjects:
        for expression, takes in (("happiness", 2), ("anger", 1), ("neutral", 1)):
            for t in range(takes):
                for k in range(1, frames + 1):
                    write_frame(root / s / expression / f"take{t:03d}" / f"img_{k:04d}.jpg",
                                (200, 40, 40), size, fmt="JPEG")
    return root


@pytest.mark.parametrize("with_subjects3", [True, False])
def test_mug_layout_labels_identities(tmp_path, with_subjects3):
    write_mug(tmp_path / "MUG" / "subjects3" if with_subjects3 else tmp_path / "MUG")
    src = mug.MugSource(str(tmp_path / "MUG"), image_size=16, split="all")
    assert src.class_names == mug.EXPRESSIONS
    assert len(src) == 5 * 3  # neutral ignored
    assert src.subjects == ("001", "002", "003", "004", "005")
    happiness, anger = mug.EXPRESSIONS.index("happiness"), mug.EXPRESSIONS.index("anger")
    assert sorted(set(src.labels().tolist())) == [anger, happiness]
    assert [src.identity(i) for i in range(len(src))] == [i // 3 for i in range(15)]
    assert all(n == 3 for n in src.lengths())
    frames = src.read(0, [2, 0])
    assert frames.shape == (2, 16, 16, 3)
    assert np.abs(mean_colour(frames) - (200, 40, 40)).max() < 8


def test_mug_splits_by_subject(tmp_path):
    write_mug(tmp_path)
    train = mug.build_mug(DataConfig(data_dir=str(tmp_path), image_size=16, split="train"))
    test = mug.build_mug(DataConfig(data_dir=str(tmp_path), image_size=16, split="test"))
    assert {train.identity(i) for i in range(len(train))} == {0, 1, 2, 3}
    assert {test.identity(i) for i in range(len(test))} == {4}  # last 20% of subjects
    assert all("005" in test.describe(i) for i in range(len(test)))
    with pytest.raises(ValueError):
        mug.MugSource(str(tmp_path), split="validation")


def test_mug_face_crop(tmp_path):
    assert mug.face_crop_box(896, 896, 0.8, (0.5, 0.5)) == (90, 90, 807, 807)
    assert mug.face_crop_box(100, 50, 1.0, (0.9, 0.5)) == (50, 0, 100, 50)  # kept inside
    # Red border, green centre half: a 0.5 centred crop is all green (JPEG draft path).
    frame = np.zeros((256, 256, 3), np.uint8)
    frame[:] = (255, 0, 0)
    frame[64:192, 64:192] = (0, 255, 0)
    path = tmp_path / "001" / "surprise" / "take000" / "img_0001.jpg"
    path.parent.mkdir(parents=True)
    Image.fromarray(frame).save(path, quality=95)
    src = mug.MugSource(str(tmp_path), image_size=16, crop_fraction=0.5)
    assert src.crop_box(0) == (64, 64, 192, 192)
    out = src.read(0).astype(int)
    assert (out[..., 1] > 200).all() and (out[..., 0] < 60).all()


# Missing data messages -------------------------------------------------------

SOURCES = [video_folder.VideoFolderSource, frame_folders.FrameFoldersSource,
           frame_folders.ImageFolderSource, video_files.VideoFilesSource, mug.MugSource]


@pytest.mark.parametrize("cls", SOURCES)
@pytest.mark.parametrize("where", ["none", "missing", "empty"])
def test_missing_data_dir_message(tmp_path, cls, where):
    data_dir = {"none": None, "missing": str(tmp_path / "nope"), "empty": str(tmp_path)}[where]
    with pytest.raises(DatasetMissingError) as info:
        cls(data_dir)
    message = str(info.value)
    assert "--data_dir" in message and "layout" in message
    if cls is mug.MugSource:
        assert mug.URL in message and "licence" in message and "subjects3" in message
        assert "bin/train --flagfile=configs/rjgan_mug.cfg --data_dir=/path/to/MUG" in message
    else:
        assert f"--dataset={src_name(cls)}" in message


def src_name(cls):
    return {video_folder.VideoFolderSource: "video_folder",
            frame_folders.FrameFoldersSource: "frame_folders",
            frame_folders.ImageFolderSource: "image_folder",
            video_files.VideoFilesSource: "video_files"}[cls]


def test_registered_names(strips):
    for name in ("video_folder", "frame_folders", "image_folder", "video_files", "mug"):
        assert name in registry.DATASETS
    src = registry.DATASETS.get("video_folder")(DataConfig(data_dir=str(strips), image_size=16))
    assert len(src) == 4


def test_build_source(strips):
    pytest.importorskip("tfvidgen.data.synthetic_expressions")
    from tfvidgen.data import datasets
    src = datasets.build_source("video_folder", DataConfig(data_dir=str(strips), image_size=16))
    assert len(src) == 4


def test_natural_sort_key():
    names = ["10.png", "2.png", "1.png", "img_0002.jpg", "img_0001.jpg"]
    assert sorted(names, key=image_ops.natural_sort_key) == [
        "1.png", "2.png", "10.png", "img_0001.jpg", "img_0002.jpg"]


# Real data (skipped when ../shared/data is absent) ---------------------------

def test_mocogan_shapes_real_data():
    root = SHARED_DATA / "mocogan_shapes"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    start = time.time()
    src = video_folder.build_video_folder(DataConfig(data_dir=str(root), image_size=64))
    lengths = src.lengths()
    assert time.time() - start < 60  # headers only: well under a second here
    assert src.class_names == ("0", "1")
    assert len(src) == 8000 and (lengths == 32).all()
    for i in (0, len(src) - 1):
        frames = src.read(i, [0, 31])
        assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    assert src.read(1).shape == (32, 64, 64, 3)
