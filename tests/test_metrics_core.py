"""Core evaluation maths: Frechet distance, classifier score, streaming moments."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfvidgen import metrics
from tfvidgen.metrics import (StreamingMoments, classifier_score, classifier_score_splits,
                              frechet_distance, frechet_distance_from_moments, metric_name)

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "reference" / "tfgan_eval_golden.npz"


def _golden():
    if not GOLDEN.exists():
        pytest.skip(f"{GOLDEN} not present")
    return np.load(GOLDEN)


@pytest.mark.parametrize("case", ["fd_small", "fd_wide", "fd_shift"])
def test_frechet_distance_matches_tfgan(case):
    g = _golden()
    value = frechet_distance(g[f"{case}_real"], g[f"{case}_fake"])
    expected = float(g[f"{case}_value"])
    assert value == pytest.approx(expected, rel=1e-4)
    # Tensors in, same answer.
    assert frechet_distance(tf.constant(g[f"{case}_real"]),
                            tf.constant(g[f"{case}_fake"])) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("case", ["is_peaked", "is_flat", "is_mid"])
def test_classifier_score_matches_tfgan(case):
    g = _golden()
    logits = g[f"{case}_logits"]
    assert classifier_score(logits) == pytest.approx(float(g[f"{case}_value"]), rel=1e-4)
    assert classifier_score(tf.constant(logits)) == pytest.approx(classifier_score(logits))


def test_identical_sets_give_zero():
    x = np.random.default_rng(0).normal(size=[300, 12])
    assert abs(frechet_distance(x, x)) < 1e-8
    assert abs(frechet_distance(x.astype(np.float32), x.astype(np.float32))) < 1e-6


def test_known_gaussians():
    """FD between sample statistics equals the closed form on those statistics."""
    rng = np.random.default_rng(1)
    d = 5
    # Commuting covariances: diagonal => Tr((C1 C2)^1/2) = sum sqrt(c1 c2).
    c1, c2 = rng.uniform(0.5, 3.0, d), rng.uniform(0.5, 3.0, d)
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((m1 - m2) ** 2) + np.sum(c1 + c2 - 2 * np.sqrt(c1 * c2))
    got = metrics.frechet_distance_from_statistics(m1, np.diag(c1), m2, np.diag(c2))
    assert got == pytest.approx(expected, rel=1e-10)
    # Pure mean shift, same (non-diagonal) covariance: FD = |m1 - m2|^2.
    a = rng.normal(size=[d, d])
    cov = a @ a.T + np.eye(d)
    assert metrics.frechet_distance_from_statistics(m1, cov, m2, cov) == pytest.approx(
        np.sum((m1 - m2) ** 2), rel=1e-8, abs=1e-8)
    # Large samples from N(0, I) and N(mu, 4I) in 1-D: FD -> mu^2 + (1 - 2)^2.
    x = rng.normal(size=[200000, 1])
    y = 3.0 + 2.0 * rng.normal(size=[200000, 1])
    assert frechet_distance(x, y) == pytest.approx(9.0 + 1.0, rel=2e-2)


def test_frechet_symmetric_and_validates():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=[50, 4]), rng.normal(1.0, 2.0, size=[60, 4])
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-8)
    with pytest.raises(ValueError):
        frechet_distance(x, y[:, :3])
    with pytest.raises(ValueError):
        frechet_distance(x[0], y)


def test_streaming_equals_batch():
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, size=[1000, 8]) @ rng.normal(size=[8, 8])
    y = rng.normal(size=[777, 8])
    mx, my = StreamingMoments(), StreamingMoments()
    for chunk in np.array_split(x, [1, 5, 130, 131, 600]):
        mx.update(chunk)
    for chunk in np.array_split(y, 13):
        my.update(tf.constant(chunk, tf.float32) if len(chunk) % 2 else chunk)
    assert mx.count == 1000 and my.count == 777
    np.testing.assert_allclose(mx.mean, x.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mx.covariance, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-10)
    batch = frechet_distance(x, y.astype(np.float32))
    assert frechet_distance_from_moments(mx, my) == pytest.approx(batch, rel=1e-8)
    # (mean, cov) pairs are accepted too, and merging two halves equals one stream.
    assert frechet_distance_from_moments((mx.mean, mx.covariance), my) == pytest.approx(batch)
    a, b = StreamingMoments().update(x[:400]), StreamingMoments().update(x[400:])
    np.testing.assert_allclose(a.merge(b).covariance, mx.covariance, rtol=1e-9)


def test_streaming_save_load(tmp_path):
    x = np.random.default_rng(4).normal(size=[40, 3])
    m = StreamingMoments().update(x)
    m.save(tmp_path / "real.npz")
    back = StreamingMoments.load(tmp_path / "real.npz")
    assert back.count == 40
    np.testing.assert_allclose(back.covariance, m.covariance)
    assert frechet_distance_from_moments(back, m) == pytest.approx(0.0, abs=1e-9)


def test_streaming_errors():
    m = StreamingMoments()
    with pytest.raises(ValueError):
        m.mean
    m.update(np.zeros([1, 3]))
    with pytest.raises(ValueError):
        m.covariance
    with pytest.raises(ValueError):
        m.update(np.zeros([2, 4]))


def test_classifier_score_bounds():
    rng = np.random.default_rng(5)
    # Identical rows: p(y|x) = p(y) -> score 1.
    assert classifier_score(np.tile(rng.normal(size=[1, 7]), [50, 1])) == pytest.approx(1.0)
    # Confident and uniform over classes -> number of classes.
    c = 6
    logits = 1e3 * np.eye(c)[np.arange(600) % c]
    assert classifier_score(logits) == pytest.approx(c, rel=1e-9)
    # Anything in between lies in [1, C].
    for _ in range(5):
        s = classifier_score(rng.normal(scale=rng.uniform(0.1, 10), size=[100, c]))
        assert 1.0 - 1e-12 <= s <= c + 1e-9
    # Large logits do not overflow (log-softmax).
    assert np.isfinite(classifier_score(1e6 * rng.normal(size=[20, 4])))


def test_classifier_score_splits():
    c = 5
    logits = 50.0 * np.eye(c)[np.arange(100) % c]
    mean, std = classifier_score_splits(logits, num_splits=10)
    assert mean == pytest.approx(5.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(6)
    logits = rng.normal(scale=3, size=[128, 10])
    mean, std = classifier_score_splits(logits, num_splits=4)
    parts = [classifier_score(logits[i * 32:(i + 1) * 32]) for i in range(4)]
    assert mean == pytest.approx(np.mean(parts)) and std == pytest.approx(np.std(parts))
    assert classifier_score_splits(logits, 1) == pytest.approx((classifier_score(logits), 0.0))
    with pytest.raises(ValueError):
        classifier_score_splits(logits[:3], num_splits=10)


def test_metric_names():
    assert metric_name("fvd", "i3d", num_videos=2048, num_frames=16) == "fvd_i3d_2048v_16f"
    assert metric_name("fd", "expr_video", num_videos=624, num_frames=16) == \
        "fd_expr-video_624v_16f"
    assert metric_name("is", "c3d", num_splits=10, split_size=128) == "is_c3d_10x128"
    assert metric_name("fid", "expr", num_images=5000) == "fid_expr_5000i"
