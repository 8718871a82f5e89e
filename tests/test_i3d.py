"""I3D: architecture, preprocessing, TF Hub variable mapping and .h5 round trip."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfvidgen.metrics import extractors, i3d


@pytest.fixture(scope="module")
def model():
    return i3d.build_i3d(input_shape=(8, 64, 64, 3))


def test_architecture_and_shapes(model):
    names = model.named_weights()
    # Every unit of the reference, with its TF Hub variable names.
    assert "Conv3d_1a_7x7/conv_3d/w" in names
    assert "Mixed_5b/Branch_2/Conv3d_0a_3x3/batch_norm/beta" in names  # the reference's name
    assert "Mixed_5c/Branch_3/Conv3d_0b_1x1/batch_norm/moving_variance" in names
    assert "Logits/Conv3d_0c_1x1/conv_3d/b" in names
    assert not any(n.endswith("gamma") for n in names)  # BN without scale
    assert tuple(names["Conv3d_1a_7x7/conv_3d/w"].shape) == (7, 7, 7, 3, 64)
    assert tuple(names["Logits/Conv3d_0c_1x1/conv_3d/w"].shape) == (1, 1, 1, 1024, 400)
    assert len(names) == len(model.weights) == 230
    assert sum(int(np.prod(w.shape)) for w in model.weights) == 12_704_544
    pooled, logits = model(tf.zeros([2, 8, 64, 64, 3]), training=False)
    assert pooled.shape == (2, 1024) and logits.shape == (2, 400)


def test_preprocess_matches_fvd_reference():
    videos = np.random.default_rng(0).integers(0, 256, [2, 3, 20, 30, 3], dtype=np.uint8)
    out = i3d.preprocess(videos, image_size=224).numpy()
    assert out.shape == (2, 3, 224, 224, 3)
    assert out.min() >= -1.0 and out.max() <= 1.0
    frames = tf.compat.v1.image.resize_bilinear(videos.reshape(6, 20, 30, 3), [224, 224],
                                                align_corners=False)
    expected = 2.0 * frames.numpy() / 255.0 - 1.0
    np.testing.assert_allclose(out.reshape(6, 224, 224, 3), expected, atol=1e-6)


def test_extractor_interface(model):
    videos = np.random.default_rng(1).integers(0, 256, [3, 8, 32, 32, 3], dtype=np.uint8)
    ex = i3d.I3DExtractor(model, image_size=64, batch_size=2)
    assert ex.name == "i3d" and ex.kind == "video" and ex.feature_dim == 400
    feats, logits = ex.activations_and_logits(videos)
    assert feats.shape == (3, 400) and logits.shape == (3, 400) and feats.dtype == np.float32
    np.testing.assert_allclose(ex.activations(tf.constant(videos)), feats, rtol=1e-5, atol=1e-5)
    pool = i3d.I3DExtractor(model, features="pool", image_size=64)
    assert pool.name == "i3d-pool" and pool.activations(videos[:1]).shape == (1, 1024)
    with pytest.raises(TypeError, match="uint8"):
        ex.activations(videos.astype(np.float32))
    with pytest.raises(ValueError, match=r"\[N, T, H, W, 3\]"):
        ex.activations(videos[0])


def _write_fake_hub_module(path, model, prefix="RGB/inception_i3d/"):
    """A TF1 SavedModel whose variables have the Hub module's names and shapes."""
    rng = np.random.default_rng(2)
    values = {}
    with tf.Graph().as_default():
        feeds = {}
        for name, weight in model.named_weights().items():
            shape = list(weight.shape)
            if "batch_norm" in name:  # Sonnet keeps BN vectors as [1, 1, 1, 1, C]
                shape = [1, 1, 1, 1, shape[-1]]
            value = rng.normal(size=shape).astype(np.float32)
            if name.endswith("moving_variance"):
                value = np.abs(value) + 0.5
            values[name] = value
            placeholder = tf.compat.v1.placeholder(tf.float32, shape)
            tf.compat.v1.Variable(placeholder, name=prefix + name)
            feeds[placeholder] = value
        tf.compat.v1.Variable(tf.constant(0, tf.int64), name="global_step")
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(sess, ["serve"])
            builder.save()
    return values


def test_hub_conversion_and_h5_round_trip(model, tmp_path, monkeypatch):
    monkeypatch.setenv("TFVIDGEN_CACHE", str(tmp_path / "cache"))
    hub = tmp_path / "i3d-kinetics-400_1"
    values = _write_fake_hub_module(hub, model)
    loaded = i3d.load_i3d(str(hub))
    for name, weight in loaded.named_weights().items():
        np.testing.assert_array_equal(weight.numpy(), values[name].reshape(weight.shape),
                                      err_msg=name)
    cached = i3d.converted_weights_path(str(hub))
    assert os.path.exists(cached)
    # The .h5 alone, and the Hub folder again (read from the cache), give the same network.
    videos = np.random.default_rng(3).integers(0, 256, [1, 8, 64, 64, 3], dtype=np.uint8)
    expected = i3d.I3DExtractor(loaded, image_size=64).logits(videos)
    again = i3d.load_i3d(cached)
    np.testing.assert_allclose(i3d.I3DExtractor(again, image_size=64).logits(videos),
                               expected, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(i3d, "read_saved_model_variables",
                        lambda path: pytest.fail("converted again instead of using the cache"))
    from_cache = i3d.load_i3d(str(hub))
    for a, b in zip(loaded.weights, from_cache.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Registered under its name.
    assert extractors.get_extractor("i3d", cached).name == "i3d"


def test_conversion_reports_mismatches(model):
    bad = {"x/Conv3d_1a_7x7/conv_3d/w": np.zeros([3, 3, 3, 3, 64], np.float32)}
    with pytest.raises(ValueError, match="shape"):
        i3d.convert_hub_variables(model, bad)
    with pytest.raises(ValueError, match="not an I3D"):
        i3d.convert_hub_variables(model, {"foo": np.zeros(1)})


def test_missing_weights_say_what_to_download(tmp_path):
    for path in (None, str(tmp_path / "nowhere")):
        with pytest.raises(extractors.WeightsMissingError) as e:
            extractors.get_extractor("i3d", path)
        message = str(e.value)
        assert "deepmind/i3d-kinetics-400" in message and "--i3d_path=" in message
    with pytest.raises(extractors.WeightsMissingError, match="variables"):
        i3d.load_i3d(str(tmp_path))  # a folder that is not a SavedModel
