"""SSIM (Wang et al. 2004) and PSNR, per frame, batched over any leading axes.

SSIM follows Wang, Bovik, Sheikh and Simoncelli (2004) as TensorFlow's
``tf.image.ssim`` does: an 11x11 Gaussian window with sigma 1.5 (applied as
two separable 1-D passes, the same weights as the normalised 2-D window),
"valid" filtering (no padding), K1 = 0.01, K2 = 0.03, biased local
covariances (the MATLAB reference's), the SSIM map averaged over space and
then over channels. ``tests/test_ssim.py`` checks equality with
``tf.image.ssim``. Images smaller than the window use a window as large as
the image (``tf.image.ssim`` refuses them).

SSIM is not invariant to shifting pixel values (its luminance term), so
the data range matters: frames in [-1, 1] (the models' outputs) are mapped
to [0, 1] by ``to_unit_range`` before either metric, and ``max_val`` is
then 1. PSNR is ``10 log10(max_val^2 / MSE)`` per frame, the MSE over all
pixels and channels; identical frames would give infinity, so the MSE is
floored at ``MSE_FLOOR`` (PSNR at most 100 dB on [0, 1]).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

FILTER_SIZE = 11
FILTER_SIGMA = 1.5
K1 = 0.01
K2 = 0.03
MSE_FLOOR = 1e-10


def to_unit_range(frames):
    """[-1, 1] floats -> [0, 1] floats (the range SSIM and PSNR are reported on)."""
    return (tf.cast(frames, tf.float32) + 1.0) / 2.0


def gaussian_window(size: int = FILTER_SIZE, sigma: float = FILTER_SIGMA) -> np.ndarray:
    """1-D Gaussian weights summing to 1 (MATLAB ``fspecial`` along one axis)."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * coords ** 2 / sigma ** 2)
    return (g / g.sum()).astype(np.float32)


def _flatten(images):
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        images = tf.cast(images, tf.float32)
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    return tf.reshape(images, tf.concat([[-1], shape[-3:]], 0)), shape[:-3]


def ssim(a, b, max_val: float = 1.0, filter_size: int = FILTER_SIZE,
         filter_sigma: float = FILTER_SIGMA, k1: float = K1, k2: float = K2,
         return_map: bool = False):
    """Mean SSIM of each pair of images [..., H, W, C] -> [...].

    Args:
      a, b: images of the same shape (floats or uint8).
      max_val: dynamic range of the pixel values (1 for [0, 1], 255 for uint8).
      return_map: return the local SSIM map [..., H', W', C] instead.
    """
    x, lead = _flatten(a)
    y, _ = _flatten(b)
    height, width, channels = x.shape[-3], x.shape[-2], x.shape[-1]
    size = min(filter_size, height, width) if height and width else filter_size
    g = tf.constant(gaussian_window(size, filter_sigma))
    rows = tf.tile(tf.reshape(g, [size, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(g, [1, size, 1, 1]), [1, 1, channels, 1])

    def blur(z):
        z = tf.nn.depthwise_conv2d(z, rows, [1, 1, 1, 1], "VALID")
        return tf.nn.depthwise_conv2d(z, cols, [1, 1, 1, 1], "VALID")

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    num0 = 2.0 * mu_x * mu_y
    den0 = tf.square(mu_x) + tf.square(mu_y)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = 2.0 * blur(x * y)
    den1 = blur(tf.square(x) + tf.square(y))
    contrast_structure = (num1 - num0 + c2) / (den1 - den0 + c2)
    ssim_map = luminance * contrast_structure
    if return_map:
        return tf.reshape(ssim_map, tf.concat([lead, tf.shape(ssim_map)[1:]], 0))
    per_image = tf.reduce_mean(ssim_map, axis=[1, 2, 3])
    return tf.reshape(per_image, lead)


def mse(a, b):
    """Mean squared error of each pair of images [..., H, W, C] -> [...]."""
    x, lead = _flatten(a)
    y, _ = _flatten(b)
    return tf.reshape(tf.reduce_mean(tf.square(x - y), axis=[1, 2, 3]), lead)


def psnr(a, b, max_val: float = 1.0):
    """PSNR in dB of each pair of images [..., H, W, C] -> [...]."""
    err = tf.maximum(mse(a, b), MSE_FLOOR)
    return 10.0 * tf.math.log(max_val ** 2 / err) / tf.math.log(10.0)


def frame_scores(prediction, target):
    """Per-frame SSIM and PSNR of [-1, 1] videos [..., T, H, W, C] -> two [..., T] arrays."""
    p, t = to_unit_range(prediction), to_unit_range(target)
    return ssim(p, t, max_val=1.0).numpy(), psnr(p, t, max_val=1.0).numpy()
