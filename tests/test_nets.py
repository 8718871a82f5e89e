import numpy as np
import pytest
import tensorflow as tf

from tfvidgen.models.base import build_by_calling
from tfvidgen.nets import dcgan


def count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_official_mocogan_shapes_and_parameter_counts():
    """64x64, ngf=ndf=64: the layer widths of MoCoGAN's models.py."""
    g = dcgan.ImageGenerator(64, 64)
    frames = g(tf.zeros([2, 66]))
    assert frames.shape == (2, 64, 64, 3)
    # ConvTranspose weights (no bias) + BN gamma/beta, as in PyTorch.
    want = (66 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16
            + 2 * (512 + 256 + 128 + 64))
    assert count(g) == want

    d_i = dcgan.PatchImageDiscriminator(64, 64)
    assert d_i(tf.zeros([2, 64, 64, 3])).shape == (2, 4, 4, 1)
    assert count(d_i) == 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 16 + 2 * (128 + 256)

    d_v = dcgan.VideoDiscriminator(64, 64, num_categories=6)
    out = d_v(tf.zeros([2, 16, 64, 64, 3]))
    assert out.shape == (2, 1, 1, 1, 7)
    assert count(d_v) == (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 512 * 7) * 64 \
        + 2 * (128 + 256 + 512)
    assert d_v.min_frames() == 16


@pytest.mark.parametrize("size", [16, 32, 128])
def test_other_frame_sizes(size):
    g = dcgan.ImageGenerator(size, 8)
    assert g(tf.zeros([1, 5])).shape == (1, size, size, 3)
    d_i = dcgan.PatchImageDiscriminator(size, 8)
    assert d_i(tf.zeros([1, size, size, 3])).shape == (1, 4, 4, 1)
    d_v = dcgan.VideoDiscriminator(size, 4)
    t = d_v.min_frames()
    assert d_v(tf.zeros([1, t + 2, size, size, 3])).shape == (1, 3, 1, 1, 1)


def test_bad_size_rejected():
    with pytest.raises(ValueError, match="power of two"):
        dcgan.ImageGenerator(48)


def test_generator_output_range_and_batchnorm_modes():
    g = dcgan.ImageGenerator(16, 8)
    build_by_calling(g, [4])
    z = tf.random.normal([8, 4])
    x = g(z, training=True)
    assert float(tf.reduce_max(tf.abs(x))) <= 1.0
    # Inference uses moving statistics: different from the training-mode output.
    assert not np.allclose(g(z, training=False).numpy(), x.numpy())
