"""vgan and tgan (seed 004's baselines): shapes, mask composition, SVC, training, export."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT, run_python, tiny_data
from tfvidgen import export, registry
from tfvidgen.data import textured_shapes
from tfvidgen.models import vgan_tgan
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.nets import vgan_tgan_nets as nets
from tfvidgen.train.loop import TrainConfig, Trainer

TINY = {"vgan": dict(batch_size=2, num_frames=4, latent_dim=8, ngf=4, ndf=4),
        "tgan": dict(batch_size=2, num_frames=4, z0_dim=8, z1_dim=6, temporal_width=8,
                     ngf=8, ndf=4, svc_every=1)}


def _task(name, size=16, **overrides):
    cls = registry.TASKS.get(name)
    task = cls(cls.config_class(**{**TINY[name], **overrides}), DataSpec(image_size=size))
    return task


def _trainer(name, model_dir, strategy, max_steps=2, **overrides):
    task = _task(name, **overrides)
    config = TrainConfig(model_dir=str(model_dir), max_steps=max_steps, batch_size=2, seed=1,
                         summary_every=1, sample_every=100, checkpoint_every=100,
                         num_samples=2)
    trainer = Trainer(task, tiny_data(), config, strategy)
    trainer.log = {}
    trainer.write_scalars = lambda step, metrics, rate: trainer.log.__setitem__(step, metrics)
    return trainer


_PARSE = """
import dataclasses, json, sys
from tfvidgen import experiment
print(json.dumps({cfg: dataclasses.asdict(experiment.parse_command(["--flagfile=" + cfg])[1])
                  for cfg in sys.argv[1:]}))
"""


def test_paper_defaults():
    v, t = vgan_tgan.VGANConfig(), vgan_tgan.TGANConfig()
    # VGAN's batch and clip length default to CPU size; the paper configs carry 64 and 32.
    assert (v.batch_size, v.num_frames, v.latent_dim, v.mask_penalty, v.learning_rate,
            v.beta1, v.weight_stddev) == (8, 16, 100, 0.1, 2e-4, 0.5, 0.01)
    paths = ["configs/vgan_golf.cfg", "configs/vgan_ucf101.cfg", "configs/tgan_ucf101.cfg"]
    parsed = json.loads(run_python("-c", _PARSE, *paths).stdout.splitlines()[-1])
    for path in paths[:2]:
        assert (parsed[path]["batch_size"], parsed[path]["num_frames"]) == (64, 32), path
    assert (parsed[paths[2]]["batch_size"], parsed[paths[2]]["num_frames"]) == (32, 16)
    assert (t.batch_size, t.num_frames, t.z0_dim, t.z1_dim, t.learning_rate, t.svc_every,
            t.critic_constraint, t.n_critic) == (32, 16, 100, 100, 5e-5, 5, "svc", 1)
    with pytest.raises(ValueError, match="power of two"):
        vgan_tgan.TGANConfig(num_frames=12)


def test_paper_shapes_at_64x64():
    """VGAN: 2x4x4 -> 32x64x64 (foreground), 4x4 -> 64x64 (background); TGAN: 16 latents."""
    assert nets.time_plan(32, 4) == (2, [2, 2, 2, 2])
    assert nets.time_plan(16, 4) == (1, [2, 2, 2, 2])
    assert nets.time_plan(8, 2) == (2, [2, 2])
    g = nets.VGANGenerator(64, 32, 100, ngf=2)
    out = g(tf.zeros([1, 100]))
    assert out["video"].shape == (1, 32, 64, 64, 3) and out["mask"].shape == (1, 32, 64, 64, 1)
    assert out["background"].shape == (1, 64, 64, 3)
    assert g.foreground[0].kernel.shape[:3] == (2, 4, 4)  # VGAN's first 3D deconvolution
    d = nets.Discriminator3D(64, 32, 2)
    assert d(out["video"]).shape == (1,) and d.out.kernel.shape[:3] == (2, 4, 4)
    temporal = nets.TemporalGenerator(16, 100, 16)
    assert temporal(tf.zeros([3, 100])).shape == (3, 16, 100)
    frames = nets.FrameGenerator(64, 3, 16)
    assert nets.tgan_videos(temporal, frames, tf.zeros([3, 100])).shape == (3, 16, 64, 64, 3)
    assert tuple(nets.Discriminator3D(64, 16, 2).out.kernel_size) == (1, 4, 4)


def test_checkpoints_hold_every_weight(tmp_path):
    """Layers kept as attributes, not lists: tf.train.Checkpoint saves each of them."""
    for name in ("vgan", "tgan"):
        task = _task(name)
        task.build()
        for key, net in task.networks().items():
            prefix = tf.train.Checkpoint(net=net).write(str(tmp_path / f"{name}_{key}"))
            saved = [n for n, _ in tf.train.list_variables(prefix) if n.startswith("net/")]
            assert len(saved) == len(net.weights), (name, key)


def test_mask_composition_is_exact():
    rng = np.random.default_rng(0)
    m = rng.uniform(size=[2, 3, 4, 4, 1]).astype(np.float32)
    f = rng.uniform(-1, 1, size=[2, 3, 4, 4, 3]).astype(np.float32)
    b = rng.uniform(-1, 1, size=[2, 4, 4, 3]).astype(np.float32)
    want = m * f + (1 - m) * b[:, None]
    got = nets.compose(tf.constant(m), tf.constant(f), tf.constant(b)).numpy()
    np.testing.assert_array_equal(got, want)
    g = nets.VGANGenerator(16, 8, 8, ngf=4)
    out = g(tf.random.normal([2, 8]))
    np.testing.assert_allclose(
        out["video"].numpy(),
        out["mask"].numpy() * out["foreground"].numpy()
        + (1 - out["mask"].numpy()) * out["background"].numpy()[:, None], atol=1e-6)
    assert out["mask"].numpy().min() >= 0 and out["mask"].numpy().max() <= 1


def test_mask_penalty_reductions():
    mask = tf.fill([2, 2, 2, 2, 1], 0.5)  # ||m||_1 = 4 per video
    assert float(vgan_tgan.mask_l1(mask, 0.1, 4)) == pytest.approx(0.1 * 8 / 4)
    assert float(vgan_tgan.mask_l1(mask, 0.1, 4, "torch")) == pytest.approx(0.8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two steps of each model on 1 and 2 replicas (SVC after every critic update)."""
    import conftest
    out = {}
    for replicas in (1, 2):
        if replicas not in conftest._STRATEGIES:
            conftest._STRATEGIES[replicas] = tf.distribute.MirroredStrategy(
                [f"/cpu:{i}" for i in range(replicas)])
        for name in ("vgan", "tgan"):
            trainer = _trainer(name, tmp_path_factory.mktemp(f"{name}{replicas}"),
                               conftest._STRATEGIES[replicas])
            trainer.train()
            out[name, replicas] = trainer
    return out


@pytest.mark.parametrize("name", ["vgan", "tgan"])
@pytest.mark.parametrize("replicas", [1, 2])
def test_trains_a_few_steps(trained, name, replicas):
    trainer = trained[name, replicas]
    assert trainer.current_step == 2
    metrics = trainer.log[2]
    assert all(np.isfinite(v) for v in metrics.values())
    assert {"g_loss", "d_video_loss"} <= set(metrics)
    if name == "vgan":
        assert metrics["g_extra_loss"] > 0


@pytest.mark.parametrize("replicas", [1, 2])
def test_svc_leaves_no_singular_value_above_one(trained, replicas):
    """After a TGAN step no critic kernel (reshaped to 2-D) has a singular value above 1."""
    d = trained["tgan", replicas].task.discriminator
    kernels = [v for v in d.trainable_variables if len(v.shape) >= 2]
    assert len(kernels) == len(d.convs) + 1
    for kernel in kernels:
        matrix = np.reshape(kernel.numpy(), [-1, kernel.shape[-1]])
        assert np.linalg.svd(matrix, compute_uv=False).max() <= 1.0 + 1e-4, kernel.path
    # The BN gamma constraints find their variables among the critic's (the same objects).
    constraints = trained["tgan", replicas].task.critic_constraints()
    assert len(constraints) == 1 + len(d.batch_norms())
    for constraint in constraints[1:]:
        assert sum(map(constraint.applies_to, d.trainable_variables)) == 1


def test_batch_norm_gamma_clipping():
    """gamma into [0.01 sigma, sigma] (sigma: running std), run by the adversarial module."""
    from tfvidgen.models import adversarial
    norm = tf.keras.layers.BatchNormalization()
    norm.build([None, 3])
    norm.moving_variance.assign([4.0, 1.0, 100.0])
    norm.gamma.assign([3.0, 0.001, 5.0])
    constraint = vgan_tgan.batch_norm_gamma_constraint(norm, every=1)
    adversarial.apply_constraints([constraint], norm.trainable_variables)
    np.testing.assert_allclose(norm.gamma.numpy(), [2.0, 0.01, 5.0], rtol=1e-6)
    np.testing.assert_array_equal(norm.beta.numpy(), [0, 0, 0])


def test_weight_clipping_variant(tmp_path, cpu_strategy):
    trainer = _trainer("tgan", tmp_path, cpu_strategy(1), max_steps=1, critic_constraint="clip")
    trainer.train()
    for v in trainer.task.discriminator.trainable_variables:
        assert np.abs(v.numpy()).max() <= 0.01 + 1e-7


@pytest.mark.parametrize("name", ["vgan", "tgan"])
def test_export_round_trip(tmp_path, name):
    task = _task(name)
    task.build()
    path = export.export(task, str(tmp_path), name, 1, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    got = loaded.serving_default(seed=tf.constant(5, tf.int64),
                                 num_videos=tf.constant(2))["video"].numpy()
    want = to_uint8(task.sample(StatelessNoise(5), 2, 4)).numpy()
    assert got.shape == (2, 4, 16, 16, 3)
    np.testing.assert_array_equal(got, want)
    longer = loaded.signatures["sample_frames"](seed=tf.constant(5, tf.int64),
                                                num_videos=tf.constant(2),
                                                num_frames=tf.constant(6))["video"].numpy()
    np.testing.assert_array_equal(longer[:, 4:], got[:, :2])
    if name == "vgan":
        layers = loaded.signatures["sample_layers"](seed=tf.constant(5, tf.int64),
                                                    num_videos=tf.constant(2))
        # Another traced graph: oneDNN may round a pixel the other way.
        diff = np.abs(layers["video"].numpy().astype(int) - got.astype(int))
        assert diff.max() <= 1
        assert layers["mask"].shape == (2, 4, 16, 16, 1)
        assert layers["background"].shape == (2, 16, 16, 3)


def test_textured_shapes_is_deterministic_with_a_static_background():
    source = textured_shapes.TexturedShapes(image_size=16, num_videos=8, video_length=6)
    again = textured_shapes.TexturedShapes(image_size=16, num_videos=8, video_length=6)
    assert len(source) == 8 and source.lengths().tolist() == [6] * 8
    video = source.read(3)
    np.testing.assert_array_equal(video, again.read(3))
    np.testing.assert_array_equal(source.read(3, [2, 4]), video[[2, 4]])
    changed = np.any(video != video[:1], axis=-1)  # pixels that change over time
    assert 0 < changed.any(axis=0).mean() < 0.6  # a moving shape over a fixed background
    assert set(source.labels().tolist()) <= {0, 1}
    test = textured_shapes.TexturedShapes(image_size=16, split="test", num_videos=8)
    assert len(test) == 2 and not np.array_equal(test.read(0, [0]), video[:1])


@pytest.mark.parametrize("name", ["vgan_textured_shapes", "tgan_textured_shapes",
                                  "vgan_golf", "vgan_ucf101", "tgan_ucf101"])
def test_configs_parse(name):
    from tfvidgen import experiment
    try:
        values, config = experiment.parse_command(
            [f"--flagfile={os.path.join(ROOT, 'configs', name + '.cfg')}"])
    finally:
        experiment.parse_command([])
    task = registry.TASKS.get(values["model"])(config, DataSpec(values["image_size"]))
    assert task.data_requirements().clip_length == config.num_frames
    if name.endswith("ucf101") or name.endswith("golf"):
        assert values["image_size"] == 64


def test_is_of_real_clips_is_a_protocol():
    """is_real: Table 8.1's "maximum possible" from the same code as is (real clips)."""
    from test_evaluate import FakeExtractor
    from tfvidgen import evaluate
    task = _task("vgan")
    task.build()
    config = evaluate.EvalConfig(metrics=("is", "is_real"), extractor=FakeExtractor(),
                                 is_splits=2, is_split_size=3)
    report = evaluate.evaluate(evaluate.TaskSampler(task, batch_size=3, name="vgan"), config,
                               data=tiny_data())
    assert set(report["metrics"]) == {"is_fake_2x3_4f", "is_fake_2x3_4f_std",
                                      "is_real_fake_2x3_4f", "is_real_fake_2x3_4f_std"}
    assert report["metrics"]["is_real_fake_2x3_4f"] >= 1.0
    assert "clips drawn as the trainer draws them" in report["details"]["is_real"]["real"]


@pytest.mark.parametrize("name", ["vgan", "tgan"])
def test_bin_train_with_no_other_flag_resolves_to_the_paper(tmp_path, name):
    """bin/train --model=<name> --model_dir=DIR: the paper's settings on the built-in data
    (one such step at 64x64 takes minutes on 2 cores, so it is not run here)."""
    from tfvidgen import experiment
    try:
        values, config = experiment.parse_command([f"--model={name}",
                                                   f"--model_dir={tmp_path}"])
    finally:
        experiment.parse_command([])
    assert config == registry.TASKS.get(name).config_class()
    data = experiment.build_training_data(values)
    assert data.videos.lengths().min() >= config.num_frames  # real frames fill every clip
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]),
                                 config)
    assert task.data_spec.image_size == 64


def test_a_run_on_textured_shapes_restores(tmp_path):
    """bin/train's path on the built-in textured_shapes; the run restores (runs.load_run)."""
    from helpers import train_run
    from tfvidgen import runs
    flags = ["--model=vgan", "--dataset=textured_shapes", "--synthetic_identities=1",
             "--synthetic_takes=1", "--synthetic_video_length=4", "--image_size=16",
             "--max_steps=1", "--summary_every=1", "--sample_every=100",
             "--checkpoint_every=100", "--num_samples=2", "--batch_size=2", "--num_frames=4",
             "--latent_dim=8", "--ngf=4", "--ndf=4"]
    task = train_run(flags, str(tmp_path / "run"))
    restored, _, step, _ = runs.load_run(str(tmp_path / "run"))
    assert step == 1
    np.testing.assert_array_equal(restored.sample(StatelessNoise(3), 2, 4).numpy(),
                                  task.sample(StatelessNoise(3), 2, 4).numpy())
