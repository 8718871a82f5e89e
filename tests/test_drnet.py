"""DRNet and its pose LSTM (seed 002, chapter 5)."""
import dataclasses
import inspect
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_data, weights
from tfvidgen import export, registry
from tfvidgen.models import drnet
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.nets import drnet_nets
from tfvidgen.train.loop import TrainConfig, Trainer

SIZE = 16


def config(**overrides):
    values = dict(content_dim=6, pose_dim=3, encoder_width=4, max_step=6, sd_width=8,
                  frame_channels=3, n_past=2, n_future=3, n_eval=6, rnn_size=8,
                  predictor_rnn_layers=2)
    values.update(overrides)
    return drnet.DRNetConfig(**values)


def built(name="drnet", **overrides):
    task = registry.TASKS.get(name)(config(**overrides), DataSpec(image_size=SIZE))
    task.build()
    return task


def clip(batch=4, frames=6, channels=3, seed=0):
    return tf.random.stateless_uniform([batch, frames, SIZE, SIZE, channels], [seed, 1], -1, 1)


# Networks ------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,size", [("dcgan", 16), ("vgg", 32), ("resnet", 16),
                                       ("resnet", 64)])
def test_pose_encoders_give_unit_vectors(arch, size):
    enc = drnet_nets.PoseEncoder(arch, size, dim=5, nf=4)
    h = enc(tf.random.uniform([3, size, size, 1]))
    assert h.shape == (3, 5)
    np.testing.assert_allclose(np.linalg.norm(h.numpy(), axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("arch,size,levels,skips", [("dcgan", 16, 2, True), ("vgg", 32, 3, True),
                                                    ("dcgan", 16, 2, False)])
def test_content_encoder_and_decoder_shapes(arch, size, levels, skips):
    enc = drnet_nets.ContentEncoder(arch, size, dim=7, nf=4)
    dec = drnet_nets.Decoder(arch, size, content_dim=7, pose_dim=2, nf=4, channels=3,
                             skips=skips)
    h_c, maps = enc(tf.random.uniform([2, size, size, 3]))
    assert h_c.shape == (2, 7) and len(maps) == levels
    np.testing.assert_allclose(np.linalg.norm(h_c.numpy(), axis=-1), 1.0, rtol=1e-5)
    out = dec((h_c, tf.math.l2_normalize(tf.ones([2, 2]), -1), maps))
    assert out.shape == (2, size, size, 3)
    assert 0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1
    other = dec((h_c, tf.math.l2_normalize(tf.ones([2, 2]), -1), [m * 0 + 1 for m in maps]))
    # The skips reach the output only when the decoder has them.
    assert np.allclose(out.numpy(), other.numpy()) != skips


def test_scene_discriminator_has_two_hidden_layers_of_100():
    c = drnet_nets.SceneDiscriminator()
    logits = c((tf.zeros([4, 5]), tf.ones([4, 5])))
    assert logits.shape == (4,)
    dense = [v for v in c.weights if "kernel" in v.path]
    assert [tuple(v.shape) for v in dense] == [(10, 100), (100, 100), (100, 1)]


def test_resnet_pose_encoder_is_resnet18():
    enc = drnet_nets.ResNetEncoder(64, dim=5, nf=64)
    enc(tf.zeros([1, 64, 64, 1]))
    blocks = [layer for layer in enc.blocks.stack]
    assert len(blocks) == 8   # 4 stages of 2 basic blocks
    convs = [v for v in enc.weights if "kernel" in v.path and len(v.shape) == 4
             and v.shape[0] == 3]
    assert len(convs) == 1 + 16   # the stem and 2 per block


# Losses ---------------------------------------------------------------------------------

def test_scene_pairs_mix_videos_in_the_first_half_only():
    h1 = tf.reshape(tf.range(6, dtype=tf.float32), [6, 1])
    h2 = h1 + 100
    paired, target = drnet.DRNet.scene_pairs(h1, h2)
    np.testing.assert_array_equal(target.numpy(), [0, 0, 0, 1, 1, 1])
    first = paired[:3, 0].numpy() - 100
    assert np.all(first != h1[:3, 0].numpy())          # another video
    np.testing.assert_array_equal(paired[3:].numpy(), h2[3:].numpy())  # the same video
    paired, target = drnet.DRNet.scene_pairs(h1[:2], h2[:2])
    assert paired[0, 0] == 101 and list(target.numpy()) == [0, 1]


def test_loss_is_reconstruction_plus_alpha_similarity_plus_beta_adversarial():
    task = built(alpha=0.7, beta=0.3)
    metrics = task.train_step({"video": clip()}, 0, tf.random.Generator.from_seed(1), 4)
    m = {k: float(v) for k, v in metrics.items()}
    assert m["loss"] == pytest.approx(m["reconstruction"] + 0.7 * m["similarity"]
                                      + 0.3 * m["pose_adversarial"], rel=1e-5)
    assert 0 <= m["scene_accuracy"] <= 1 and m["scene_discriminator"] > 0


def test_pose_adversarial_loss_is_the_entropy_term_of_eq_5_4():
    logits = tf.constant([-2.0, 0.0, 3.0])
    c = tf.sigmoid(logits).numpy()
    expected = -(0.5 * np.log(c) + 0.5 * np.log(1 - c))
    np.testing.assert_allclose(drnet._bce(logits, 0.5).numpy(), expected, rtol=1e-5)


def test_scene_discriminator_update_holds_the_encoders_fixed():
    task = built()
    before_enc = weights(task.pose_encoder) + weights(task.content_encoder)
    before_c = weights(task.scene_discriminator)
    h = tf.math.l2_normalize(tf.random.normal([4, 3]), -1)
    task._update_scene_discriminator(h, tf.roll(h, 1, 0), 4)
    after_c = weights(task.scene_discriminator)
    assert any(not np.allclose(a, b) for a, b in zip(before_c, after_c))
    for a, b in zip(before_enc, weights(task.pose_encoder) + weights(task.content_encoder)):
        np.testing.assert_array_equal(a, b)


def test_main_update_does_not_move_the_scene_discriminator_beyond_its_own_step():
    """C changes once per step (its own update); the E_c/E_p/D update leaves it alone."""
    task = built()
    calls = []
    original = task._update_scene_discriminator

    def spy(*args):
        out = original(*args)
        calls.append(weights(task.scene_discriminator))
        return out

    task._update_scene_discriminator = spy
    task.train_step({"video": clip()}, 0, tf.random.Generator.from_seed(0), 4)
    for a, b in zip(calls[0], weights(task.scene_discriminator)):
        np.testing.assert_array_equal(a, b)


def squares(batch=4, frames=6):
    """A square moving over a plain background: the colour is content, the place pose."""
    video = np.zeros([batch, frames, SIZE, SIZE, 3], np.float32)
    for b in range(batch):
        video[b] += np.array([b % 2, (b // 2) % 2, 0.5]) * 1.6 - 0.8
        for t in range(frames):
            x = (2 * t + 3 * b) % (SIZE - 4)
            video[b, t, 4:8, x:x + 4] = 1.0
    return tf.constant(video)


def test_training_reduces_the_loss_on_a_tiny_set():
    task = built(beta=0.0, alpha=0.1)
    video = squares()
    rng = tf.random.Generator.from_seed(0)
    step = tf.function(lambda: task.train_step({"video": video}, 0, rng, 4))
    first = [float(step()["reconstruction"]) for _ in range(3)]
    for _ in range(60):
        step()
    last = [float(step()["reconstruction"]) for _ in range(3)]
    assert np.mean(last) < 0.7 * np.mean(first)


# Analogies and features -----------------------------------------------------------------

def test_analogy_grid_cells_combine_row_content_and_column_pose():
    task = built()
    frames = clip(batch=3, frames=1)[:, 0]
    grid = task.analogy_grid(frames)
    assert grid.shape == (1, 4 * SIZE, 4 * SIZE, 3)
    np.testing.assert_allclose(grid[0, :SIZE, SIZE:2 * SIZE].numpy(), frames[0].numpy())
    np.testing.assert_allclose(grid[0, SIZE:2 * SIZE, :SIZE].numpy(), frames[0].numpy())
    cell = task.analogy(frames[2:3], frames[None, 1:2])[0, 0]   # content 2, pose 1
    np.testing.assert_allclose(grid[0, 3 * SIZE:, 2 * SIZE:3 * SIZE].numpy(), cell.numpy(),
                               atol=1e-5)


def test_features_and_summaries():
    task = built()
    h_c, h_p = task.features(clip(batch=2, frames=5))
    assert h_c.shape == (2, 5, 6) and h_p.shape == (2, 5, 3)
    assert drnet.pose_sequence_features(task, clip(batch=2, frames=5)).shape == (2, 15)
    assert drnet.pose_sequence_features(task, clip(batch=2, frames=5), "content").shape == (2, 6)
    with pytest.raises(ValueError, match="pose.*content"):
        drnet.pose_sequence_features(task, clip(), "motion")
    named = task.sample_summaries(StatelessNoise(0), {"video": clip(frames=6)})
    assert named["reconstruction"].shape == (4, 6, SIZE, 2 * SIZE + 1, 3)
    assert named["analogy"].shape == (1, 5 * SIZE, 5 * SIZE, 3)
    # Samples reconstruct real clips given explicitly (no hidden context).
    assert task.context_length(8) == 8
    real = clip(batch=5, frames=8)
    assert task.sample(StatelessNoise(0), 5, 8, context=real).shape == (5, 8, SIZE, SIZE, 3)
    np.testing.assert_allclose(task.sample(StatelessNoise(0), 5, 8, context=real).numpy(),
                               task.analogy(real[:, 0], real).numpy())
    with pytest.raises(ValueError, match="reconstructs real clips"):
        task.sample(StatelessNoise(0), 5, 8)
    with pytest.raises(ValueError, match="real batch"):
        task.sample_summaries(StatelessNoise(0), None)
    assert task.sample_for_display(StatelessNoise(0), 5, {"video": clip(frames=6)}).shape == \
        (5, 6, SIZE, SIZE, 3)
    # The representation does not predict: the prediction protocol refuses it cleanly.
    from tfvidgen.metrics.prediction import task_predictor
    with pytest.raises(ValueError, match="does not predict frames"):
        task_predictor(task)
    task_predictor(built("drnet_lstm"))


# The pose LSTM --------------------------------------------------------------------------

def test_pose_lstm_needs_a_drnet_run():
    task = built("drnet_lstm")
    with pytest.raises(ValueError, match="--drnet_dir"):
        task.warm_start()


def test_rollout_continues_the_teacher_forced_poses():
    """The first predicted pose is the LSTM's output after the true context poses,
    brought to unit norm like every pose E_p gives (section 5.3.1), and every frame
    decodes it with the last context frame's content."""
    task = built("drnet_lstm")
    video = clip(batch=2, frames=2)
    frames01 = task.to_model(video)
    h_c, skips, h_p = task.encode(frames01)
    predicted, _ = task.pose_lstm(task.lstm_inputs(h_p, h_c[:, -1]))
    assert not np.allclose(np.linalg.norm(predicted[:, -1].numpy(), axis=-1), 1.0, atol=1e-3)
    pose = predicted[:, -1:] / tf.norm(predicted[:, -1:], axis=-1, keepdims=True)
    expected = task.decode(h_c[:, -1], [s[:, -1] for s in skips], pose)
    got = task.predict(video, 1)
    np.testing.assert_allclose(got.numpy(), task.from_model(expected, 3).numpy(), atol=1e-5)
    assert task.predict(video, 0).shape == (2, 0, SIZE, SIZE, 3)
    assert task.predict(video, 7).shape == (2, 7, SIZE, SIZE, 3)
    np.testing.assert_array_equal(task.predict(video, 4).numpy(), task.predict(video, 4).numpy())


def _trainer(name, model_dir, strategy, steps=2, **overrides):
    task = registry.TASKS.get(name)(config(**overrides), DataSpec(image_size=SIZE))
    train = TrainConfig(model_dir=str(model_dir), max_steps=steps, batch_size=4, seed=0,
                        summary_every=1, sample_every=2, checkpoint_every=100, num_samples=2)
    return Trainer(task, tiny_data(), train, strategy)


@pytest.mark.parametrize("replicas", [1, 2])
def test_drnet_then_pose_lstm_train_on_one_and_two_devices(replicas, tmp_path, cpu_strategy):
    strategy = cpu_strategy(replicas)
    first = _trainer("drnet", tmp_path / "drnet", strategy)
    metrics = first.train()
    assert first.current_step == 2 and all(np.isfinite(v) for v in metrics.values())
    assert {"reconstruction", "similarity", "pose_adversarial", "scene_discriminator",
            "scene_accuracy"} <= set(metrics)
    assert first.write_sample_files().endswith("samples.gif")
    trained = {k: weights(v) for k, v in first.task.encoder_networks().items()}

    second = _trainer("drnet_lstm", tmp_path / "lstm", strategy, steps=3,
                      drnet_dir=str(tmp_path / "drnet"))
    for key, net in second.task.encoder_networks().items():   # loaded from the DRNet run
        for a, b in zip(trained[key], weights(net)):
            np.testing.assert_array_equal(a, b)
    lstm_before = weights(second.task.pose_lstm)
    metrics = second.train()
    assert {"loss", "pose_mse"} <= set(metrics) and np.isfinite(metrics["loss"])
    assert any(not np.allclose(a, b) for a, b in zip(lstm_before, weights(second.task.pose_lstm)))
    for key, net in second.task.encoder_networks().items():   # frozen
        for a, b in zip(trained[key], weights(net)):
            np.testing.assert_array_equal(a, b)
    assert second.write_sample_files().endswith("samples.gif")


def test_pose_lstm_rejects_a_drnet_of_another_shape(tmp_path, cpu_strategy):
    _trainer("drnet", tmp_path / "drnet", cpu_strategy(1)).train()
    with pytest.raises(ValueError, match="must be the DRNet run's"):
        _trainer("drnet_lstm", tmp_path / "lstm", cpu_strategy(1), pose_dim=4,
                 drnet_dir=str(tmp_path / "drnet"))


def _export(task, base):
    kwargs = {}
    if "warmup_batch_sizes" in inspect.signature(export.export).parameters:
        kwargs["warmup_batch_sizes"] = ()
    return export.export(task, str(base), "drnet", 1, **kwargs)


def test_export_prediction_analogy_and_features(tmp_path):
    task = built("drnet_lstm", frame_channels=1)
    sigs = tf.saved_model.load(_export(task, tmp_path)).signatures
    assert {"serving_default", "predict", "analogy", "features"} <= set(sigs)
    context = to_uint8(clip(batch=3, frames=2))
    out = sigs["predict"](context=context, seed=tf.constant(7, tf.int64),
                          num_future=tf.constant(4))["video"]
    assert out.shape == (3, 6, SIZE, SIZE, 3)
    np.testing.assert_array_equal(out[:, :2].numpy(), context.numpy())
    own = task.predict(tf.cast(context, tf.float32) / 127.5 - 1, 4)
    np.testing.assert_array_equal(out[:, 2:].numpy(), to_uint8(own).numpy())
    video = sigs["analogy"](content=context[:, 0], pose=context)["video"]
    assert video.shape == (3, 2, SIZE, SIZE, 3) and video.dtype == tf.uint8
    feats = sigs["features"](video=context)
    assert feats["content"].shape == (3, 2, 6) and feats["pose"].shape == (3, 2, 3)


def test_drnet_export_serves_analogies(tmp_path):
    task = built("drnet")
    sigs = tf.saved_model.load(_export(task, tmp_path)).signatures
    assert "predict" not in sigs and {"serving_default", "analogy", "features"} <= set(sigs)
    pose = to_uint8(clip(batch=2, frames=3))
    out = sigs["serving_default"](content=pose[:, 0], pose=pose)["video"]
    own = task.analogy(tf.cast(pose[:, 0], tf.float32) / 127.5 - 1,
                       tf.cast(pose, tf.float32) / 127.5 - 1)
    np.testing.assert_array_equal(out.numpy(), to_uint8(own).numpy())


# Configs and bin/train -------------------------------------------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {  # model, dataset, E_c/D arch, E_p arch, |h_c|, |h_p|, beta, frame channels
    "drnet_moving_mnist_color": ("DRNet", "moving_mnist_color", "dcgan", "dcgan", 128, 5, 0.1, 3),
    "drnet_lstm_moving_mnist_color": ("DRNetLSTM", "moving_mnist_color", "dcgan", "dcgan", 128,
                                      5, None, 3),
    "drnet_kth": ("DRNet", "kth", "vgg", "resnet", 128, 5, 1e-4, 1),
    "drnet_lstm_kth": ("DRNetLSTM", "kth", "vgg", "resnet", 128, 5, None, 1),
}


def test_configs_carry_the_papers_settings():
    from tfvidgen import experiment
    from tfvidgen import flags
    try:
        for name, expected in CONFIGS.items():
            values, _ = experiment.parse_command(
                [f"--flagfile={os.path.join(ROOT, 'configs', name + '.cfg')}"])
            task = experiment.build_task(values, DataSpec(image_size=values["image_size"]))
            c = task.config
            got = (type(task).__name__, values["dataset"], c.encoder_arch, c.pose_arch,
                   c.content_dim, c.pose_dim, c.beta if expected[6] is not None else None,
                   c.frame_channels)
            assert got == expected, name
            assert c.content_skips == ("kth" in name), name   # U-Net skips on KTH only
            assert (c.learning_rate, c.alpha, c.sd_width, c.rnn_size,
                    c.predictor_rnn_layers) == (0.002, 1.0, 100, 256, 2), name
            if type(task) is drnet.DRNetLSTM:
                assert c.drnet_dir == values["model_dir"].replace("drnet_lstm", "drnet")
                assert (c.n_past, c.n_future) == ((10, 10) if "kth" in name else (5, 10))
    finally:
        flags.FLAGS.unparse_flags()


def test_bin_train_drnet_then_its_pose_lstm(tmp_path):
    import subprocess
    import sys
    tiny = ["--image_size=16", "--encoder_width=4", "--content_dim=6", "--pose_dim=3",
            "--sd_width=8", "--rnn_size=8", "--synthetic_video_length=8", "--batch_size=4",
            "--max_steps=2", "--summary_every=1", "--sample_every=1", "--num_samples=2"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

    def train(*args):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "train"), *args, *tiny],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    first, second = str(tmp_path / "drnet"), str(tmp_path / "lstm")
    train("--flagfile=configs/drnet_moving_mnist_color.cfg", f"--model_dir={first}", "--max_step=4")
    assert os.path.exists(os.path.join(first, "samples.gif"))
    train("--flagfile=configs/drnet_lstm_moving_mnist_color.cfg", f"--model_dir={second}",
          f"--drnet_dir={first}", "--n_past=2", "--n_future=2", "--n_eval=5")
    assert os.path.exists(os.path.join(second, "samples.gif"))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "train"),
                           "--flagfile=configs/drnet_lstm_moving_mnist_color.cfg",
                           f"--model_dir={tmp_path / 'orphan'}", "--drnet_dir=", *tiny],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode != 0 and "--drnet_dir" in proc.stderr
    assert "Traceback" not in proc.stderr


# Section 5.2.2: classification from h_c or h_p ------------------------------------------

def test_classifier_is_two_hidden_layers_of_256():
    from tfvidgen.metrics import feature_classifier as fc
    model = fc.build_classifier(15, 6)
    kernels = [tuple(v.shape) for v in model.weights if "kernel" in v.path]
    assert kernels == [(15, 256), (256, 256), (256, 6)]
    assert sum("batch_normalization" in type(layer).__name__.lower() or
               type(layer).__name__ == "BatchNormalization" for layer in model.layers) == 2


def test_select_per_class():
    from tfvidgen.metrics import feature_classifier as fc
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    chosen = fc.select_per_class(labels, 2, seed=1)
    assert len(chosen) == 6 and np.bincount(labels[chosen]).tolist() == [2, 2, 2]
    assert len(fc.select_per_class(labels, 0)) == 10


def test_classifier_learns_separable_features():
    from tfvidgen.metrics import feature_classifier as fc
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    x = rng.normal(size=(120, 4)).astype(np.float32) * 0.3
    x[np.arange(120), y] += 2.0
    report = fc.train_classifier(x[:90], y[:90], x[90:], y[90:], 3, epochs=40, seed=0)
    assert report["test_accuracy"] > 0.9 and report["chance"] == pytest.approx(1 / 3)
    assert report["num_train"] + report["num_validation"] == 90 and report["num_test"] == 30


def test_video_features_of_a_labelled_source():
    from tfvidgen.data.sources import ArraySource
    from tfvidgen.metrics import feature_classifier as fc
    task = built()
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, [n, SIZE, SIZE, 3], dtype=np.uint8) for n in (8, 3, 8, 8)]
    source = ArraySource(videos, [0, 1, -1, 1], class_names=("a", "b"))
    x, y = fc.video_features(task, source, "pose", num_frames=4, every_nth=2)
    assert x.shape == (2, 12) and y.tolist() == [0, 1]   # too short and unlabelled left out
    x, y = fc.video_features(task, source, "content", num_frames=3)
    assert x.shape == (3, 6) and y.tolist() == [0, 1, 1]
    expected = drnet.pose_sequence_features(
        task, videos[0][None, :3].astype(np.float32) / 127.5 - 1, "content")
    np.testing.assert_allclose(x[:1], expected, atol=1e-6)
    with pytest.raises(ValueError, match="labelled videos"):
        fc.video_features(task, source, "pose", num_frames=20)


def test_bin_drnet_classify_on_a_trained_run(tmp_path):
    import json
    import subprocess
    import sys
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run_dir = str(tmp_path / "run")
    common = ["--image_size=16", "--synthetic_identities=2", "--synthetic_takes=1",
              "--synthetic_video_length=8"]
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train"), "--model=drnet",
         "--dataset=synthetic_expressions", f"--model_dir={run_dir}", "--encoder_width=4",
         "--content_dim=6", "--pose_dim=3", "--sd_width=8", "--max_step=4", "--batch_size=4",
         "--max_steps=1", "--sample_every=1", "--num_samples=2", *common],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "drnet_classify"), f"--model_dir={run_dir}",
         "--features=pose", "--num_frames=4", "--epochs=3", "--train_split=all",
         "--test_split=all", f"--output={out}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["model"] == "drnet" and report["features"] == "pose"
    assert report["num_features"] == 12 and 0 <= report["test_accuracy"] <= 1
    assert report["num_classes"] == len(report["class_names"]) > 1
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "drnet_classify"),
         f"--model_dir={tmp_path / 'nowhere'}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "flags.txt" in proc.stderr and "Traceback" not in proc.stderr
