import numpy as np
import pytest

from tfvidgen.data import pipeline
from tfvidgen.data.sources import ArraySource, CorruptVideoError


def take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def build(source, start_step=0, **kw):
    args = dict(clip_length=4, every_nth=2, images_per_video=2, batch_size=3,
                frame_shape=(16, 16, 3), seed=7)
    args.update(kw)
    data = pipeline.split_sources(source, seed=7)
    return pipeline.make_dataset(data, start_step=start_step, **args)


def decode(batch_video):
    """Pixel value of channel 0 encodes v*20 + t (see conftest.make_videos)."""
    return np.round((batch_video[..., 0, 0, 0] + 1) * 127.5).astype(int)


def test_batches_shapes_range_strides_and_labels(array_source):
    (b,) = take(build(array_source), 1)
    assert b["video"].shape == (3, 4, 16, 16, 3) and b["image"].shape == (3, 2, 16, 16, 3)
    assert b["video"].dtype == np.float32 and b["video"].min() >= -1 and b["video"].max() <= 1
    codes = decode(b["video"])
    for row, label in zip(codes, b["label"]):
        video, frames = row[0] // 20, row % 20
        assert np.all(row // 20 == video)
        assert np.all(np.diff(frames) == 2)  # every_nth
        assert label == video % 3


def test_deterministic_and_resumable(array_source):
    full = take(build(array_source), 5)
    again = take(build(array_source), 5)
    resumed = take(build(array_source, start_step=3), 2)
    for a, b in zip(full, again):
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["image"], b["image"])
    for a, b in zip(full[3:], resumed):
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["image"], b["image"])
    other = take(build(array_source, seed=8), 1)[0]
    assert not np.array_equal(other["video"], full[0]["video"])


def test_one_epoch_visits_every_video_once(array_source):
    batches = take(build(array_source, batch_size=6, images_per_video=0), 1)
    videos = decode(batches[0]["video"])[:, 0] // 20
    assert sorted(videos) == list(range(6))


def test_image_only_batches(array_source):
    (b,) = take(build(array_source, clip_length=0, images_per_video=1), 1)
    assert set(b) == {"image"} and b["image"].shape == (3, 1, 16, 16, 3)


class FlakySource(ArraySource):
    def _read(self, index, frame_indices):
        if index == 2:
            raise OSError("truncated file")
        return super()._read(index, frame_indices)


def test_corrupt_videos_are_skipped_counted_and_reported(caplog):
    from conftest import make_videos
    videos, labels = make_videos()
    source = FlakySource(videos, labels)
    with pytest.raises(CorruptVideoError):
        source.read(2)
    data = pipeline.split_sources(source, seed=0)
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=1,
                               batch_size=6, frame_shape=(16, 16, 3), seed=0)
    batches = take(ds, 3)
    seen = {int(v) for b in batches for v in decode(b["video"])[:, 0] // 20}
    assert 2 not in seen and len(seen) == 5
    assert set(source.skipped) == {2}
    assert pipeline.report_skipped(data) == 1


def test_broken_fraction_moves_videos_to_the_image_pool(array_source):
    data = pipeline.split_sources(array_source, broken_fraction=0.5, seed=1)
    assert len(data.videos) == 3
    kept = {int(i) for i in data.videos.indices}
    # Every frame of every video is in D_I's pool: kept videos and broken ones.
    assert data.frame_pool.num_frames == sum(array_source.lengths())
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=4,
                               batch_size=3, frame_shape=(16, 16, 3), seed=0)
    batches = take(ds, 10)
    clip_videos = {int(v) for b in batches for v in decode(b["video"])[:, 0] // 20}
    image_videos = {int(v) for b in batches
                    for v in np.round((b["image"][..., 0, 0, 0] + 1) * 127.5).astype(int).ravel() // 20}
    assert clip_videos == kept
    assert image_videos - kept  # frames of broken videos reach D_I only


def test_image_source_joins_the_pool(array_source):
    images = ArraySource([np.full([1, 16, 16, 3], 250, np.uint8)] * 50)
    data = pipeline.split_sources(array_source, image_source=images, seed=0)
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=4,
                               batch_size=3, frame_shape=(16, 16, 3), seed=0)
    (b,) = take(ds, 1)
    assert np.any(np.isclose(b["image"][..., 0, 0, 0], 250 / 127.5 - 1))


def test_no_videos_left_is_an_error(array_source):
    with pytest.raises(ValueError, match="broken_video_fraction"):
        pipeline.split_sources(array_source, broken_fraction=0.99)


class HeaderlessSource(ArraySource):
    """Video 1's header cannot be read: length 0, recorded as skipped."""

    def num_frames(self, index):
        if index == 1:
            self._record_skip(1, "unreadable header")
            return 0
        return super().num_frames(index)


def test_videos_with_unreadable_headers_are_skipped():
    from conftest import make_videos
    videos, labels = make_videos()
    source = HeaderlessSource(videos, labels)
    data = pipeline.split_sources(source, seed=0)
    ds = pipeline.make_dataset(data, clip_length=4, every_nth=1, images_per_video=2,
                               batch_size=6, frame_shape=(16, 16, 3), seed=0)
    batches = take(ds, 2)
    seen = {int(v) for b in batches for v in decode(b["video"])[:, 0] // 20}
    assert 1 not in seen and len(seen) == 5
    assert set(source.skipped) == {1}
