"""Dataset classifiers: train a few steps, save, load as an extractor; bin/train_evaluator."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_videos
from tfvidgen.data.sources import ArraySource
from tfvidgen.metrics import classifier_score, extractors, frechet_distance
from tfvidgen.metrics import classifiers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _source(num=9, seed=0):
    videos, labels = make_videos(num, frames=12, size=16, seed=seed)
    return ArraySource(videos, labels, class_names=("a", "b", "c"), name="tiny")


def _uint8(n, frames, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, [n, frames, size, size, 3], np.uint8)


@pytest.mark.parametrize("kind", ["video", "image"])
def test_train_save_load_extract(tmp_path, kind):
    out = str(tmp_path / kind)
    info = classifiers.train_classifier(_source(), kind, out, validation_source=_source(3, 1),
                                        clip_length=6, steps=3, batch_size=4, width=4,
                                        validation_batches=1)
    assert os.path.exists(os.path.join(out, "classifier.keras"))
    saved = json.load(open(os.path.join(out, "classifier.json")))
    assert saved == info
    assert saved["class_names"] == ["a", "b", "c"] and saved["name"] == f"tiny-{kind}"
    assert 0.0 <= saved["validation_accuracy"] <= 1.0

    ex = extractors.get_extractor("classifier", out)
    assert ex.name == f"tiny-{kind}" and ex.kind == kind and ex.num_classes == 3
    videos = _uint8(5, 6)
    inputs = videos if kind == "video" else videos[:, 0]
    feats, logits = ex.activations_and_logits(inputs)
    assert feats.shape == (5, ex.feature_dim) and logits.shape == (5, 3)
    # The extractor's logits are the saved network's on inputs scaled to [-1, 1].
    expected = ex.classifier(inputs.astype(np.float32) / 127.5 - 1.0, training=False)
    np.testing.assert_allclose(logits, np.asarray(expected), rtol=1e-4, atol=1e-4)
    # Larger frames are resized to the classifier's size.
    big = _uint8(2, 6, size=32)
    assert ex.logits(big if kind == "video" else big[:, 0]).shape == (2, 3)
    # The core maths take its outputs.
    assert 1.0 <= classifier_score(logits) <= 3.0 + 1e-9
    # Identical sets: 0 up to the rounding of square roots of a rank-deficient covariance.
    scale = max(1.0, float(np.trace(np.cov(feats, rowvar=False))))
    assert abs(frechet_distance(feats, feats)) < 1e-4 * scale
    # Streaming statistics over batches equal the batch ones.
    moments = ex.moments(inputs[i:i + 2] for i in range(0, 5, 2))
    assert moments.count == 5
    np.testing.assert_allclose(moments.covariance, np.cov(feats, rowvar=False), atol=1e-5)
    if kind == "video":
        with pytest.raises(ValueError, match="6 frames"):
            ex.logits(_uint8(2, 4))


def test_unlabelled_dataset_is_refused(tmp_path):
    videos, _ = make_videos(3, 12, 16)
    with pytest.raises(ValueError, match="no class labels"):
        classifiers.train_classifier(ArraySource(videos), "image", str(tmp_path), steps=1)


def test_missing_classifier_folder(tmp_path):
    with pytest.raises(extractors.WeightsMissingError, match="bin/train_evaluator"):
        extractors.get_extractor("classifier", str(tmp_path))


def test_video_classifier_architecture():
    model = classifiers.build_video_classifier(6, image_size=64, clip_length=16, width=8)
    assert model.output.shape == (None, 6)
    assert model.get_layer("features").output.shape == (None, 32)
    image = classifiers.build_image_classifier(6, image_size=64, width=8)
    # D_I's blocks at 64x64: 8, 16+BN, 32+BN (the patch-logit conv replaced by the head).
    assert [image.get_layer(f"conv_{i}").filters for i in range(3)] == [8, 16, 32]
    assert image.get_layer("features").output.shape == (None, 32)


def test_bin_train_evaluator_on_builtin_dataset(tmp_path):
    out = str(tmp_path / "expr")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train_evaluator"),
         "--dataset=synthetic_expressions", "--synthetic_identities=5", "--synthetic_takes=1",
         "--synthetic_video_length=8", "--image_size=16", "--clip_length=4", "--kind=video",
         "--steps=2", "--classifier_batch_size=4", "--classifier_width=4",
         "--validation_batches=1", f"--output_dir={out}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout)
    assert len(info["class_names"]) == 6
    assert info["name"] == "synthetic-expressions-video" and "validation_accuracy" in info
    ex = extractors.get_extractor(out)  # a classifier folder alone
    assert ex.logits(_uint8(2, 4)).shape == (2, 6)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train_evaluator"),
         "--dataset=synthetic_expresions", f"--output_dir={out}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "synthetic_expressions" in proc.stderr
