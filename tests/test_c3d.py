"""C3D: architecture, Chainer weight layout (checked against a numpy reference), .h5 round trip."""
import numpy as np
import pytest
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

from tfvidgen.metrics import c3d, extractors

TINY = dict(num_classes=5, widths=(2, 3, 3, 2, 2, 3, 2, 2), fc_units=6)


def _chainer_weights(widths, fc_units, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    w, c_in = {}, 3
    for conv, c_out in zip(c3d.CONVS, widths):
        w[f"{conv}/W"] = rng.normal(0, 0.3, [c_out, c_in, 3, 3, 3]).astype(np.float32)
        w[f"{conv}/b"] = rng.normal(0, 0.1, [c_out]).astype(np.float32)
        c_in = c_out
    for fc, (n_in, n_out) in {"fc6": (c_in * 16, fc_units), "fc7": (fc_units, fc_units),
                              "fc8": (fc_units, num_classes)}.items():
        w[f"{fc}/W"] = rng.normal(0, 0.3, [n_out, n_in]).astype(np.float32)
        w[f"{fc}/b"] = rng.normal(0, 0.1, [n_out]).astype(np.float32)
    return w


def _reference(x, w):
    """Chainer's C3DVersion1 in numpy, channel-first: x [C, T, H, W] -> (fc7, fc8)."""
    def conv(h, name):
        h = np.pad(h, [(0, 0), (1, 1), (1, 1), (1, 1)])
        windows = sliding_window_view(h, (3, 3, 3), axis=(1, 2, 3))  # [C, T, H, W, 3, 3, 3]
        out = np.einsum("cthwijk,ocijk->othw", windows, w[f"{name}/W"], optimize=True)
        return np.maximum(out + w[f"{name}/b"][:, None, None, None], 0)

    def pool(h, k):  # stride = window, cover_all (pad the end with -inf)
        c, *dims = h.shape
        pads = [(0, 0)] + [(0, -d % s) for d, s in zip(dims, k)]
        h = np.pad(h, pads, constant_values=-np.inf)
        c, t, hh, ww = h.shape
        return h.reshape(c, t // k[0], k[0], hh // k[1], k[1], ww // k[2], k[2]).max((2, 4, 6))

    h = x
    for name in c3d.CONVS:
        h = conv(h, name)
        if name in c3d.POOL_AFTER:
            h = pool(h, c3d.POOL_AFTER[name])
    h = h.reshape(-1)
    fc6 = np.maximum(w["fc6/W"] @ h + w["fc6/b"], 0)
    fc7 = np.maximum(w["fc7/W"] @ fc6 + w["fc7/b"], 0)
    return fc7, w["fc8/W"] @ fc7 + w["fc8/b"]


def test_full_architecture_shapes():
    model = c3d.C3D()
    fc7, logits = model(tf.zeros([1, 16, 112, 112, 3]))
    assert fc7.shape == (1, 4096) and logits.shape == (1, 101)
    assert tuple(model.fc6.kernel.shape) == (8192, 4096)  # 512 x 1 x 4 x 4 after pool5
    assert [getattr(model, n).filters for n in c3d.CONVS] == list(c3d.WIDTHS)


def test_chainer_weights_match_reference(tmp_path):
    weights = _chainer_weights(TINY["widths"], TINY["fc_units"], TINY["num_classes"])
    path = tmp_path / "conv3d_tiny.npz"
    np.savez(path, **weights)
    model = c3d.load_c3d(str(path), **TINY)
    x = np.random.default_rng(1).normal(size=[16, 112, 112, 3]).astype(np.float32)
    fc7, logits = model(x[None])
    ref_fc7, ref_logits = _reference(x.transpose(3, 0, 1, 2), weights)
    np.testing.assert_allclose(fc7.numpy()[0], ref_fc7, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits.numpy()[0], ref_logits, rtol=1e-4, atol=1e-4)
    # .weights.h5 round trip.
    h5 = c3d.convert_c3d(str(path), str(tmp_path / "c3d.weights.h5"), **TINY)
    again = c3d.load_c3d(h5, **TINY)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_extractor_and_mean(tmp_path):
    model = c3d.build_c3d(**TINY)
    # A TGAN-style mean file: [1, 3, 16, 128, 171], BGR.
    mean = np.zeros([1, 3, 16, 128, 171], np.float32)
    mean[0, 0], mean[0, 2] = 10.0, 30.0
    np.savez(tmp_path / "mean2.npz", mean=mean)
    clip_mean = c3d.load_mean(str(tmp_path / "mean2.npz"))
    assert clip_mean.shape == (16, 112, 112, 3)
    assert np.all(clip_mean[..., 0] == 10.0) and np.all(clip_mean[..., 2] == 30.0)
    ex = c3d.C3DExtractor(model, clip_mean, batch_size=2)
    videos = np.random.default_rng(2).integers(0, 256, [3, 16, 64, 64, 3], dtype=np.uint8)
    feats, logits = ex.activations_and_logits(videos)
    assert ex.name == "c3d" and feats.shape == (3, 6) and logits.shape == (3, 5)
    with pytest.raises(ValueError, match="16 frames"):
        ex.logits(videos[:, :8])
    # BGR order and mean subtraction.
    red = np.zeros([1, 16, 112, 112, 3], np.uint8)
    red[..., 0] = 200
    x = c3d.preprocess(red, clip_mean).numpy()
    assert x.shape == (1, 16, 112, 112, 3)
    np.testing.assert_allclose(x[0, 0, 50, 50], [-10.0, 0.0, 170.0], atol=1e-3)


def test_missing_weights(tmp_path):
    for path in (None, str(tmp_path / "none.npz")):
        with pytest.raises(extractors.WeightsMissingError, match="--c3d_path="):
            extractors.get_extractor("c3d", path)


def test_fc6_features_for_seed_004_fid(tmp_path):
    """c3d-fc6: fc6 activations of the converted released layout (seed 004, section 8.3)."""
    weights = _chainer_weights(TINY["widths"], TINY["fc_units"], TINY["num_classes"])
    path = tmp_path / "conv3d_tiny.npz"
    np.savez(path, **weights)
    model = c3d.load_c3d(str(path), **TINY)
    x = np.random.default_rng(3).normal(size=[16, 112, 112, 3]).astype(np.float32)
    fc6, logits = model.features_and_logits(x[None], "fc6")
    h = _reference_pool5(x.transpose(3, 0, 1, 2), weights)
    np.testing.assert_allclose(fc6.numpy()[0], np.maximum(weights["fc6/W"] @ h
                                                          + weights["fc6/b"], 0),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits.numpy()[0], _reference(x.transpose(3, 0, 1, 2),
                                                             weights)[1], rtol=1e-4, atol=1e-4)
    ex = c3d.C3DExtractor(model, features="fc6")
    assert ex.name == "c3d-fc6"
    videos = np.random.default_rng(4).integers(0, 256, [2, 16, 64, 64, 3], dtype=np.uint8)
    want = model.features_and_logits(c3d.preprocess(videos, c3d.load_mean()), "fc6")[0]
    np.testing.assert_allclose(ex.activations(videos), want.numpy(), rtol=1e-5, atol=1e-5)
    # Released key spellings: "conv1a/W", "conv1a_W" and "predictor/conv1a/W" all load.
    for rename in (lambda k: k.replace("/", "_"), lambda k: "predictor/" + k):
        np.savez(tmp_path / "renamed.npz", **{rename(k): v for k, v in weights.items()})
        again = c3d.load_c3d(str(tmp_path / "renamed.npz"), **TINY)
        np.testing.assert_array_equal(again.fc6.kernel.numpy(), model.fc6.kernel.numpy())
    with pytest.raises(extractors.WeightsMissingError, match="--c3d_path="):
        extractors.get_extractor("c3d-fc6", str(tmp_path / "none.npz"))


def _reference_pool5(x, w):
    """pool5's flattened output of the numpy reference (Chainer's channel-first order):
    the reference run with identity fully connected layers (pool5 is >= 0 after ReLU)."""
    n = w["fc6/W"].shape[1]
    eye, zero = np.eye(n, dtype=np.float32), np.zeros(n, np.float32)
    return _reference(x, {**w, "fc6/W": eye, "fc6/b": zero, "fc7/W": eye, "fc7/b": zero,
                          "fc8/W": eye, "fc8/b": zero})[1]
