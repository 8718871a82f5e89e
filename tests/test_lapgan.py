"""LAPGAN (seed 002, chapter 4): pyramid, levels, conditioning, cascade, training, export."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfvidgen import export
from tfvidgen.data import pipeline
from tfvidgen.data.sources import ArraySource
from tfvidgen.models import lapgan
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.nets import lapgan_nets as nets
from tfvidgen.train.loop import TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(batch_size=4, pyramid_sizes="4,8,16", z_dim=5, coarse_g_hidden=16, coarse_d_hidden=8,
            g_features="4,4", d_features="4,4", level_steps=1)


def tiny_task(**overrides):
    config = lapgan.LapganConfig(**{**TINY, **overrides})
    task = lapgan.LAPGAN(config, DataSpec(image_size=16, class_names=("a", "b", "c")))
    task.build()
    return task


def tiny_images(n=12, size=16, seed=0):
    """Labelled one-frame 'videos' (images), colour by class."""
    rng = np.random.default_rng(seed)
    videos, labels = [], []
    for i in range(n):
        image = rng.integers(0, 60, [1, size, size, 3]).astype(np.uint8)
        image[..., i % 3] += 150
        videos.append(image)
        labels.append(i % 3)
    return pipeline.split_sources(ArraySource(videos, labels, class_names=("a", "b", "c")))


@pytest.mark.parametrize("sizes", [(28, 14, 8), (32, 16, 8), (16, 8, 4)])
def test_pyramid_decomposition_and_reconstruction_are_inverses(sizes):
    x = tf.random.stateless_uniform([3, sizes[0], sizes[0], 3], [1, 2], -1, 1)
    coefficients = nets.laplacian_pyramid(x, sizes)
    assert [c.shape[1] for c in coefficients] == list(sizes)
    np.testing.assert_allclose(nets.reconstruct(coefficients, sizes).numpy(), x.numpy(),
                               atol=1e-6)
    gauss = nets.gaussian_pyramid(x, sizes)
    np.testing.assert_array_equal(coefficients[-1].numpy(), gauss[-1].numpy())  # h_K = x_K
    if sizes[0] == 2 * sizes[1]:  # d: the 2x2 block mean
        blocks = tf.reshape(x, [3, sizes[1], 2, sizes[1], 2, 3])
        np.testing.assert_allclose(gauss[1].numpy(), tf.reduce_mean(blocks, [2, 4]).numpy(),
                                   atol=1e-6)


def test_sizes_and_settings():
    config = lapgan.LapganConfig()
    assert lapgan.pyramid_sizes(config, 64) == (8, 16, 32, 64)
    assert lapgan.pyramid_sizes(lapgan.LapganConfig(pyramid_sizes="8,14,28"), 32) == (8, 14, 28)
    with pytest.raises(lapgan.ConfigError, match="pyramid_sizes"):
        lapgan.LapganConfig(pyramid_sizes="8,8")
    assert lapgan.pyramid_sizes(lapgan.LapganConfig(pyramid_sizes="32"), 32) == (32,)
    with pytest.raises(lapgan.ConfigError, match="train_level"):
        lapgan.LapganConfig(pyramid_sizes="8,16", train_level=2)
    task = tiny_task()
    assert [p.name for p in task.phases()] == ["level2_4x4", "level1_8x8", "level0_16x16"]
    assert [p.start_step for p in task.phases()] == [0, 1, 2]
    single = tiny_task(train_level=1)
    assert [p.name for p in single.phases()] == ["level1_8x8"] and single.level == 1


def test_each_levels_shapes():
    task = tiny_task(class_conditional=True)
    n = 2
    for k, size in enumerate(task.sizes):
        inputs = task.generator_input(k, StatelessNoise(1), n,
                                      tf.zeros([n, size, size, 3]) if k < task.top else None,
                                      tf.one_hot([0, 2], 3))
        if k == task.top:
            assert inputs.shape == (n, 5 + 3)
        else:
            assert inputs.shape == (n, size, size, 1 + 3 + 3)
        assert task.generators[k](inputs).shape == (n, size, size, 3)
        assert task.discriminators[k](tf.zeros([n, size, size, 6])).shape == (n, 1)
    chain = task.cascade(StatelessNoise(0), n)
    assert [x.shape[1] for x in chain] == [4, 8, 16]


def test_conditional_inputs_reach_generator_and_discriminator():
    task = tiny_task(class_conditional=True)
    k, n = 1, 2
    coarse = tf.random.stateless_uniform([n, 8, 8, 3], [3, 4], -1, 1)
    one_hot = tf.one_hot([0, 1], 3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([coarse, one_hot])
        inputs = task.generator_input(k, StatelessNoise(2), n, coarse, one_hot)
        h = task.generators[k](inputs)
        score = task.discriminators[k](nets.with_label_planes(coarse + h, one_hot))
    for name, grad in (("G_k <- l_k", tape.gradient(h, coarse)),
                       ("G_k <- class", tape.gradient(h, one_hot)),
                       ("D_k <- l_k", tape.gradient(score, coarse)),
                       ("D_k <- class", tape.gradient(score, one_hot))):
        assert grad is not None and np.abs(grad.numpy()).max() > 0, name
    # The coarsest level: class into G_K and D_K.
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(one_hot)
        x = task.generators[2](task.generator_input(2, StatelessNoise(2), n, None, one_hot))
        score = task.discriminators[2](nets.with_label_planes(x, one_hot))
    assert np.abs(tape.gradient(x, one_hot).numpy()).max() > 0
    assert np.abs(tape.gradient(score, one_hot).numpy()).max() > 0


def test_sampling_from_a_level_equals_the_cascade_by_hand():
    task = tiny_task(class_conditional=True)
    n, labels = 3, tf.constant([2, 0, 1])
    start = tf.random.stateless_uniform([n, 8, 8, 3], [5, 6], -1, 1)
    got = task.cascade(StatelessNoise(9), n, labels, start=start, start_level=1)[-1]
    noise = StatelessNoise(9)
    coarse = tf.image.resize(start, [16, 16], method="bilinear")
    plane = noise.uniform([n, 16, 16, 1], minval=-1.0, maxval=1.0)
    inputs = tf.concat([plane, coarse, tf.broadcast_to(tf.one_hot(labels, 3)[:, None, None],
                                                       [n, 16, 16, 3])], -1)
    np.testing.assert_allclose(got.numpy(), (coarse + task.generators[0](inputs)).numpy(),
                               atol=1e-6)
    # From the top: stopping at level k gives the start of the full chain.
    full = task.cascade(StatelessNoise(4), n)
    part = task.cascade(StatelessNoise(4), n, stop_level=1)
    np.testing.assert_array_equal(part[-1].numpy(), full[1].numpy())
    hand = task.cascade(StatelessNoise(4), n, stop_level=2)[0]
    np.testing.assert_array_equal(hand.numpy(), full[0].numpy())


@pytest.mark.parametrize("replicas", [1, 2])
def test_trains_every_level_on_one_and_two_replicas(replicas, tmp_path, cpu_strategy):
    settings = {**TINY, "pyramid_sizes": "8,16"}  # a fully connected and a conv level
    task = lapgan.LAPGAN(lapgan.LapganConfig(**settings, class_conditional=True),
                         DataSpec(image_size=16, class_names=("a", "b", "c")))
    config = TrainConfig(model_dir=str(tmp_path), max_steps=2, batch_size=4, seed=0,
                         summary_every=1, sample_every=100, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, tiny_images(), config, cpu_strategy(replicas))
    before = [g.get_weights() for g in task.generators]
    metrics = trainer.train()
    assert trainer.current_step == 2 and all(np.isfinite(v) for v in metrics.values())
    assert "d_level0_loss" in metrics  # the last phase: the finest level
    for g, old in zip(task.generators, before):  # every level was trained once
        assert any(not np.allclose(a, b) for a, b in zip(old, g.get_weights()))
    # The SGD schedules: learning rate and momentum move per epoch of updates.
    opt = task.g_optimizers[0]
    assert float(opt.current_momentum()) == pytest.approx(0.5)
    schedule = lapgan.EpochDecay(0.02, 2.0, 1e-6, 10)
    assert float(schedule(25)) == pytest.approx(0.005)


def test_sgd_momentum_rises_per_epoch_and_adam_is_available():
    opt = lapgan.ScheduledSGD(0.1, 0.5, 0.1, 0.65, steps_per_epoch=1)
    var = tf.Variable(0.0)
    opt.build([var])
    velocity, momenta = 0.0, []
    for _ in range(3):
        momenta.append(float(opt.current_momentum()))
        opt.apply_gradients([(tf.constant(1.0), var)])
    assert momenta == pytest.approx([0.5, 0.6, 0.65])  # +0.1 per epoch, capped
    position = 0.0
    for m in momenta:  # v <- m v - lr g; w <- w + v
        velocity = m * velocity - 0.1
        position += velocity
    assert float(var.numpy()) == pytest.approx(position, rel=1e-5)
    adam = lapgan.make_optimizer(lapgan.LapganConfig(optimizer="adam"))
    assert isinstance(adam, tf.keras.optimizers.Adam) or type(adam).__name__ == "Adam"


def test_export_round_trip(tmp_path):
    from tfvidgen.serving import savedmodel
    task = tiny_task(class_conditional=True)
    path = export.export(task, str(tmp_path), "lapgan", 1, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    seed = tf.constant(7, tf.int64)
    image = loaded.sample(seed=seed, num_images=tf.constant(3))["image"].numpy()
    assert image.dtype == np.uint8 and image.shape == (3, 16, 16, 3)
    np.testing.assert_array_equal(image, to_uint8(task.sample_images(StatelessNoise(7), 3)))
    for level in range(3):
        out = loaded.signatures["sample"](seed=seed, num_images=tf.constant(2),
                                          label=tf.constant(1), stop_level=tf.constant(level))
        noise = StatelessNoise(7)
        task.draw_labels(noise, 2)
        want = task.cascade(noise, 2, tf.constant([1, 1]), stop_level=level)[-1]
        np.testing.assert_array_equal(out["image"].numpy(), to_uint8(want).numpy())
    coarse = to_uint8(tf.random.stateless_uniform([2, 8, 8, 3], [1, 1], -1, 1))
    out = loaded.refine(coarse=coarse, seed=seed)["image"].numpy()
    noise = StatelessNoise(7)
    labels = task.draw_labels(noise, 2)
    want = task.refine(noise, tf.cast(coarse, tf.float32) / 127.5 - 1.0, 0, labels)
    np.testing.assert_array_equal(out, to_uint8(want).numpy())
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.refine(coarse=tf.zeros([1, 5, 5, 3], tf.uint8), seed=seed)
    sigs = savedmodel.signature_defs(path)
    assert {"serving_default", "sample", "refine"} <= set(sigs)
    assert {k: int(v) for k, v in savedmodel.default_values(sigs["sample"]).items()} == {
        "label": -1, "stop_level": 0}


@pytest.mark.parametrize("name,levels", [("lapgan_cifar10", 3), ("lapgan_cc_cifar10", 3),
                                         ("lapgan_gan_cifar10", 1), ("lapgan_stl10", 5),
                                         ("lapgan_lsun_tower", 5),
                                         ("lapgan_synthetic_expressions", 3)])
def test_configs_parse(name, levels):
    from tfvidgen import experiment
    try:
        values, config = experiment.parse_command(
            [f"--flagfile={os.path.join(ROOT, 'configs', name + '.cfg')}"])
    finally:
        experiment.parse_command([])
    task = lapgan.LAPGAN(config, DataSpec(image_size=values["image_size"],
                                          class_names=tuple("abcdefghij")))
    assert task.num_levels == levels and task.config.optimizer == "sgd"
    assert task.config.class_conditional == (name == "lapgan_cc_cifar10")


def test_bin_train_with_no_other_flag(tmp_path):
    """bin/train --model=lapgan --model_dir=DIR trains on the built-in data (one step here)."""
    from helpers import run_bin
    run_bin("train", "--model=lapgan", f"--model_dir={tmp_path}", "--max_steps=1")
    flags = (tmp_path / "flags.txt").read_text()
    assert "--model=lapgan" in flags and os.path.exists(tmp_path / "samples.gif")


def test_parzen_matches_a_gaussian_in_closed_form():
    """Centres all at mu: the Parzen window is exactly N(mu, sigma^2 I)."""
    from tfvidgen.metrics import parzen
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(12), 0.3
    x = mu + sigma * rng.standard_normal([20, 12])
    want = (-np.sum((x - mu) ** 2, 1) / (2 * sigma ** 2) - 6 * np.log(2 * np.pi * sigma ** 2))
    np.testing.assert_allclose(parzen.log_parzen(x, np.tile(mu, [5, 1]), sigma), want,
                               rtol=1e-9)


def test_multiscale_parzen_conditions_on_the_true_low_pass():
    from tfvidgen.evaluate import EvalConfig, TaskSampler, evaluate
    from tfvidgen.metrics import parzen
    from tfvidgen.models import lapgan_parzen
    task = tiny_task()
    samples = np.random.default_rng(1).uniform(0, 1, [6, 16, 16, 3])
    levels, kwargs = lapgan_parzen.multiscale_inputs(task, samples, num_centres=3, seed=4)
    assert levels == 2 and kwargs["coarse_centres"].shape == (3, 16, 16, 3)
    real = np.random.default_rng(2).uniform(0, 1, [2, 16, 16, 3])
    lows = parzen.pyramid(real, 2)[1]  # 4 x the 4x4 block means
    highs = kwargs["highpass_fn"](1, lows)[1]  # level 1: G_1 refines the true 4x4 image
    noise = StatelessNoise(lapgan_parzen.derive_seed(4, 1, 0))
    coarse = tf.repeat(tf.constant(lows[1:2] / 4 * 2 - 1, tf.float32), 3, axis=0)
    fine = task.refine(noise, coarse, 1, None).numpy()
    want = parzen.haar_split(2 * (np.clip(fine, -1, 1) + 1) / 2)[1]
    np.testing.assert_allclose(highs, want, atol=1e-5)
    with pytest.raises(ValueError, match="halve"):
        lapgan_parzen.multiscale_inputs(tiny_task(pyramid_sizes="4,7,14"), samples[:, :14, :14],
                                        3)
    # Through the protocols of bin/evaluate.
    report = evaluate(TaskSampler(task, batch_size=4),
                      EvalConfig(metrics=("parzen", "parzen_ms"), parzen_samples=4,
                                 parzen_ms_samples=3, parzen_heldout=4), data=tiny_images())
    assert set(report["metrics"]) == {"parzen_frames_4s", "parzen_ms2_frames_3s"}
    assert report["details"]["parzen_ms"]["conditional"] is True
    assert all(np.isfinite(v) for v in report["metrics"].values())


def test_levels_trained_in_parallel_runs_are_gathered(tmp_path):
    from helpers import train_run
    from tfvidgen import runs
    from tfvidgen.models.lapgan_gather import gather_levels
    args = ["--model=lapgan", "--dataset=synthetic_expressions", "--synthetic_identities=2",
            "--synthetic_takes=1", "--synthetic_video_length=2", "--image_size=16",
            "--pyramid_sizes=8,16", "--batch_size=2", "--z_dim=4", "--coarse_g_hidden=8",
            "--coarse_d_hidden=8", "--g_features=4", "--d_features=4", "--max_steps=1",
            "--checkpoint_every=100", "--sample_every=100"]
    trained = {k: train_run(args + [f"--train_level={k}"], tmp_path / f"level{k}")
               for k in (1, 0)}
    for k, task in trained.items():
        assert [p.name for p in task.phases()] == [task.level_name(k)]
    gather_levels([str(tmp_path / "level1"), str(tmp_path / "level0")], str(tmp_path / "all"))
    task, _, step, values = runs.load_run(str(tmp_path / "all"))
    assert step == 1 and values["train_level"] == -1
    for k in (0, 1):
        for a, b in zip(task.generators[k].get_weights(), trained[k].generators[k].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert task.sample_images(StatelessNoise(0), 2).shape == (2, 16, 16, 3)
    with pytest.raises(ValueError, match="level"):
        gather_levels([str(tmp_path / "level0")], str(tmp_path / "only0"))


def test_parzen_of_a_model_of_crops_or_smaller_images():
    """Real frames meet the samples' size: pooled by an integer factor, else centre-cropped."""
    from tfvidgen.evaluate import EvalConfig, TaskSampler, evaluate
    from tfvidgen.evaluate.parzen import match_size
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    np.testing.assert_array_equal(match_size(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(match_size(x, 3), x[:, 0:3, 0:3])
    for sizes, crop in (("4,7,14", 16), ("4,8", 0)):
        task = tiny_task(pyramid_sizes=sizes, crop_from=crop)
        report = evaluate(TaskSampler(task, batch_size=4),
                          EvalConfig(metrics=("parzen",), parzen_samples=4, parzen_heldout=4),
                          data=tiny_images())
        assert np.isfinite(report["metrics"]["parzen_frames_4s"])


def test_corner_crops_and_a_step_on_crops():
    images = tf.reshape(tf.range(2 * 4 * 4, dtype=tf.float32), [2, 4, 4, 1])
    crops = lapgan.corner_crops(images, 3, tf.constant([3, 1]))
    np.testing.assert_array_equal(crops[0].numpy(), images[0, 1:, 1:].numpy())
    np.testing.assert_array_equal(crops[1].numpy(), images[1, :3, 1:].numpy())
    task = tiny_task(pyramid_sizes="4,7,14", crop_from=16, train_level=0)
    assert [p.image_size for p in task.phases()] == [16]
    batch = {"video": tf.random.stateless_uniform([4, 1, 16, 16, 3], [0, 1], -1, 1),
             "label": tf.constant([0, 1, 2, 0])}
    rng = tf.random.Generator.from_seed(0)
    metrics = tf.function(lambda b: task.train_step(b, 0, rng, 4))(batch)
    assert np.isfinite(float(metrics["d_level0_loss"]))
