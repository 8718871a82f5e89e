import numpy as np
import pytest

from tfvidgen.data import sampling
from tfvidgen.data.sources import ArraySource


@pytest.mark.parametrize("length,clip,nth", [(32, 16, 1), (32, 8, 2), (40, 16, 2), (16, 16, 1)])
def test_clip_indices_have_length_and_stride(length, clip, nth):
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        idx = sampling.clip_indices(length, clip, nth, rng)
        assert len(idx) == clip
        assert np.all(np.diff(idx) == nth)
        assert idx[0] >= 0 and idx[-1] < length
        starts.add(idx[0])
    assert starts == set(range(length - (clip - 1) * nth))  # every start reachable


def test_short_videos_fall_back_to_stride_one_then_repeat_last_frame():
    rng = np.random.default_rng(0)
    idx = sampling.clip_indices(20, 16, 2, rng)
    assert np.all(np.diff(idx) == 1)
    idx = sampling.clip_indices(5, 8, 1, rng)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3, 4, 4, 4, 4])


def test_length_probs():
    p = sampling.length_probs([3, 3, 5, 4])
    np.testing.assert_allclose(p, [0, 0, 0, 0.5, 0.25, 0.25])


def test_epoch_order_is_a_permutation_per_epoch_and_deterministic():
    order = sampling.EpochOrder(7, seed=3)
    first = [order(g) for g in range(7)]
    second = [order(g) for g in range(7, 14)]
    assert sorted(first) == list(range(7)) and sorted(second) == list(range(7))
    assert first != second
    assert [sampling.EpochOrder(7, seed=3)(g) for g in range(14)] == first + second
    assert [sampling.EpochOrder(7, seed=4)(g) for g in range(7)] != first


def test_frame_pool_draws_every_frame_uniformly():
    a = ArraySource([np.zeros([1, 2, 2, 3], np.uint8), np.zeros([3, 2, 2, 3], np.uint8)])
    b = ArraySource([np.zeros([4, 2, 2, 3], np.uint8)])
    pool = sampling.FramePool([(a, [0, 1]), (b, [0])])
    assert pool.num_frames == 8
    rng = np.random.default_rng(0)
    counts = {}
    for _ in range(8000):
        source, video, frame = pool.draw(rng)
        assert 0 <= frame < source.num_frames(video)
        key = (id(source), video, frame)
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 8
    assert all(abs(c - 1000) < 150 for c in counts.values())
