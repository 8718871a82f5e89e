"""SVG-LP, SVG-FP and the deterministic baseline (seed 002, chapter 6)."""
import glob
import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_python, tiny_data, weights
from tfvidgen import experiment, export, losses, registry
from tfvidgen.models import svg
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.nets import svg_nets
from tfvidgen.train.loop import TrainConfig, Trainer

VARIANTS = ["svg_lp", "svg_fp", "svg_det"]
SIZE = 16


def tiny_svg(name, **overrides):
    values = dict(n_past=2, n_future=3, n_eval=6, z_dim=3, g_dim=8, rnn_size=8,
                  encoder_width=4, frame_channels=1)
    values.update(overrides)
    task = registry.TASKS.get(name)(svg.SVGConfig(**values), DataSpec(image_size=SIZE))
    return task


def built(name, responsive=False, **overrides):
    # Seeded: the checks on an untrained model must not depend on the tests run before.
    keras.utils.set_random_seed(0)
    task = tiny_svg(name, **overrides)
    task.build()
    if responsive:  # N(0, 0.02) conv kernels leave untrained outputs ~ 0.5 whatever the input
        for v in task.encoder.weights + task.decoder.weights:
            if "kernel" in v.path:
                v.assign(v * 25)
    return task


def clip(batch=2, frames=5, channels=3, seed=0):
    return tf.random.stateless_uniform([batch, frames, SIZE, SIZE, channels], [seed, 1], -1, 1)


# KL closed forms ---------------------------------------------------------------------

def _numeric_kl(mu1, var1, mu2, var2):
    x = np.linspace(-30, 30, 200001)
    p = np.exp(-(x - mu1) ** 2 / (2 * var1)) / np.sqrt(2 * np.pi * var1)
    log_p = -(x - mu1) ** 2 / (2 * var1) - 0.5 * np.log(2 * np.pi * var1)
    log_q = -(x - mu2) ** 2 / (2 * var2) - 0.5 * np.log(2 * np.pi * var2)
    return np.trapezoid(p * (log_p - log_q), x)


@pytest.mark.parametrize("mu1,var1,mu2,var2", [(0.3, 0.5, -1.0, 2.0), (2.0, 3.0, 0.0, 1.0),
                                               (-0.5, 0.1, -0.4, 0.2)])
def test_kl_closed_forms_match_numeric_integration(mu1, var1, mu2, var2):
    kl = losses.kl_normal_normal(tf.constant(mu1), tf.constant(np.log(var1), tf.float32),
                              tf.constant(mu2), tf.constant(np.log(var2), tf.float32))
    np.testing.assert_allclose(float(kl), _numeric_kl(mu1, var1, mu2, var2), rtol=1e-4, atol=1e-6)
    std = losses.kl_standard_normal(tf.constant(mu1), tf.constant(np.log(var1), tf.float32))
    np.testing.assert_allclose(float(std), _numeric_kl(mu1, var1, 0.0, 1.0), rtol=1e-4, atol=1e-6)


def test_kl_identities():
    rng = np.random.default_rng(0)
    mu, logvar = (tf.constant(rng.normal(size=[4, 5]), tf.float32) for _ in range(2))
    np.testing.assert_allclose(losses.kl_normal_normal(mu, logvar, mu, logvar).numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(losses.kl_normal_normal(mu, logvar, tf.zeros_like(mu),
                                                    tf.zeros_like(mu)).numpy(),
                               losses.kl_standard_normal(mu, logvar).numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(losses.kl_standard_normal(mu, logvar).numpy() >= 0)


# Networks ------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["dcgan", "vgg"])
@pytest.mark.parametrize("size,levels", [(64, 4), (128, 5)])
def test_encoder_decoder_shapes_64_and_128(arch, size, levels):
    enc = svg_nets.FrameEncoder(arch, size, g_dim=6, nf=2)
    dec = svg_nets.FrameDecoder(arch, size, g_dim=6, nf=2, channels=1)
    h, skips = enc(tf.zeros([2, size, size, 1]))
    assert h.shape == (2, 6) and len(skips) == levels
    first = size if arch == "vgg" else size // 2  # VGG's first level is unpooled
    widths = svg_nets.level_widths(size, 2)
    assert widths[:4] == [2, 4, 8, 16] and widths[-1] == 16  # nf * min(2**l, 8)
    for level, skip in enumerate(skips):
        assert skip.shape == (2, first >> level, first >> level, widths[level])
    assert np.all(np.abs(h.numpy()) <= 1)  # tanh
    out = dec((h, skips))
    assert out.shape == (2, size, size, 1)
    assert np.all((out.numpy() >= 0) & (out.numpy() <= 1))  # sigmoid


def test_lstms_run_whole_sequences_and_steps_alike():
    predictor = svg_nets.PredictorLSTM(output_dim=5, hidden=7, num_layers=2)
    gaussian = svg_nets.GaussianLSTM(z_dim=3, hidden=7, num_layers=1)
    seq = tf.random.stateless_normal([2, 4, 6], [0, 0])
    out, state = predictor(seq)
    mu, logvar, g_state = gaussian(seq)
    assert out.shape == (2, 4, 5) and len(state) == 4
    assert mu.shape == logvar.shape == (2, 4, 3)
    s, gs = predictor.zero_state(2), gaussian.zero_state(2)
    for t in range(4):
        y, s = predictor.step(seq[:, t], s)
        m, lv, gs = gaussian.step(seq[:, t], gs)
        np.testing.assert_allclose(y.numpy(), out[:, t].numpy(), atol=1e-5)
        np.testing.assert_allclose(m.numpy(), mu[:, t].numpy(), atol=1e-5)
        np.testing.assert_allclose(lv.numpy(), logvar[:, t].numpy(), atol=1e-5)
    assert np.all(np.abs(out.numpy()) < 1)  # tanh output


# Task ----------------------------------------------------------------------------------

def test_networks_per_variant():
    assert set(built("svg_lp").networks()) == {"encoder", "decoder", "frame_predictor",
                                                "posterior", "prior"}
    assert set(built("svg_fp").networks()) == {"encoder", "decoder", "frame_predictor",
                                                "posterior"}
    det = built("svg_det")
    assert set(det.networks()) == {"encoder", "decoder", "frame_predictor"}
    assert det.frame_predictor.embed.kernel.shape[0] == 8  # h only, no z
    assert built("svg_lp").frame_predictor.embed.kernel.shape[0] == 8 + 3
    assert det.data_requirements().clip_length == 5


def test_skip_sources():
    assert list(tiny_svg("svg_lp", n_past=3).skip_sources(7)) == [0, 1, 2, 2, 2, 2]
    assert list(tiny_svg("svg_lp", n_past=3, last_frame_skip=True).skip_sources(7)) == \
        [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", VARIANTS)
def test_loss_is_reconstruction_plus_beta_kl(name):
    task = built(name, beta=0.5)
    x = clip()
    x01 = task.to_model(x)
    eps = tf.random.stateless_normal([2, 4, task.z_size], [1, 2])
    out = task.reconstruct(x01, eps, training=False)
    assert out["frames"].shape == (2, 4, SIZE, SIZE, 1)
    mse = np.mean((out["frames"].numpy() - x01[:, 1:].numpy()) ** 2, axis=(2, 3, 4)).sum(1)
    if name == "svg_det":
        assert "kl" not in out
        return
    kl = out["kl"].numpy()
    assert kl.shape == (2, 4, 3) and np.all(kl >= -1e-6)
    if name == "svg_lp":  # KL to the learned prior, not to N(0, I)
        mu, logvar, _ = task.posterior(task._encode(x01, False)[0][:, 1:])
        assert not np.allclose(kl, losses.kl_standard_normal(mu, logvar).numpy())
    # train_step's loss for the same noise: the mean over the batch of mse + beta * kl.
    rng = tf.random.Generator.from_seed(3)
    eps_step = tf.random.Generator.from_seed(3).normal([2, 4, 3])
    out = task.reconstruct(x01, eps_step, training=True)  # BatchNorm in training mode
    mse = np.mean((out["frames"].numpy() - x01[:, 1:].numpy()) ** 2, axis=(2, 3, 4)).sum(1)
    expected = np.mean(mse + 0.5 * out["kl"].numpy().sum(axis=(1, 2)))
    metrics = task.train_step({"video": x}, tf.constant(0, tf.int64), rng, 2)
    np.testing.assert_allclose(float(metrics["loss"]), expected, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["mse"]), np.mean(mse) / 4, rtol=1e-4)


@pytest.mark.parametrize("name", ["svg_lp", "svg_det"])
def test_teacher_forced_prediction_is_causal(name):
    task = built(name, responsive=True)
    x = task.to_model(clip(frames=5))
    eps = tf.random.stateless_normal([2, 4, task.z_size], [0, 3])
    a = task.reconstruct(x, eps)["frames"].numpy()
    changed = tf.concat([x[:, :3], 1 - x[:, 3:]], axis=1)  # new frames 4 and 5
    b = task.reconstruct(changed, eps)["frames"].numpy()
    # Prediction of frame t+1 sees frames <= t+1 (the posterior sees the target).
    np.testing.assert_allclose(a[:, :2], b[:, :2], atol=1e-5)
    assert np.abs(a[:, 2:] - b[:, 2:]).max() > 1e-3


@pytest.mark.parametrize("name", VARIANTS)
def test_predicts_any_number_of_future_frames(name):
    task = built(name, responsive=True)
    context = clip(batch=3, frames=2)
    for num in (0, 1, 9):
        out = task.predict(context, num, StatelessNoise(4))
        assert out.shape == (3, num, SIZE, SIZE, 3)
    a = task.predict(context, 9, StatelessNoise(4)).numpy()
    np.testing.assert_array_equal(a, task.predict(context, 9, StatelessNoise(4)).numpy())
    assert np.all(np.abs(a) <= 1)
    np.testing.assert_allclose(a[..., 0], a[..., 2])  # grey model, RGB output
    b = task.predict(context, 9, StatelessNoise(5)).numpy()
    assert (np.abs(a - b).max() > 1e-3) == (name != "svg_det")
    # More or fewer context frames than n_past, grey input -> grey output.
    assert task.predict(clip(frames=4, channels=1), 2, StatelessNoise(0)).shape[-1] == 1
    assert task.predict(clip(frames=1), 2, StatelessNoise(0)).shape == (2, 2, SIZE, SIZE, 3)


def test_prediction_depends_on_the_context_and_the_prior():
    task = built("svg_lp", responsive=True, frame_channels=3)
    context = clip(frames=2)
    a = task.predict(context, 3, StatelessNoise(1)).numpy()
    b = task.predict(-context, 3, StatelessNoise(1)).numpy()
    assert a.shape[-1] == 3 and np.abs(a - b).max() > 1e-3
    assert not np.allclose(a[..., 0], a[..., 1])  # a colour model


def test_summaries_and_samples_continue_real_clips_given_explicitly():
    task = built("svg_lp")
    batch = {"video": clip(batch=3, frames=5)}
    named = task.sample_summaries(StatelessNoise(0), batch)
    # Truth + 3 samples side by side (1-pixel gutters), n_eval frames.
    assert named["prediction"].shape == (3, 6, SIZE, 4 * SIZE + 3, 3)
    assert named["reconstruction"].shape == (3, 5, SIZE, 2 * SIZE + 1, 3)
    np.testing.assert_array_equal(named["prediction"][:, :5, :, :SIZE].numpy(),
                                  batch["video"].numpy())
    assert task.context_length(7) == 2
    context = clip(batch=5, frames=3, seed=4)
    videos = task.sample(StatelessNoise(1), 5, 7, context=context)
    assert videos.shape == (5, 7, SIZE, SIZE, 3)
    np.testing.assert_array_equal(videos[:, :2].numpy(), context[:, :2].numpy())
    # samples.gif: the run's fixed real batch, clip i % k for video i.
    shown = task.sample_for_display(StatelessNoise(1), 5, batch)
    assert shown.shape == (5, 6, SIZE, SIZE, 3)
    np.testing.assert_array_equal(shown[:, :2].numpy(),
                                  tf.gather(batch["video"][:, :2], [0, 1, 2, 0, 1]).numpy())
    # Images are the first predicted frame, not the (real) last context frame.
    images = task.sample_images(StatelessNoise(1), 5, context=context)
    np.testing.assert_allclose(
        images.numpy(), task.predict(context[:, :2], 1, StatelessNoise(1))[:, 0].numpy())
    det = built("svg_det")
    assert set(det.sample_summaries(StatelessNoise(0), batch)) == {"prediction"}
    assert det.sample(StatelessNoise(0), 2, 4, context=context[:2]).shape == (2, 4, SIZE, SIZE, 3)


@pytest.mark.parametrize("name", ["svg_lp", "svg_det"])
def test_sampling_a_prediction_model_without_context_fails_clearly(name):
    task = built(name)
    with pytest.raises(ValueError, match=r"predicts from real frames: sample needs context"):
        task.sample(StatelessNoise(0), 2, 4)
    with pytest.raises(ValueError, match="context"):
        task.sample_images(StatelessNoise(0), 2)
    with pytest.raises(ValueError, match="2 context clips for 3 videos"):
        task.sample(StatelessNoise(0), 3, 4, context=clip(batch=2, frames=2))
    with pytest.raises(ValueError, match=r">= 2"):
        task.sample(StatelessNoise(0), 2, 4, context=clip(batch=2, frames=1))
    with pytest.raises(ValueError, match="real batch"):
        task.sample_for_display(StatelessNoise(0), 2, None)
    with pytest.raises(ValueError, match="real batch"):
        task.sample_summaries(StatelessNoise(0), None)
    assert not hasattr(task, "set_sample_context")


def test_build_task_from_flags_fills_the_svg_config():
    values = {"model": "svg_fp", "n_past": 3, "n_future": 4, "n_eval": 9, "z_dim": 5,
              "beta": 0.25, "learning_rate": 0.002, "beta1": 0.9, "encoder_arch": "vgg",
              "frame_channels": 1, "every_nth": 2, "ngf": 7, "init_image_generator": None}
    task = experiment.build_task(values, DataSpec(image_size=SIZE))
    assert isinstance(task, svg.SVGFP)
    c = task.config
    assert (c.n_past, c.n_future, c.n_eval, c.z_dim, c.beta, c.encoder_arch) == \
        (3, 4, 9, 5, 0.25, "vgg")
    assert c.g_dim == 128  # no flag given: the dataclass default
    assert task.data_requirements().clip_length == 7
    assert task.data_requirements().every_nth == 2


@pytest.mark.parametrize("replicas", [1, 2])
@pytest.mark.parametrize("name", VARIANTS)
def test_trains_a_few_steps_on_one_and_two_devices(name, replicas, tmp_path, cpu_strategy):
    task = tiny_svg(name)
    config = TrainConfig(model_dir=str(tmp_path), max_steps=3, batch_size=2, seed=0,
                         summary_every=1, sample_every=2, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, tiny_data(), config, cpu_strategy(replicas))
    assert trainer.strategy.num_replicas_in_sync == replicas
    before = weights(task.encoder) + weights(task.frame_predictor)
    metrics = trainer.train()
    assert trainer.current_step == 3
    assert metrics and all(np.isfinite(v) for v in metrics.values())
    assert {"loss", "mse"} <= set(metrics) and ("kl" in metrics) == (name != "svg_det")
    assert ("posterior_sigma" in metrics) == (name != "svg_det")
    assert ("prior_sigma" in metrics) == (name == "svg_lp")
    if name != "svg_det":
        assert 0 < metrics["posterior_sigma"] < 10
    after = weights(task.encoder) + weights(task.frame_predictor)
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert trainer.checkpoints.latest.endswith("ckpt-3")
    assert trainer.write_sample_files().endswith("samples.gif")


def _export(task, base):
    kwargs = {}
    if "warmup_batch_sizes" in inspect.signature(export.export).parameters:
        kwargs["warmup_batch_sizes"] = ()
    return export.export(task, str(base), "svg", 1, **kwargs)


@pytest.mark.parametrize("name", ["svg_lp", "svg_det"])
def test_export_and_load_the_prediction_signature(name, tmp_path):
    task = built(name)
    path = _export(task, tmp_path)
    sigs = tf.saved_model.load(path).signatures
    assert {"serving_default", "predict"} <= set(sigs)
    context = to_uint8(clip(batch=3, frames=2))
    out = sigs["predict"](context=context, seed=tf.constant(7, tf.int64),
                          num_future=tf.constant(4))["video"]
    assert out.dtype == tf.uint8 and out.shape == (3, 6, SIZE, SIZE, 3)
    np.testing.assert_array_equal(out[:, :2].numpy(), context.numpy())  # context first
    # Byte for byte what the task predicts in process for that seed.
    own = task.predict(tf.cast(context, tf.float32) / 127.5 - 1, 4, StatelessNoise(7))
    np.testing.assert_array_equal(out[:, 2:].numpy(), to_uint8(own).numpy())
    longer = sigs["predict"](context=context, seed=tf.constant(7, tf.int64),
                             num_future=tf.constant(11))["video"]
    assert longer.shape[1] == 13
    default = sigs["serving_default"](context=context[:1, :, :, :, :1],
                                      seed=tf.constant(1, tf.int64),
                                      num_future=tf.constant(0))["video"]
    assert default.shape == (1, 2, SIZE, SIZE, 1)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {"svg_lp_smmnist": ("SVGLP", "smmnist", "dcgan", 10, 1e-4, 5, 10, 1),
           "svg_fp_smmnist": ("SVGFP", "smmnist", "dcgan", 10, 1e-4, 5, 10, 1),
           "det_smmnist": ("SVGDeterministic", "smmnist", "dcgan", 10, 1e-4, 5, 10, 1),
           "svg_lp_kth": ("SVGLP", "kth", "vgg", 32, 1e-6, 10, 10, 1),
           "svg_lp_bair": ("SVGLP", "bair", "vgg", 64, 1e-4, 2, 10, 3)}
_PARSE = """
import json, sys
from tfvidgen import experiment, flags
from tfvidgen.models.base import DataSpec
out = {}
for cfg in sys.argv[1:]:
    values, _ = experiment.parse_command(["--flagfile=" + cfg])
    task = experiment.build_task(values, DataSpec(image_size=values["image_size"]))
    c = task.config
    out[cfg] = [type(task).__name__, values["dataset"], c.encoder_arch, c.z_dim, c.beta,
                c.n_past, c.n_future, c.frame_channels, c.learning_rate, c.beta1, c.g_dim,
                values["batch_size"]]
print(json.dumps(out))
"""


_run = run_python


def test_configs_parse_and_carry_the_papers_settings():
    paths = [os.path.join("configs", f"{name}.cfg") for name in CONFIGS]
    parsed = json.loads(_run("-c", _PARSE, *paths).stdout.splitlines()[-1])
    for name, expected in CONFIGS.items():
        got = parsed[os.path.join("configs", f"{name}.cfg")]
        assert tuple(got[:8]) == expected, name
        assert got[8:] == [0.002, 0.9, 128, 100], name


def test_bin_train_on_smmnist_from_the_config(tmp_path):
    run_dir = str(tmp_path / "run")
    _run(os.path.join(ROOT, "bin", "train"), "--flagfile=configs/svg_lp_smmnist.cfg",
         f"--model_dir={run_dir}", "--image_size=16", "--encoder_width=4", "--g_dim=8",
         "--z_dim=2", "--rnn_size=8", "--n_past=2", "--n_future=2", "--n_eval=4",
         "--synthetic_video_length=6", "--batch_size=2", "--max_steps=2", "--summary_every=1",
         "--sample_every=1", "--num_samples=2")
    assert os.path.exists(os.path.join(run_dir, "samples.gif"))
    assert "--model=svg_lp" in open(os.path.join(run_dir, "flags.txt")).read()
    assert glob.glob(os.path.join(run_dir, "train", "events.*"))
