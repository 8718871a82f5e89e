"""Seed 002's KTH protocol (section 5.3.3, Fig. 5.9): a stacked-frames 2D classifier and
the Inception Score of generated windows against their offset (``is_offset``)."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_bin, tiny_data
from tfvidgen import evaluate
from tfvidgen.data.sources import ArraySource
from tfvidgen.metrics import classifier_score_splits, classifiers, extractors, offset_score


# Windows and offsets ---------------------------------------------------------------------

def test_window_offsets_and_frames():
    assert offset_score.window_offsets(30, 10, 5) == [1, 6, 11, 16, 21]
    assert offset_score.window_offsets(12, 10, 1) == [1, 2, 3]
    assert offset_score.window_offsets(10, 10, 3) == [1]
    # Generated frame 1 is frame n_past (0-based) of the sequence.
    assert offset_score.window_frames(10, 1, 10) == list(range(10, 20))
    assert offset_score.window_frames(2, 4, 3) == [5, 6, 7]
    with pytest.raises(ValueError, match="holds no 10-frame window"):
        offset_score.window_offsets(9, 10)
    with pytest.raises(ValueError, match=">= 1"):
        offset_score.window_offsets(9, 3, 0)


N_PAST, HORIZON, WINDOW, STRIDE, SIZE, CLASSES = 3, 9, 4, 2, 4, 3


def _clips(n, length=N_PAST + HORIZON):
    """uint8 [n, length, S, S, 3]: channel 0 is the frame's time index, 1 the clip's id."""
    clips = np.zeros([n, length, SIZE, SIZE, 3], np.uint8)
    clips[..., 0] = np.arange(length)[None, :, None, None]
    clips[..., 1] = (np.arange(n) * 7)[:, None, None, None]
    return clips


class TimePredictor:
    """Generated frame k (0-based) has channel 0 = 100 + k and keeps the clip's id."""

    def __init__(self):
        self.calls = []

    def __call__(self, context, num_future, seed):
        self.calls.append((np.array(context), int(num_future), int(seed)))
        context = np.asarray(context)
        out = np.repeat(context[:, -1:], num_future, axis=1).copy()
        out[..., 0] = (100 + np.arange(num_future))[None, :, None, None] / 127.5 - 1.0
        return out


def _logits(windows):
    """A classifier whose answer depends on the window's first frame and the clip's id."""
    w = np.asarray(windows).astype(np.int64)
    assert w.shape[1:] == (WINDOW, SIZE, SIZE, 3)
    cls = (w[:, 0, 0, 0, 0] + w[:, 0, 0, 0, 1]) % CLASSES
    confidence = 1.0 + (w[:, 0, 0, 0, 0:1] % 5)
    return confidence * np.eye(CLASSES)[cls] + 0.1 * w[:, 0, 0, 0, 1:2] / 255.0


def test_offset_curve_scores_the_right_frames_at_each_offset():
    clips = _clips(8)
    predictor, seen = TimePredictor(), []

    def logits_fn(windows):
        seen.append(np.asarray(windows)[:, :, 0, 0, :2].copy())  # [M, W, (time, id)]
        return _logits(windows)

    curve = offset_score.offset_curve(
        predictor, [clips[:5], clips[5:]], logits_fn, n_past=N_PAST, horizon=HORIZON,
        window=WINDOW, stride=STRIDE, num_splits=2, seed=3)
    offsets = [1, 3, 5]
    assert curve["offsets"] == offsets and curve["num_samples"] == 8
    assert curve["frames"] == [[3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10]]
    assert (curve["num_splits"], curve["split_size"]) == (2, 4)
    # The predictor saw the first n_past real frames, in [-1, 1], and was asked for the horizon.
    assert [c[1] for c in predictor.calls] == [HORIZON, HORIZON]
    np.testing.assert_allclose(predictor.calls[0][0][..., 0],
                               np.broadcast_to(np.arange(N_PAST)[None, :, None, None],
                                               (5, N_PAST, SIZE, SIZE)) / 127.5 - 1, atol=1e-6)
    assert predictor.calls[0][2] != predictor.calls[1][2]  # a seed per batch
    # Per batch: generated then real windows of each offset, in offset order.
    assert len(seen) == 2 * 2 * len(offsets)
    for j, offset in enumerate(offsets):
        gen, real = seen[2 * j], seen[2 * j + 1]
        assert gen.shape == real.shape == (5, WINDOW, 2)
        np.testing.assert_array_equal(gen[:, :, 0], np.broadcast_to(
            100 + np.arange(offset - 1, offset - 1 + WINDOW), (5, WINDOW)))
        np.testing.assert_array_equal(real[:, :, 0], np.broadcast_to(
            offset_score.window_frames(N_PAST, offset, WINDOW), (5, WINDOW)))
        np.testing.assert_array_equal(gen[:, 0, 1], np.arange(5) * 7)   # clips in order
    # Each offset's score is the IS (2 consecutive splits) of its windows' logits.
    for j, offset in enumerate(offsets):
        gen = _clips(8)[:, :WINDOW].copy()
        gen[..., 0] = (100 + np.arange(offset - 1, offset - 1 + WINDOW))[None, :, None, None]
        real = _clips(8)[:, N_PAST + offset - 1:N_PAST + offset - 1 + WINDOW]
        for key, windows in (("generated", gen), ("real", real)):
            mean, std = classifier_score_splits(_logits(windows), num_splits=2)
            assert curve[key]["mean"][j] == pytest.approx(mean)
            assert curve[key]["std"][j] == pytest.approx(std)
    assert len(set(np.round(curve["generated"]["mean"], 6))) > 1  # offsets differ here
    # Clips of only the context: no real reference.
    short = offset_score.offset_curve(TimePredictor(), [clips[:, :N_PAST]], _logits,
                                      n_past=N_PAST, horizon=HORIZON, window=WINDOW,
                                      stride=STRIDE, num_splits=2)
    assert short["real"] is None and short["generated"] == {
        k: pytest.approx(v) for k, v in curve["generated"].items()}


def test_offset_curve_plot(tmp_path):
    curve = offset_score.offset_curve(TimePredictor(), [_clips(4)], _logits, n_past=N_PAST,
                                      horizon=HORIZON, window=WINDOW, stride=1, num_splits=2)
    path = offset_score.write_curve(curve, str(tmp_path / "c.json"), {"label": "fake"})
    assert offset_score.load_curve(path)["offsets"] == [1, 2, 3, 4, 5, 6]
    png = offset_score.plot({"a": curve, "b": offset_score.load_curve(path)},
                            str(tmp_path / "c.png"), classifier="kth-stacked2d")
    with open(png, "rb") as f:
        assert f.read(4) == b"\x89PNG"


# The stacked-frames classifier (seed 002: "frames concatenated as input to the first layer")

def test_stacked_classifier_stacks_frames_along_channels_in_time_order():
    model = classifiers.build_stacked_classifier(3, image_size=16, clip_length=4, width=4)
    assert model.input.shape == (None, 4, 16, 16, 3) and model.output.shape == (None, 3)
    stacked = keras.Model(model.input, model.get_layer("stacked").output)
    x = np.random.default_rng(0).uniform(-1, 1, [2, 4, 16, 16, 3]).astype(np.float32)
    out = np.asarray(stacked(x))
    assert out.shape == (2, 16, 16, 12)
    for t in range(4):
        for c in range(3):
            np.testing.assert_array_equal(out[..., 3 * t + c], x[:, t, ..., c])
    # The first (2D) convolution sees all 12 channels at once.
    assert tuple(model.get_layer("conv_0").kernel.shape) == (4, 4, 12, 4)
    assert {type(layer).__name__ for layer in model.layers
            if "Conv" in type(layer).__name__} == {"Conv2D"}


def test_architecture_choices():
    assert classifiers.check_architecture("video") == "conv3d"
    assert classifiers.check_architecture("video", "stacked2d") == "stacked2d"
    with pytest.raises(ValueError, match="conv3d, stacked2d"):
        classifiers.check_architecture("video", "stacked3d")
    with pytest.raises(ValueError, match="image classifiers use"):
        classifiers.check_architecture("image", "stacked2d")
    assert classifiers.default_name("kth", "video", "stacked2d") == "kth-stacked2d"
    assert classifiers.default_name("kth", "video", "conv3d") == "kth-video"


def _ramps(num, seed, length=10, size=16):
    """Class 0: frames darken over time; class 1: they brighten. Any single frame's
    brightness says nothing of the class: only the order of the frames does."""
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for v in range(num):
        label = v % 2
        base = rng.integers(40, 120)
        level = base + 12 * (np.arange(length) if label else np.arange(length)[::-1])
        video = np.broadcast_to(level[:, None, None, None], (length, size, size, 3))
        noise = rng.integers(-6, 7, video.shape)
        videos.append(np.clip(video + noise, 0, 255).astype(np.uint8))
        labels.append(label)
    return ArraySource(videos, labels, class_names=("darker", "brighter"), name="ramps")


def test_stacked_classifier_learns_frame_order_and_loads_as_an_extractor(tmp_path):
    out = str(tmp_path / "clf")
    info = classifiers.train_classifier(
        _ramps(24, 0), "video", out, validation_source=_ramps(12, 1), architecture="stacked2d",
        clip_length=4, steps=80, batch_size=16, width=8, learning_rate=3e-3,
        validation_batches=4, seed=0)
    assert info["architecture"] == "stacked2d" and info["name"] == "ramps-stacked2d"
    assert info["validation_accuracy"] > 0.9, info
    ex = extractors.get_extractor("classifier", out)
    assert (ex.kind, ex.num_frames, ex.architecture) == ("video", 4, "stacked2d")
    source = _ramps(6, 2)
    clips = np.stack([source.read(i, np.arange(2, 6)) for i in range(6)])
    predicted = ex.logits(clips).argmax(axis=1)
    assert (predicted == np.array([0, 1] * 3)).mean() > 0.8
    # Reversing time flips the answer: the order of the stacked channels matters.
    assert (ex.logits(clips[:, ::-1]).argmax(axis=1) == 1 - predicted).mean() > 0.8


# The protocol ----------------------------------------------------------------------------

class FakeTask:
    """Task-like predictor for TaskSampler: generated frame k has every pixel = 100 + k."""
    default_num_frames = 6

    def predict(self, context, num_future, noise):
        k = tf.range(num_future, dtype=tf.float32)[None, :, None, None, None]
        shape = tf.concat([tf.shape(context)[:1], [num_future], tf.shape(context)[2:]], 0)
        return tf.zeros(shape) + (100.0 + k) / 127.5 - 1.0


class WindowExtractor:
    """Duck-typed clip classifier: the class is the window's first pixel value mod 3."""
    name, kind, num_frames = "win", "video", 3

    def __init__(self):
        self.windows = []

    def logits(self, videos):
        videos = np.asarray(videos)
        assert videos.shape[1] == 3 and videos.dtype == np.uint8
        self.windows.append(videos[:, :, 0, 0, 0].copy())
        return 5.0 * np.eye(3)[videos[:, 0, 0, 0, 0].astype(np.int64) % 3]


def test_is_offset_protocol_report_and_files(tmp_path):
    data = tiny_data(num_videos=6, frames=12)
    ext = WindowExtractor()
    config = evaluate.EvalConfig(metrics=("is_offset",), extractor=ext, n_past=2, n_future=7,
                                 is_offset_stride=2, is_splits=2, is_split_size=3,
                                 batch_size=4)
    output = str(tmp_path / "report.json")
    report = evaluate.evaluate(evaluate.TaskSampler(FakeTask(), name="fake"), config,
                               data=data, output=output, step=5, log_dir=str(tmp_path / "ev"))
    base = "is_offset_win_2x3_3f_2p7f"
    real = "is_offset_real_win_2x3_3f_2p7f"
    assert set(report["metrics"]) == {f"{b}_at{o}" for b in (base, real) for o in (1, 3, 5)}
    # Per batch (4 then 2 sequences), per offset: the generated window, then the real one.
    assert len(ext.windows) == 2 * 3 * 2
    generated, real_windows = ext.windows[0::2], ext.windows[1::2]
    # Generated windows: offsets 1, 3, 5 hold generated frames 0-2, 2-4, 4-6 (+ 100).
    assert [w[0].tolist() for w in generated[:3]] == [[100, 101, 102], [102, 103, 104],
                                                      [104, 105, 106]]
    assert [len(w) for w in generated] == [4, 4, 4, 2, 2, 2]
    # Every generated window of an offset starts at the same value: one class, IS 1.
    for o in (1, 3, 5):
        assert report["metrics"][f"{base}_at{o}"] == pytest.approx(1.0)
    saved = json.load(open(output))["details"]["is_offset"]
    assert saved["offsets"] == [1, 3, 5] and saved["num_samples"] == 6
    assert saved["frames"][0] == [2, 3, 4] and saved["classifier"] == "win"
    assert saved["generated"]["mean"] == [pytest.approx(1.0)] * 3
    assert saved["real"]["mean"][0] == pytest.approx(report["metrics"][f"{real}_at1"])
    # Real windows: frames 2.. of the held-out clips of 2 + 7 frames, drawn as real_clips
    # draws them (here the training videos: the tiny data has no test split).
    from tfvidgen.data import pipeline
    sequences = evaluate.real_clips(pipeline.split_sources(data.videos, seed=0), 6, 9, 0)
    np.testing.assert_array_equal(real_windows[0], sequences[:4, 2:5, 0, 0, 0])
    np.testing.assert_array_equal(real_windows[1], sequences[:4, 4:7, 0, 0, 0])
    np.testing.assert_array_equal(real_windows[5], sequences[4:, 6:9, 0, 0, 0])
    assert "the training videos" in saved["sequences"]
    assert saved["heldout_videos_shorter_than_span"] == 0 and "warning" not in saved
    curve = offset_score.load_curve(report["files"]["is_offset_curve"])
    assert curve["label"] == "fake" and curve["offsets"] == [1, 3, 5]
    with open(report["files"]["is_offset_plot"], "rb") as f:
        assert f.read(4) == b"\x89PNG"
    # A horizon shorter than the window, or an image classifier, is refused up front.
    with pytest.raises(evaluate.MetricUnavailable, match="holds no 3-frame window"):
        evaluate.evaluate(evaluate.TaskSampler(FakeTask()),
                          evaluate.EvalConfig(metrics=("is_offset",), extractor=ext, n_past=2,
                                              n_future=2), data=data)
    ext.kind = "image"
    with pytest.raises(evaluate.MetricUnavailable, match="single images"):
        evaluate.evaluate(evaluate.TaskSampler(FakeTask()),
                          evaluate.EvalConfig(metrics=("is_offset",), extractor=ext, n_past=2,
                                              n_future=7), data=data)


def test_is_offset_on_drnet_pose_lstm_rollouts_beyond_the_videos():
    """drnet_lstm (random weights) rolled out 30 frames past 2 real ones, on 12-14 frame videos:
    the windows are scored, and the report says the real reference is padded."""
    from tfvidgen import registry
    from tfvidgen.models import drnet
    from tfvidgen.models.base import DataSpec
    config = drnet.DRNetConfig(content_dim=6, pose_dim=3, encoder_width=4, max_step=6,
                               sd_width=8, frame_channels=3, n_past=2, n_future=3, n_eval=6,
                               rnn_size=8, predictor_rnn_layers=2)
    task = registry.TASKS.get("drnet_lstm")(config, DataSpec(image_size=16))
    task.build()

    class Clip3:
        name, kind, num_frames = "clip3", "video", 3

        def logits(self, videos):
            v = np.asarray(videos, np.float32) / 255.0
            return 4.0 * v.mean(axis=(1, 2, 3))  # [M, 3]: a class per colour channel

    report = evaluate.evaluate(
        evaluate.TaskSampler(task, name="drnet_lstm"),
        evaluate.EvalConfig(metrics=("is_offset",), extractor=Clip3(), is_offset_stride=9,
                            n_past=2, n_future=30, is_splits=2, is_split_size=2,
                            batch_size=4),
        data=tiny_data(num_videos=6, frames=12))
    details = report["details"]["is_offset"]
    assert details["offsets"] == [1, 10, 19, 28] and details["frames"][-1] == [29, 30, 31]
    assert details["n_past"] == 2 and details["horizon"] == 30
    assert all(np.isfinite(v) and v >= 1.0 - 1e-9 for v in report["metrics"].values())
    assert len(report["metrics"]) == 8
    assert details["heldout_videos_shorter_than_span"] == 6 and "last frame" in details["warning"]


def test_is_offset_needs_a_predictor():
    class Unconditional:
        default_num_frames = 4
    with pytest.raises(evaluate.MetricUnavailable, match="predict"):
        evaluate.evaluate(evaluate.TaskSampler(Unconditional()),
                          evaluate.EvalConfig(metrics=("is_offset",), extractor=WindowExtractor()),
                          data=tiny_data())
    with pytest.raises(ValueError, match="is_offset needs a feature extractor"):
        evaluate.check_train_metrics("is_offset")


# End to end: bin/train_evaluator --architecture=stacked2d, then bin/evaluate on an SVG run

SVG_FLAGS = ["--model=svg_lp", "--dataset=synthetic_expressions", "--synthetic_identities=2",
             "--synthetic_takes=1", "--synthetic_video_length=10", "--image_size=16",
             "--encoder_width=4", "--g_dim=8", "--z_dim=2", "--rnn_size=8", "--n_past=2",
             "--n_future=2", "--n_eval=4", "--batch_size=2", "--max_steps=1",
             "--summary_every=1", "--sample_every=100", "--num_samples=2"]


def test_bin_train_evaluator_and_bin_evaluate_is_offset(tmp_path):
    from helpers import train_run
    run_dir, clf = str(tmp_path / "svg"), str(tmp_path / "clf")
    train_run(SVG_FLAGS, run_dir)
    proc = run_bin("train_evaluator", "--dataset=synthetic_expressions",
                   "--synthetic_identities=2", "--synthetic_takes=1",
                   "--synthetic_video_length=10", "--image_size=16", "--kind=video",
                   "--architecture=stacked2d", "--clip_length=3", "--steps=2",
                   "--classifier_batch_size=4", "--classifier_width=4",
                   "--validation_split=", f"--output_dir={clf}")
    info = json.loads(proc.stdout)
    assert info["architecture"] == "stacked2d" and info["clip_length"] == 3
    assert info["name"] == "synthetic-expressions-stacked2d"
    output = str(tmp_path / "eval" / "report.json")
    proc = run_bin("evaluate", f"--model_dir={run_dir}",
                   f"--metrics=is_offset@classifier:{clf}", "--prediction_past=2",
                   "--prediction_future=6", "--is_offset_stride=2", "--is_splits=2",
                   "--is_split_size=2", "--eval_batch_size=2", f"--output={output}",
                   "--nowrite_summaries")
    base = "is_offset_synthetic-expressions-stacked2d_2x2_3f_2p6f"
    printed = dict(line.split(": ") for line in proc.stdout.strip().splitlines())
    assert set(printed) == {f"{b}_at{o}" for b in (base, base.replace("is_offset_",
                                                                      "is_offset_real_", 1))
                            for o in (1, 3)}
    assert all(1.0 - 1e-6 <= float(v) <= 6.0 for v in printed.values())
    report = json.load(open(output))
    details = report["details"][f"is_offset@classifier:{clf}"]
    assert details["offsets"] == [1, 3] and details["num_samples"] == 4
    assert details["classifier"] == f"classifier:{clf}" and details["window"] == 3
    assert os.path.exists(report["files"]["is_offset_plot"])
    # The wrong kind for a stacked classifier fails with one line.
    proc = run_bin("train_evaluator", "--dataset=synthetic_expressions", "--kind=image",
                   "--architecture=stacked2d", f"--output_dir={tmp_path / 'x'}", check=False)
    assert proc.returncode != 0 and "image classifiers use" in proc.stderr
    assert "Traceback" not in proc.stderr
