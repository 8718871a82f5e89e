"""SSIM and PSNR on known images, and the best-of-N prediction metrics' building blocks."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tfvidgen.metrics import ssim as S


def _images(seed=0, shape=(4, 32, 24, 3)):
    rng = np.random.default_rng(seed)
    # Smooth structure plus texture, so that SSIM is far from both 0 and 1.
    y, x = np.mgrid[:shape[1], :shape[2]] / 8.0
    base = 0.5 + 0.3 * np.sin(x + y)[None, :, :, None] + 0.1 * rng.standard_normal(shape)
    noisy = base + 0.08 * rng.standard_normal(shape)
    return np.clip(base, 0, 1).astype(np.float32), np.clip(noisy, 0, 1).astype(np.float32)


def test_ssim_matches_tf_image_ssim():
    a, b = _images()
    ours = S.ssim(a, b, max_val=1.0).numpy()
    theirs = tf.image.ssim(a, b, max_val=1.0).numpy()
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    assert 0.3 < ours.mean() < 0.95
    # uint8 with max_val 255, and any leading axes (videos [N, T, H, W, C]).
    a8, b8 = (np.round(a * 255).astype(np.uint8), np.round(b * 255).astype(np.uint8))
    np.testing.assert_allclose(S.ssim(a8, b8, max_val=255.0).numpy(),
                               tf.image.ssim(a8, b8, max_val=255).numpy(), atol=2e-5)
    videos = S.ssim(a.reshape(2, 2, 32, 24, 3), b.reshape(2, 2, 32, 24, 3)).numpy()
    np.testing.assert_allclose(videos.reshape(-1), ours, atol=1e-6)


def test_ssim_known_values():
    a, _ = _images(1)
    np.testing.assert_allclose(S.ssim(a, a).numpy(), 1.0, atol=1e-6)
    # Constant images: only the luminance term, (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
    c1 = (0.01 * 1.0) ** 2
    x, y = np.full([1, 16, 16, 1], 0.2, np.float32), np.full([1, 16, 16, 1], 0.6, np.float32)
    want = (2 * 0.2 * 0.6 + c1) / (0.2 ** 2 + 0.6 ** 2 + c1)
    np.testing.assert_allclose(S.ssim(x, y).numpy(), [want], rtol=5e-4)  # float32 covariances
    # More noise, lower SSIM.
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(a.shape).astype(np.float32)
    scores = [float(S.ssim(a, np.clip(a + s * noise, 0, 1)).numpy().mean())
              for s in (0.02, 0.05, 0.1, 0.3)]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9 and scores[-1] < 0.5


def test_ssim_window_and_map():
    g = S.gaussian_window()
    assert g.shape == (11,) and math.isclose(g.sum(), 1.0, rel_tol=1e-6)
    a, b = _images(3)
    assert S.ssim(a, b, return_map=True).shape == (4, 32 - 10, 24 - 10, 3)
    # Smaller than the window: the window shrinks to the image instead of failing.
    small = S.ssim(a[:, :8, :8], b[:, :8, :8]).numpy()
    assert small.shape == (4,) and np.all(np.isfinite(small))


def test_psnr_known_values():
    a = np.zeros([2, 8, 8, 3], np.float32)
    b = a + 0.1  # MSE = 0.01 -> 20 dB on [0, 1]
    np.testing.assert_allclose(S.psnr(a, b).numpy(), [20.0, 20.0], rtol=1e-5)
    np.testing.assert_allclose(S.psnr(a * 255, b * 255, max_val=255.0).numpy(), 20.0, rtol=1e-5)
    c, d = _images(4)
    np.testing.assert_allclose(S.psnr(c, d).numpy(), tf.image.psnr(c, d, 1.0).numpy(),
                               rtol=1e-5)
    # Identical frames: capped (MSE floor), not infinite.
    assert S.psnr(a, a).numpy()[0] == pytest.approx(100.0)


def test_frame_scores_map_minus_one_one_to_unit_range():
    rng = np.random.default_rng(5)
    video = rng.uniform(-1, 1, [2, 3, 16, 16, 3]).astype(np.float32)
    other = np.clip(video + 0.2 * rng.standard_normal(video.shape), -1, 1).astype(np.float32)
    s, p = S.frame_scores(other, video)
    assert s.shape == p.shape == (2, 3)
    np.testing.assert_allclose(
        s, tf.image.ssim((other + 1) / 2, (video + 1) / 2, 1.0).numpy(), atol=2e-5)
    np.testing.assert_allclose(
        p, tf.image.psnr((other + 1) / 2, (video + 1) / 2, 1.0).numpy(), rtol=1e-5)
