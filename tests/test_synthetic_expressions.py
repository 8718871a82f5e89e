"""Tests of the built-in synthetic expression dataset."""
import concurrent.futures
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from tfvidgen import registry
from tfvidgen.data import synthetic_expressions as se
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import VideoSource

CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make(**kwargs):
    args = dict(image_size=32, split="all", seed=0, num_identities=5, num_takes=2,
                video_length=8, cache=False)
    args.update(kwargs)
    return se.SyntheticExpressions(**args)


def index_of(src, identity, expression, take):
    per = 6 * src.num_takes
    return src.identities.index(identity) * per + expression * src.num_takes + take


def mad(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shape_and_dtype(size):
    src = make(image_size=size, video_length=4 if size < 128 else 2)
    video = src.read(0)
    assert isinstance(src, VideoSource)
    assert src.frame_shape == (size, size, 3)
    assert video.shape == (src.num_frames(0), size, size, 3)
    assert video.dtype == np.uint8
    assert video.min() < 60 and video.max() > 200  # dark pupils, white sclera


def test_counts_labels_identities_and_describe():
    src = make(num_identities=10, num_takes=3, video_length=5)
    assert src.class_names == CLASSES
    assert len(src) == 10 * 6 * 3
    labels = src.labels()
    identities = np.array([src.identity(i) for i in range(len(src))])
    np.testing.assert_array_equal(np.bincount(labels, minlength=6), [30] * 6)
    np.testing.assert_array_equal(np.bincount(identities), [18] * 10)
    np.testing.assert_array_equal(src.lengths(), [5] * len(src))
    i = index_of(src, 3, 3, 1)
    assert (src.identity(i), src.label(i)) == (3, 3)
    assert src.describe(i) == "synthetic_expressions[id=3,happiness,take=1]"
    with pytest.raises(IndexError):
        src.label(len(src))
    with pytest.raises(IndexError):
        src.read(0, [5])


def test_deterministic_across_instances_and_cache():
    a = make(cache=True)
    b = make(cache=False)
    for i in (0, 17, len(a) - 1):
        np.testing.assert_array_equal(a.read(i), b.read(i))
    assert not np.array_equal(make(seed=1).read(0, [0]), a.read(0, [0]))


def test_deterministic_across_processes():
    code = ("import hashlib; from tfvidgen.data.synthetic_expressions import "
            "SyntheticExpressions as S; s = S(image_size=32, split='all', num_identities=5,"
            " video_length=8, cache=False); print(hashlib.sha1(s.read(13).tobytes()).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == hashlib.sha1(make().read(13).tobytes()).hexdigest()


@pytest.mark.parametrize("cache", [False, True])
def test_partial_reads_equal_slices_of_full_read(cache):
    src, reference = make(image_size=64, cache=cache), make(image_size=64)
    for index in range(12, 24):  # every expression and take of one identity
        full = reference.read(index)
        for frames in ([0], [7], [5, 0, 3], [2, 3, 4, 5], [6], []):
            np.testing.assert_array_equal(src.read(index, frames), full[frames])
        single = np.concatenate([reference.read(index, [k]) for k in range(8)])
        np.testing.assert_array_equal(single, full)


def test_cache_returns_copies():
    src = make(cache=True)
    first = src.read(4)
    first[:] = 0
    assert src.read(4).max() > 0


def test_neutral_start_and_distinct_apexes():
    src = make(image_size=64, video_length=10)
    for identity in (0, 3):
        for take in (0, 1):
            videos = [src.read(index_of(src, identity, e, take), [0, 9]) for e in range(6)]
            for e in range(1, 6):  # frame 0 is the same neutral face
                assert mad(videos[0][0], videos[e][0]) < 0.5
            for e in range(6):
                assert mad(videos[e][0], videos[e][1]) > 1.5, CLASSES[e]
                for f in range(e):
                    assert mad(videos[e][1], videos[f][1]) > 1.0, (CLASSES[e], CLASSES[f])


def test_identities_differ():
    src = make(num_identities=6, num_takes=1)
    firsts = [src.read(index_of(src, i, 0, 0), [0])[0] for i in range(6)]
    for i in range(6):
        for j in range(i):
            assert mad(firsts[i], firsts[j]) > 5.0, (i, j)


def test_motion_exists_and_takes_differ():
    src = make(video_length=12)
    for i in range(0, len(src), 7):
        video = src.read(i).astype(np.int64)
        changed = np.abs(np.diff(video, axis=0)).sum(axis=(1, 2, 3)) > 0
        assert changed.mean() >= 0.8, src.describe(i)
    take0, take1 = src.read(index_of(src, 1, 2, 0)), src.read(index_of(src, 1, 2, 1))
    assert mad(take0[1:], take1[1:]) > 0.5


def test_motion_eases_from_neutral_to_apex():
    src = make(video_length=16)
    names = se._PARAMS
    for e in range(6):
        params, dx, dy = src.motion(index_of(src, 2, e, 0))
        np.testing.assert_allclose(params[0], se._NEUTRAL_VEC)
        assert dx[0] == 0 and dy[0] == 0
        progress = np.abs(params - se._NEUTRAL_VEC).sum(axis=1)
        assert np.all(np.diff(progress) >= -1e-12)  # monotone ease
        apex = se._APEX_MAT[e]
        np.testing.assert_allclose(params[-1], se._NEUTRAL_VEC + (apex - se._NEUTRAL_VEC)
                                   * (params[-1, names.index("eye_up")] - 1)
                                   / (apex[names.index("eye_up")] - 1))
        assert progress[-1] >= 0.9 * np.abs(apex - se._NEUTRAL_VEC).sum()


@pytest.mark.parametrize("split,expected", [("train", [0, 1, 2, 3, 5, 6, 7, 8, 10, 11]),
                                            ("test", [4, 9]), ("all", list(range(12)))])
def test_splits(split, expected):
    src = make(split=split, num_identities=12, num_takes=1, video_length=2)
    identities = sorted({src.identity(i) for i in range(len(src))})
    assert identities == expected
    assert len(src) == len(expected) * 6
    if split == "test":
        train = make(split="train", num_identities=12, num_takes=1, video_length=2)
        assert not {train.identity(i) for i in range(len(train))} & set(identities)
        # A test video is the same video as in "all".
        everything = make(split="all", num_identities=12, num_takes=1, video_length=2)
        np.testing.assert_array_equal(src.read(7), everything.read(index_of(everything, 9, 1, 0)))
    with pytest.raises(ValueError):
        make(split="validation")


def test_threaded_reads_with_cache():
    src = make(cache=True)
    expected = [make().read(i) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: src.read(i % 12), range(48)))
    for k, video in enumerate(results):
        np.testing.assert_array_equal(video, expected[k % 12])


def test_registry_lookup():
    factory = registry.DATASETS.get("synthetic_expressions")
    config = DataConfig(image_size=32, split="test", num_identities=10, num_takes=1,
                        video_length=3, seed=5, cache=False)
    src = factory(config)
    assert isinstance(src, se.SyntheticExpressions)
    assert len(src) == 2 * 6 and src.num_frames(0) == 3
    assert src.read(0).shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(src.read(0), make(split="test", num_identities=10,
                                                    num_takes=1, video_length=3, seed=5).read(0))
