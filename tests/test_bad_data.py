"""Bad and hostile files: skipped and counted, never a crash, a flood or a hang
(docs/reliability.md, "Data: bad and hostile files")."""
from __future__ import annotations

import logging
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import make_videos
from tfvidgen.data import frame_folders, image_ops, pipeline, sampling, video_files, video_folder
from tfvidgen.data.sources import MAX_FRAMES, ArraySource, CorruptVideoError


def hostile_png(path, width, height):
    """A tiny PNG (about 65 bytes) whose header claims width x height RGB pixels."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 8)) + chunk(b"IEND", b""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def hostile_gif(path, width, height):
    """A GIF whose logical screen claims width x height pixels."""
    data = (b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
            + b"\x02\x02\x44\x01\x00\x3b")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_strip(path, n, size=16):
    frames = [np.full((size, size, 3), 20 * k, np.uint8) for k in range(n)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(frames, axis=1)).save(path)


@pytest.fixture
def hostile_strips(tmp_path):
    root = tmp_path / "strips"
    for i in range(3):
        write_strip(root / f"good{i}.png", 12)
    hostile_png(root / "long.png", 89_000_000, 1)      # 89M frames of 1x1
    hostile_png(root / "bomb.png", 100_000_000, 32)    # Pillow: DecompressionBombError
    return root


def test_hostile_headers_are_skipped_not_counted(hostile_strips):
    assert os.path.getsize(hostile_strips / "long.png") < 80
    src = video_folder.VideoFolderSource(str(hostile_strips), image_size=16)
    names = [os.path.basename(src.describe(i)) for i in range(len(src))]
    lengths = src.lengths()  # must not raise (DecompressionBombError) nor count 89M frames
    long_, bomb = names.index("long.png"), names.index("bomb.png")
    assert lengths[long_] == 0 and lengths[bomb] == 0
    assert sorted(lengths[i] for i in range(len(src)) if i not in (long_, bomb)) == [12] * 3
    assert set(src.skipped) == {long_, bomb}
    assert "MAX_FRAMES" in src.skipped[long_] and "pixels" in src.skipped[bomb]
    for bad in (long_, bomb):
        with pytest.raises(CorruptVideoError):
            src.read(bad, [0])
    # The length table stays small: P(length) over at most 12 frames, not 89M.
    assert len(sampling.length_probs(lengths)) == 13


def test_hostile_strips_neither_flood_the_frame_pool_nor_stop_training(hostile_strips):
    src = video_folder.VideoFolderSource(str(hostile_strips), image_size=16)
    data = pipeline.split_sources(src, seed=0)
    assert data.frame_pool.num_frames == 36
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=4,
                               batch_size=2, frame_shape=(16, 16, 3), seed=0)
    for batch in ds.take(3):
        assert batch["video"].shape == (2, 4, 16, 16, 3)
    assert pipeline.data_error(data) is None


def test_hostile_frames_and_gifs_are_corrupt_files(tmp_path):
    write_strip(tmp_path / "frames" / "v0" / "1.png", 1)
    hostile_png(tmp_path / "frames" / "v0" / "2.png", 100_000_000, 32)
    src = frame_folders.FrameFoldersSource(str(tmp_path / "frames"), image_size=16)
    assert src.read(0, [0]).shape == (1, 16, 16, 3)
    with pytest.raises(CorruptVideoError):
        src.read(0, [1])
    hostile_gif(tmp_path / "gifs" / "bomb.gif", 65535, 65535)
    gifs = video_files.VideoFilesSource(str(tmp_path / "gifs"), image_size=16)
    assert gifs.num_frames(0) == 0 and set(gifs.skipped) == {0}


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    write_strip(tmp_path / "a.png", 4)
    monkeypatch.setattr(image_ops, "MAX_PIXELS", 16 * 16 * 3)
    with pytest.raises(ValueError, match="MAX_PIXELS"):
        image_ops.image_header_size(tmp_path / "a.png")


class _BigUnreadable(ArraySource):
    """Video 0 claims MAX_FRAMES frames (within the limit) and cannot be read."""

    def num_frames(self, index):
        return MAX_FRAMES if index == 0 else super().num_frames(index)

    def _read(self, index, frame_indices):
        if index == 0:
            raise OSError("truncated")
        return super()._read(index, frame_indices)


def test_a_failed_video_is_left_out_of_the_next_image_draws():
    videos, labels = make_videos()
    source = _BigUnreadable(videos, labels)
    data = pipeline.split_sources(source, seed=0)
    ds = pipeline.make_dataset(data, clip_length=0, every_nth=1, images_per_video=4,
                               batch_size=2, frame_shape=(16, 16, 3), seed=0)
    (batch,) = list(ds.take(1))  # video 0 holds ~all frames of the pool: one miss each
    assert batch["image"].shape == (2, 4, 16, 16, 3)
    assert set(source.skipped) == {0}


class _Unreadable(ArraySource):
    def _read(self, index, frame_indices):
        raise OSError("truncated")


def test_all_unreadable_records_a_one_line_data_error():
    videos, labels = make_videos(num=3)
    source = _Unreadable(videos, labels)
    data = pipeline.split_sources(source, seed=0)
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=0,
                               batch_size=2, frame_shape=(16, 16, 3), seed=0)
    import tensorflow as tf
    with pytest.raises(tf.errors.OpError):
        next(iter(ds))
    message = str(pipeline.data_error(data))
    assert "\n" not in message and "could not be read" in message
    assert "--data_dir" in message and "arrays[" in message


def test_headers_all_unreadable_stop_at_start(tmp_path):
    for i in range(3):
        (tmp_path / f"v{i}.png").write_bytes(b"")
    src = video_folder.VideoFolderSource(str(tmp_path), image_size=16)
    with pytest.raises(ValueError, match="no readable frames"):
        pipeline.split_sources(src, seed=0)


def test_clip_longer_than_the_videos_warns_once(caplog):
    videos, labels = make_videos(num=4, frames=6)  # 6 to 8 frames
    data = pipeline.split_sources(ArraySource(videos, labels), seed=0)
    kw = dict(clip_length=10, every_nth=1, images_per_video=1, batch_size=2,
              frame_shape=(16, 16, 3), seed=0)
    with caplog.at_level(logging.WARNING):
        pipeline.make_dataset(data, **kw)
        pipeline.make_dataset(data, start_step=5, **kw)
    warnings = [r.getMessage() for r in caplog.records if "--clip_length=10" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "4 videos" in warnings[0] and "6-8 frames" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        pipeline.make_dataset(data, **dict(kw, clip_length=6))
    assert not [r for r in caplog.records if "--clip_length" in r.getMessage()]
