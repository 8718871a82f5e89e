"""pgvgan, pgswgan, swgan (seed 004): 3D progressive networks, SWGAN loss, growth, resume, export."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_data, train_run, weights
from tfvidgen import experiment, registry, runs
from tfvidgen.models import adversarial, progressive
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.nets import progressive3d as nets
from tfvidgen.train.loop import TrainConfig, Trainer

SHAPES = nets.level_shapes(16)  # 4x4x4, 8x8x8, 8x16x16
TINY = dict(batch_size=2, latent_dim=8, fmap_base=16, fmap_max=8)
GROWTH = dict(training_kimg=0.004, transition_kimg=0.004)  # 2 steps each at batch 2
MAX_STEPS = 5  # 4x4x4: steps 0-1; 8x8x8: fade-in over steps 2-3, then step 4
# A batch per level: 2 at 4x4x4 (steps 0-1), 4 at 8x8x8 (fade-in over steps 2-3, then step 4).
LEVEL_BATCHES = dict(level_batch_sizes="2,4", training_kimg=0.004, transition_kimg=0.008)


def _strategy(n):
    import conftest
    if n not in conftest._STRATEGIES:
        conftest._STRATEGIES[n] = tf.distribute.MirroredStrategy(
            [f"/cpu:{i}" for i in range(n)])
    return conftest._STRATEGIES[n]


def _networks(score=True, mbstd=4):
    g = nets.ProgressiveGenerator3D(SHAPES, 8, 16, 8)
    d = nets.ProgressiveDiscriminator3D(SHAPES, 16, 8, mbstd, score=score)
    if not score:
        d = nets.SWGANCritic(d, blocks=2)
    nets.build_all_levels(g, d, 8, 3)
    return g, d


def _trainer(name, model_dir, replicas=1, **overrides):
    cls = registry.TASKS.get(name)
    extra = dict(n_critic=2) if name == "swgan" else GROWTH  # swgan: 4 critic rounds by default
    config = cls.config_class(**{**TINY, **extra, **overrides})
    task = cls(config, DataSpec(image_size=8))
    config = TrainConfig(model_dir=str(model_dir), max_steps=MAX_STEPS, batch_size=2, seed=3,
                         summary_every=1, sample_every=4, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, tiny_data(), config, _strategy(replicas))
    task.registered_name = name
    trainer.log = {}
    trainer.write_scalars = lambda step, metrics, rate: trainer.log.__setitem__(step, metrics)
    return trainer


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Uninterrupted runs of each method on one replica (trained once), with a copy of
    each run directory as it was at step 3 (mid fade-in), ``snapshot``."""
    import shutil
    out = {}
    for name in ("pgvgan", "pgswgan", "swgan"):
        trainer = out[name] = _trainer(name, tmp_path_factory.mktemp(name))
        trainer.initial = {k: weights(v) for k, v in trainer.task.networks().items()}
        trainer.train(max_steps=3)
        trainer.snapshot = str(tmp_path_factory.mktemp(name + "_at_3") / "run")
        shutil.copytree(trainer.config.model_dir, trainer.snapshot)
        trainer.train()
    return out


def _resume(trainer, tmp_path, replicas=1, **overrides):
    """A new trainer on a copy of ``trainer``'s run directory at step 3."""
    import shutil
    run_dir = str(tmp_path / "run")
    shutil.copytree(trainer.snapshot, run_dir)
    return _trainer(trainer.task.registered_name, run_dir, replicas, **overrides)


def _record_batches(trainer):
    """The (phase, per-replica batch, global batch) of every traced train step."""
    seen = set()
    step_fn = trainer.task.train_step

    def train_step(batch, step, rng, global_batch_size):
        seen.add((trainer.phase.name, int(batch["video"].shape[0]), int(global_batch_size)))
        return step_fn(batch, step, rng, global_batch_size)

    trainer.task.train_step = train_step
    return seen


@pytest.fixture(scope="module")
def per_level(tmp_path_factory):
    """pgvgan with a batch per level (``LEVEL_BATCHES``), uninterrupted, with a copy of
    its run directory at step 3 (mid fade-in of the second level)."""
    import shutil
    trainer = _trainer("pgvgan", tmp_path_factory.mktemp("per_level"), **LEVEL_BATCHES)
    trainer.seen = _record_batches(trainer)
    trainer.train(max_steps=3)
    trainer.snapshot = str(tmp_path_factory.mktemp("per_level_at_3") / "run")
    shutil.copytree(trainer.config.model_dir, trainer.snapshot)
    trainer.train()
    return trainer


# Schedule and settings -------------------------------------------------------------------

def test_thesis_schedule_feature_maps_and_paper_defaults():
    assert nets.level_shapes(256) == [(4, 4), (8, 8), (8, 16), (8, 32), (16, 64), (16, 128),
                                      (32, 256)]
    assert nets.level_shapes(128, "official_code") == [(4, 4), (8, 8), (8, 16), (16, 32),
                                                       (16, 64), (32, 128)]
    assert nets.level_shapes(16, "together") == [(4, 4), (8, 8), (16, 16)]
    g = nets.ProgressiveGenerator3D(nets.level_shapes(256))
    assert g.fmaps == [128, 128, 128, 64, 32, 16, 8]  # appendix A
    c = progressive.PGVGANConfig()
    assert (c.learning_rate, c.beta1, c.beta2, c.ema_decay, c.latent_dim) == (1e-3, 0, .99,
                                                                              .999, 128)
    assert (c.training_kimg, c.transition_kimg, c.gradient_penalty, c.drift) == (600, 600, 10,
                                                                                 .001)
    s = progressive.SWGANConfig()
    assert (s.n_critic, s.learning_rate, s.beta2, s.swgan_blocks, s.batch_size) == (4, 3e-4, .9,
                                                                                    4, 8)
    task = registry.TASKS.get("pgvgan")(c, DataSpec(image_size=64))
    phases = task.phases()
    assert [p.name for p in phases] == ["4x4x4", "8x8x8", "8x16x16", "8x32x32", "16x64x64"]
    assert [p.start_step for p in phases] == [0, 75000, 225000, 375000, 525000]
    assert [p.fade_in_steps for p in phases] == [0] + [75000] * 4
    assert [p.time_pool for p in phases] == [4, 2, 2, 2, 1]
    assert [p.image_size for p in phases] == [4, 8, 16, 32, 64]
    with pytest.raises(ValueError, match="mbstd_group_size"):
        progressive.PGVGANConfig(batch_size=6)
    assert c.level_batch_sizes == "" and c.level_batch_size(3) == c.batch_size
    assert progressive.PGSWGANConfig().swgan_projection_update == "riemannian"
    assert progressive.SWGANConfig().swgan_projection_update == "riemannian"


def test_level_batch_sizes_set_each_levels_batch_and_length():
    c = progressive.PGVGANConfig(level_batch_sizes="32,32,16,16,8,8,4")  # the paper configs'
    phases = registry.TASKS.get("pgvgan")(c, DataSpec(image_size=64)).phases()
    assert [p.batch_size for p in phases] == [32, 32, 16, 16, 8]
    # 600k videos: 18750 steps at 32, 37500 at 16, 75000 at 8.
    assert [p.fade_in_steps for p in phases] == [0, 18750, 37500, 37500, 75000]
    assert [p.start_step for p in phases] == [0, 18750, 56250, 131250, 206250]
    short = progressive.PGVGANConfig(level_batch_sizes="16, 8", batch_size=4)
    assert [short.level_batch_size(i) for i in range(4)] == [16, 8, 4, 4]  # then --batch_size
    with pytest.raises(ValueError, match="level_batch_sizes=32,6: 6 is not a multiple"):
        progressive.PGVGANConfig(level_batch_sizes="32,6")
    with pytest.raises(ValueError, match="comma-separated integers"):
        progressive.PGVGANConfig(level_batch_sizes="32;16")
    with pytest.raises(ValueError, match="must be >= 1"):
        progressive.PGVGANConfig(level_batch_sizes="4,0")


# Networks ----------------------------------------------------------------------------------

def test_shapes_at_every_level():
    g, d = _networks()
    _, critic = _networks(score=False)
    for level, (frames, size) in enumerate(SHAPES):
        videos = g(tf.zeros([3, 8]), level=level, alpha=0.5)
        assert videos.shape == (3, frames, size, size, 3)
        assert d(tf.zeros([4, frames, size, size, 3]), level=level, alpha=0.5).shape == (4, 1)
        assert critic(tf.zeros([4, frames, size, size, 3]), level=level).shape == (4, 16)


def test_fade_in_ends_equal_the_lower_and_upper_levels_exactly():
    g, d = _networks()
    z = tf.random.normal([2, 8], seed=1)
    for level in (1, 2):
        factors = g.factors[level]
        frames, size = SHAPES[level]
        lower = nets.upsample(g(z, level=level - 1), factors)
        np.testing.assert_array_equal(g(z, level=level, alpha=0.0), lower)
        np.testing.assert_array_equal(g(z, level=level, alpha=1.0), g(z, level=level))
        x = tf.random.normal([4, frames, size, size, 3], seed=2)
        np.testing.assert_array_equal(d(x, level=level, alpha=0.0),
                                      d(nets.downsample(x, factors), level=level - 1))
        np.testing.assert_array_equal(d(x, level=level, alpha=1.0), d(x, level=level))
        assert not np.allclose(g(z, level=level, alpha=0.5), lower)


def test_equalized_learning_rate_scales_n01_weights_at_run_time():
    conv = nets.EqualizedConv3D(6, 3)
    x = tf.random.normal([2, 4, 4, 4, 5], seed=3)
    y = conv(x)
    kernel = conv.kernel.numpy()
    assert kernel.shape == (3, 3, 3, 5, 6) and 0.85 < kernel.std() < 1.15
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(27 * 5))
    conv.bias.assign(tf.fill([6], 0.5))
    want = tf.nn.conv3d(x, kernel * math.sqrt(2 / 135), [1] * 5, "SAME") + 0.5
    np.testing.assert_allclose(conv(x), want, rtol=1e-5, atol=1e-5)
    assert y.shape == (2, 4, 4, 4, 6)
    dense = nets.EqualizedDense(7, gain=math.sqrt(2) / 4)
    v = tf.random.normal([3, 10], seed=4)
    np.testing.assert_allclose(dense(v), v.numpy() @ dense.kernel.numpy() * (math.sqrt(2) / 4)
                               / math.sqrt(10), rtol=1e-5, atol=1e-6)


def test_pixel_norm_and_minibatch_stddev_against_numpy():
    x = np.random.default_rng(0).normal(size=[8, 2, 3, 3, 5]).astype(np.float32)
    norm = nets.pixel_norm(tf.constant(x)).numpy()
    np.testing.assert_allclose(norm, x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-8),
                               rtol=1e-5)
    for n, group in ((8, 4), (2, 2), (6, 2)):  # G = min(4, N), or gcd(N, 4)
        out = nets.minibatch_stddev(tf.constant(x[:n]), 4).numpy()
        members = n // group
        groups = x[:n].reshape(group, members, 2, 3, 3, 5)  # element n is in group n % M
        stat = np.sqrt(groups.var(axis=0) + 1e-8).mean(axis=(1, 2, 3, 4))
        assert out.shape == (n, 2, 3, 3, 6)
        np.testing.assert_array_equal(out[..., :5], x[:n])
        for i in range(n):
            np.testing.assert_allclose(out[i, ..., 5], stat[i % members], rtol=1e-5)


def test_orthonormalize_and_the_swgan_loss_terms():
    q = nets.orthonormalize(tf.random.normal([2, 5, 5], seed=5))
    np.testing.assert_allclose(tf.matmul(q, q, transpose_a=True), np.stack([np.eye(5)] * 2),
                               atol=1e-5)
    np.testing.assert_allclose(nets.orthonormalize(q), q, atol=1e-5)  # a fixed point
    assert np.allclose(progressive.swgan_scores(tf.constant([[1.0, 3.0]])), [-2.0])
    w = tf.constant([0.5, -1.0, 2.0])
    real, fake = tf.ones([2, 3]), tf.zeros([2, 3])
    alpha = tf.constant([0.25, 0.5])
    penalty = progressive.swgan_gradient_penalty(real, fake, lambda x: x * w, alpha, 2.0)
    # D(x) = mean_k (x_k w_k): gradient w / 3, scaled by (1 - alpha).
    want = 2.0 * (1 - alpha.numpy()) ** 2 * float(tf.reduce_sum(w ** 2)) / 9
    np.testing.assert_allclose(penalty, want, rtol=1e-5)
    projection = nets.SlicedProjection(1)
    features = tf.constant([[1.0, -2.0], [0.5, 0.5]])
    projection(features)
    projection.matrix.assign(tf.eye(2)[None])
    got = progressive.swgan_projection_penalty(features, features, projection,
                                               tf.constant([0.3, 0.7]), 10.0, 0.01)
    p = np.where(features.numpy() > 0, features.numpy(), 0.2 * features.numpy())
    slopes = np.where(p > 0, p, -0.2 * p)
    np.testing.assert_allclose(got, 10 * ((slopes - 0.01) ** 2).mean(-1), rtol=1e-5)


def test_riemannian_gradient_is_tangent_and_the_projection_stays_orthogonal():
    w = nets.orthonormalize(tf.random.normal([2, 6, 6], seed=7))
    xi = nets.riemannian_gradient(w, tf.random.normal([2, 6, 6], seed=8))
    wt_xi = tf.matmul(w, xi, transpose_a=True).numpy()
    np.testing.assert_allclose(wt_xi + np.swapaxes(wt_xi, 1, 2), 0.0, atol=1e-5)
    np.testing.assert_allclose(nets.riemannian_gradient(w, xi), xi, atol=1e-5)  # a projection
    eye = np.stack([np.eye(6)] * 2)
    y = tf.random.normal([5, 6], seed=9)
    for riemannian in (True, False):  # --swgan_projection_update=riemannian / qr
        projection = nets.SlicedProjection(2, riemannian=riemannian)
        projection(y)
        optimizer = keras.optimizers.Adam(0.05, beta_1=0.0, beta_2=0.99)
        constraint = progressive.projection_constraint(projection)
        for _ in range(8):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(projection(y) - 1.0))
            grad = tape.gradient(loss, projection.matrix)
            w = projection.matrix.numpy()
            wt_g = np.swapaxes(w, 1, 2) @ grad.numpy()
            skew_error = np.abs(wt_g + np.swapaxes(wt_g, 1, 2)).max() / np.abs(wt_g).max()
            assert (skew_error < 1e-5) if riemannian else (skew_error > 1e-2), skew_error
            optimizer.apply_gradients([(grad, projection.matrix)])
            adversarial.apply_constraints([constraint], [projection.matrix])
            w = projection.matrix.numpy()
            np.testing.assert_allclose(np.swapaxes(w, 1, 2) @ w, eye, atol=1e-5)


# Training ----------------------------------------------------------------------------------

def test_each_method_trains_across_a_level_boundary(straight):
    for name, trainer in straight.items():
        assert trainer.current_step == MAX_STEPS
        assert sorted(trainer.log) == list(range(1, MAX_STEPS + 1))
        assert all(np.isfinite(v) for m in trainer.log.values() for v in m.values()), name
        task = trainer.task
        for key, net in task.networks().items():
            assert any(not np.array_equal(a, b)
                       for a, b in zip(weights(net), trainer.initial[key])), (name, key)
        if name == "swgan":
            assert trainer.phase.name == "train" and task.default_num_frames == 8
            continue
        assert [p.name for p in trainer.phases] == ["4x4x4", "8x8x8"]
        assert trainer.phase.name == "8x8x8" and task.level == 1
        # Adam restarted at the 8x8x8 level (step 2): 3 updates since.
        for optimizer in task.optimizers().values():
            assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 3
        assert task.sample(StatelessNoise(1), 3, 8).shape == (3, 8, 8, 8, 3)


def test_swgan_projection_stays_orthogonal_after_updates(straight):
    for name in ("pgswgan", "swgan"):
        trainer = straight[name]
        matrix = trainer.task.discriminator.projection.matrix.numpy()
        before = trainer.initial["discriminator"]
        assert not any(np.array_equal(matrix, b) for b in before if b.shape == matrix.shape)
        eye = np.stack([np.eye(matrix.shape[-1])] * matrix.shape[0])
        np.testing.assert_allclose(np.swapaxes(matrix, 1, 2) @ matrix, eye, atol=1e-5)


def test_the_batch_changes_at_the_level_boundary(per_level):
    assert [(p.name, p.start_step, p.fade_in_steps, p.batch_size)
            for p in per_level.phases] == [("4x4x4", 0, 0, 2), ("8x8x8", 2, 2, 4)]
    assert per_level.seen == {("4x4x4", 2, 2), ("8x8x8", 4, 4)}
    assert per_level.current_step == MAX_STEPS and sorted(per_level.log) == [1, 2, 3, 4, 5]
    assert all(np.isfinite(v) for m in per_level.log.values() for v in m.values())
    with open(f"{per_level.config.model_dir}/phases.txt") as f:
        record = f.read().splitlines()
    assert record[1:] == ["4x4x4 0 0 4 4 2 2", "8x8x8 2 2 8 8 1 4"]


def test_two_replicas_split_each_levels_batch(tmp_path):
    trainer = _trainer("pgvgan", tmp_path, replicas=2, **LEVEL_BATCHES)
    seen = _record_batches(trainer)
    trainer.train(max_steps=3)
    assert seen == {("4x4x4", 1, 2), ("8x8x8", 2, 4)}
    assert all(np.isfinite(v) for m in trainer.log.values() for v in m.values())


def test_resume_in_the_second_level_uses_its_batch(tmp_path, per_level):
    resumed = _resume(per_level, tmp_path, **LEVEL_BATCHES)
    seen = _record_batches(resumed)
    assert resumed.current_step == 3 and resumed.phase.name == "8x8x8"
    assert resumed.phase_batch_size() == 4
    resumed.train()
    assert seen == {("8x8x8", 4, 4)}
    for step in (4, 5):
        for key, want in per_level.log[step].items():
            np.testing.assert_allclose(resumed.log[step][key], want, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} at step {step}")


def test_real_videos_fade_like_the_networks(straight):
    task = straight["pgvgan"].task
    x = tf.random.normal([2, 8, 8, 8, 3], seed=6)
    low = nets.upsample(nets.downsample(x, (2, 2)), (2, 2))
    task.fading = True
    try:
        task.alpha.assign(0.0)
        np.testing.assert_array_equal(task.fade_reals(x), low)
        task.alpha.assign(1.0)
        np.testing.assert_array_equal(task.fade_reals(x), x)
    finally:
        task.fading = False


@pytest.mark.parametrize("name", ["pgvgan", "pgswgan"])
def test_resume_in_the_fade_in_gives_the_same_next_losses(tmp_path, straight, name):
    resumed = _resume(straight[name], tmp_path)
    assert resumed.current_step == 3 and resumed.phase.name == "8x8x8"
    assert float(resumed.task.alpha.numpy()) == 0.5
    assert resumed.task.level == 1
    resumed.train()
    for step in (4, 5):
        for key, want in straight[name].log[step].items():
            np.testing.assert_allclose(resumed.log[step][key], want, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} at step {step}")
    for key, net in resumed.task.networks().items():
        for a, b in zip(weights(net), weights(straight[name].task.networks()[key])):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["pgvgan", "pgswgan", "swgan"])
def test_two_replicas_continue_a_run_in_the_fade_in(tmp_path, straight, name):
    """Steps 3-4 on two replicas (one video each) from the one-replica run's step 3."""
    trainer = _resume(straight[name], tmp_path, replicas=2)
    before = {k: weights(v) for k, v in trainer.task.networks().items()}
    trainer.train(max_steps=5)
    assert trainer.current_step == 5 and sorted(trainer.log) == [4, 5]
    assert all(np.isfinite(v) for m in trainer.log.values() for v in m.values())
    for key, net in trainer.task.networks().items():
        assert any(not np.array_equal(a, b) for a, b in zip(weights(net), before[key])), key
    if name != "swgan":
        assert trainer.phase.name == "8x8x8"
    else:
        matrix = trainer.task.discriminator.projection.matrix.numpy()
        np.testing.assert_allclose(np.swapaxes(matrix, 1, 2) @ matrix,
                                   np.stack([np.eye(matrix.shape[-1])] * 4), atol=1e-5)


# Export ------------------------------------------------------------------------------------

def test_run_restores_its_level_and_exports_it(tmp_path):
    """A bin/train run grown to 8x8x8 comes back at that level; its export serves it."""
    from tfvidgen.cli.export import export_run
    run_dir = str(tmp_path / "run")
    flags = ["--model=pgvgan", "--dataset=synthetic_expressions", "--synthetic_identities=2",
             "--synthetic_takes=1", "--synthetic_video_length=12", "--image_size=16",
             "--max_steps=3", "--batch_size=2", "--latent_dim=8", "--fmap_base=16",
             "--fmap_max=8", "--training_kimg=0.004", "--transition_kimg=0.002",
             "--summary_every=1", "--sample_every=100", "--checkpoint_every=100",
             "--num_samples=2", "--ema_decay=0.5"]
    train_run(flags, run_dir)
    task, _, step, _ = runs.load_run(run_dir)
    assert step == 3 and task.level == 1 and float(task.alpha.numpy()) == 1.0
    values = {**experiment.read_run(run_dir), "export_dir": str(tmp_path / "exports")}
    path = export_run(values, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    got = loaded.serving_default(seed=tf.constant(7, tf.int64),
                                 num_videos=tf.constant(3))["video"].numpy()
    assert got.shape == (3, 8, 8, 8, 3) and got.dtype == np.uint8
    with task.sampling_weights():
        want = to_uint8(task.sample(StatelessNoise(7), 3, 8)).numpy()
    np.testing.assert_array_equal(got, want)
    longer = loaded.signatures["sample_frames"](seed=tf.constant(7, tf.int64),
                                                num_videos=tf.constant(3),
                                                num_frames=tf.constant(10))["video"].numpy()
    np.testing.assert_array_equal(longer[:, :8], got)
    np.testing.assert_array_equal(longer[:, 8:], got[:, :2])
    image = loaded.sample_images(seed=tf.constant(7, tf.int64), num_images=tf.constant(2))
    assert image["image"].shape == (2, 8, 8, 3)
