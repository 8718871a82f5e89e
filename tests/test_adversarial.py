"""The adversarial step (tfvidgen.models.adversarial): rounds, constraints, loss pairs,
the moving average of the generator, and equivalence with the previous MoCoGAN step."""
import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import tiny_task, tiny_trainer, weights
from tfvidgen import export, losses
from tfvidgen.models import adversarial, base
from tfvidgen.models.base import StatelessNoise, to_uint8
from tfvidgen.nets.ema import ExponentialMovingAverage


# The MoCoGAN-family and image GAN steps as they were before the adversarial module
# (commit 8144954), kept verbatim to check that the move changed no number.
def legacy_video_gan_step(self, batch, step, rng, global_batch_size):
    c = self.config
    videos = batch["video"]
    images = batch["image"]
    images = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))
    num_videos, num_images = tf.shape(videos)[0], tf.shape(images)[0]
    global_images = global_batch_size * c.images_per_video
    T = c.clip_length
    avg = base.average

    def draw_fakes():
        codes = self.draw_codes(rng, num_videos, T)
        fake_videos = self.generate_videos(codes, T, training=True)
        fake_images = self.generate_images(rng, num_images, training=True)
        extra = self.extra_fake_images(rng, num_images, step, training=True)
        return codes, fake_videos, fake_images, extra

    metrics = {}
    with tf.GradientTape() as g_tape:
        codes, fake_videos, fake_images, extra = draw_fakes()
        with g_tape.stop_recording():
            with tf.GradientTape() as tape:
                real_logits = self.image_discriminator(images, training=True)
                fake_logits = self.image_discriminator(tf.stop_gradient(fake_images), training=True)
                d_i = avg(losses.minimax_discriminator_loss(real_logits, fake_logits), global_images)
                if extra is not None:
                    d_i += self.extra_discriminator_loss(images, tf.stop_gradient(extra), step,
                                                         global_images)
            base.apply_gradients(self.image_discriminator_optimizer, tape, d_i,
                                 self.image_discriminator.trainable_variables, c.weight_decay)
            metrics["d_image_loss"] = d_i
            metrics["d_image_real"] = avg(losses.sigmoid_mean(real_logits), global_images)
            metrics["d_image_fake"] = avg(losses.sigmoid_mean(fake_logits), global_images)

            with tf.GradientTape() as tape:
                real_out = self.video_discriminator(videos, training=True)
                fake_out = self.video_discriminator(tf.stop_gradient(fake_videos), training=True)
                per_example = losses.minimax_discriminator_loss(real_out[..., :1], fake_out[..., :1])
                if self.num_categories:
                    per_example += losses.categorical_cross_entropy_loss(
                        batch["label"], real_out[..., 1:])
                d_v = avg(per_example, global_batch_size)
            base.apply_gradients(self.video_discriminator_optimizer, tape, d_v,
                                 self.video_discriminator.trainable_variables, c.weight_decay)
            metrics["d_video_loss"] = d_v
            metrics["d_video_real"] = avg(losses.sigmoid_mean(real_out[..., :1]), global_batch_size)
            metrics["d_video_fake"] = avg(losses.sigmoid_mean(fake_out[..., :1]), global_batch_size)

        if not c.share_fakes:
            codes, fake_videos, fake_images, extra = draw_fakes()
        g_image = avg(losses.modified_generator_loss(
            self.image_discriminator(fake_images, training=True)), global_images)
        video_out = self.video_discriminator(fake_videos, training=True)
        g_video_per_example = losses.modified_generator_loss(video_out[..., :1])
        if self.num_categories:
            g_video_per_example += losses.categorical_cross_entropy_loss(
                codes.category, video_out[..., 1:])
        g_video = avg(g_video_per_example, global_batch_size)
        g = g_image + g_video
        if extra is not None:
            g_extra = self.extra_generator_loss(extra, step, global_images)
            metrics["g_extra_loss"] = g_extra
            g += g_extra
    base.apply_gradients(self.generator_optimizer, g_tape, g, self.generator_variables,
                         c.weight_decay)
    metrics.update(g_loss=g, g_image_loss=g_image, g_video_loss=g_video)
    return metrics


def legacy_image_gan_step(self, batch, step, rng, global_batch_size):
    c = self.config
    images = batch["image"]
    images = tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))
    n = tf.shape(images)[0]
    with tf.GradientTape() as g_tape:
        z = rng.normal([n, c.latent_dim], stddev=c.prior_stddev)
        fakes = self.image_generator(z, training=True)
        with g_tape.stop_recording():
            with tf.GradientTape() as tape:
                real_logits = self.image_discriminator(images, training=True)
                fake_logits = self.image_discriminator(tf.stop_gradient(fakes), training=True)
                d = base.average(losses.minimax_discriminator_loss(real_logits, fake_logits),
                                 global_batch_size)
            base.apply_gradients(self.image_discriminator_optimizer, tape, d,
                                 self.image_discriminator.trainable_variables, c.weight_decay)
        g = base.average(losses.modified_generator_loss(
            self.image_discriminator(fakes, training=True)), global_batch_size)
    base.apply_gradients(self.generator_optimizer, g_tape, g,
                         self.image_generator.trainable_variables, c.weight_decay)
    return {"d_image_loss": d, "g_loss": g,
            "d_image_real": base.average(losses.sigmoid_mean(real_logits), global_batch_size),
            "d_image_fake": base.average(losses.sigmoid_mean(fake_logits), global_batch_size)}


def real_batch(task, seed=0, n=1):
    """A random real batch of the task's layout (n > 1: the real-batch axis)."""
    rng = np.random.default_rng(seed)
    c = task.config
    lead = [c.batch_size] + ([n] if n > 1 else [])
    batch = {"image": rng.uniform(-1, 1, lead + [c.images_per_video, 16, 16, 3])}
    if task.data_requirements().clip_length:
        batch["video"] = rng.uniform(-1, 1, lead + [c.clip_length, 16, 16, 3])
        batch["label"] = rng.integers(0, 3, lead)
    return {k: tf.constant(v, tf.int32 if k == "label" else tf.float32) for k, v in batch.items()}


@pytest.mark.parametrize("name, overrides", [
    ("mocogan", {"num_categories": 3}), ("rmocogan", {"share_fakes": False}),
    ("rjgan", {"summary_frame_period": 2}), ("image_gan", {})])
def test_same_numbers_as_the_previous_step(name, overrides):
    """n_critic = 1 and the default loss pair: bit-for-bit the step before the move."""
    new, _ = tiny_task(name, **overrides)
    old, _ = tiny_task(name, **overrides)
    new.build()
    old.build()
    for key, net in new.networks().items():
        old.networks()[key].set_weights(net.get_weights())
    legacy = legacy_image_gan_step if name == "image_gan" else legacy_video_gan_step
    rng_new, rng_old = tf.random.Generator.from_seed(3), tf.random.Generator.from_seed(3)
    new_step, old_step = tf.function(new.train_step), tf.function(
        lambda *a: legacy(old, *a))
    for step in range(2):
        batch = real_batch(new, seed=step)
        args = (batch, tf.constant(step, tf.int64))
        got = new_step(*args, rng_new, new.config.batch_size)
        want = old_step(*args, rng_old, old.config.batch_size)
        assert set(got) == set(want)
        for key in want:
            assert float(got[key]) == float(want[key]), key
    for key, net in new.networks().items():
        for a, b in zip(weights(net), weights(old.networks()[key])):
            np.testing.assert_array_equal(a, b)


def op_counts(fn, *args):
    graph = tf.function(fn).get_concrete_function(*args).graph
    counts = collections.Counter(op.type for op in graph.get_operations())
    for function in graph._functions.values():  # bodies of conds, loops, gradients
        counts.update(node.op for node in function.definition.node_def)
    return counts


@pytest.mark.parametrize("name", ["rjgan", "image_gan"])
def test_no_extra_work_per_step(name):
    """The traced step has the previous one's operations (convolutions, matmuls,
    conds, batch norms, optimizer updates), give or take scalar shape arithmetic."""
    new, _ = tiny_task(name)
    old, _ = tiny_task(name)
    new.build()
    old.build()
    legacy = legacy_image_gan_step if name == "image_gan" else legacy_video_gan_step
    args = (real_batch(new), tf.constant(0, tf.int64), tf.random.Generator.from_seed(0), 2)
    got = op_counts(new.train_step, *args)
    want = op_counts(lambda *a: legacy(old, *a), *args)
    differing = {k: (got[k], want[k]) for k in set(got) | set(want) if got[k] != want[k]}
    assert set(differing) <= {"Const", "StridedSlice", "Mul"}, differing
    assert got["Mul"] <= want["Mul"] + 1, differing


# n_critic ------------------------------------------------------------------------------------

def toy_gan(rng_seed=0):
    """A linear critic on 3-vectors and a linear generator from 2-vectors."""
    critic = keras.Sequential([keras.layers.Dense(1)])
    critic.build((None, 3))
    generator = keras.Sequential([keras.layers.Dense(3)])
    generator.build((None, 2))
    d_opt, g_opt = keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1)
    d_opt.build(critic.trainable_variables)
    g_opt.build(generator.trainable_variables)
    return critic, generator, d_opt, g_opt, tf.random.Generator.from_seed(rng_seed)


def test_n_critic_updates_each_on_its_own_real_batch():
    critic_net, generator_net, d_opt, g_opt, rng = toy_gan()
    seen, drawn = [], []
    x = tf.constant(np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3))
    batch = {"x": x, "label": tf.zeros([4, 5], tf.int32)}

    def real_inputs(b):
        assert b["label"].shape == (4,)
        seen.append(b["x"].numpy())
        return b["x"]

    def draw_fakes():
        drawn.append(1)
        return generator_net(rng.normal([4, 2]), training=True)

    critic = adversarial.Critic("toy", critic_net, d_opt, real_inputs, lambda f: f, 4)
    metrics = adversarial.train_step(
        [critic], adversarial.Generator(generator_net.trainable_variables, g_opt),
        adversarial.split_real_batches(batch, 5), draw_fakes, losses.LOSS_PAIRS["hinge"], rng)
    assert iterations(d_opt) == 5 and iterations(g_opt) == 1
    assert len(seen) == 5 and len(drawn) == 5  # share_fakes: G reuses the last round's
    for i, inputs in enumerate(seen):
        np.testing.assert_array_equal(inputs, x.numpy()[:, i])
    assert len({a.tobytes() for a in seen}) == 5
    assert set(metrics) == {"d_toy_loss", "d_toy_real", "d_toy_fake", "g_loss"}


def test_image_gan_n_critic_five_in_one_step():
    task, _ = tiny_task("image_gan", n_critic=5)
    task.build()
    assert task.data_requirements().real_batches == 5
    batch = real_batch(task, n=5)
    metrics = task.train_step(batch, tf.constant(0, tf.int64),
                              tf.random.Generator.from_seed(0), task.config.batch_size)
    assert iterations(task.image_discriminator_optimizer) == 5
    assert iterations(task.generator_optimizer) == 1
    assert all(np.isfinite(float(v)) for v in metrics.values())


def iterations(optimizer):
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def test_mocogan_n_critic_through_the_trainer(tmp_path, cpu_strategy):
    """The pipeline delivers the real-batch axis; D_I, D_V updated twice per G update."""
    trainer = tiny_trainer("mocogan", tmp_path, cpu_strategy(2), max_steps=2, n_critic=2)
    metrics = trainer.train()
    assert all(np.isfinite(v) for v in metrics.values())
    task = trainer.task
    assert iterations(task.generator_optimizer) == 2
    assert iterations(task.image_discriminator_optimizer) == 4
    assert iterations(task.video_discriminator_optimizer) == 4


# Constraints ---------------------------------------------------------------------------------

def test_weight_clipping_keeps_weights_within_c():
    critic_net, generator_net, d_opt, g_opt, rng = toy_gan()
    critic_net.set_weights([w * 0 + 3.0 for w in critic_net.get_weights()])
    critic = adversarial.Critic("toy", critic_net, d_opt, lambda b: b["x"], lambda f: f, 4)
    generator = adversarial.Generator(generator_net.trainable_variables, g_opt)
    adversarial.train_step([critic], generator, [{"x": tf.ones([4, 3])}],
                           lambda: generator_net(rng.normal([4, 2])),
                           losses.LOSS_PAIRS["wasserstein"], rng)
    for w in critic_net.get_weights():
        assert np.abs(w).max() <= 0.01 + 1e-7
    assert np.abs(generator_net.get_weights()[0]).max() > 0.01  # G is not clipped


def spectrum_max(kernel):
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False).max()


def test_singular_value_clipping_leaves_no_singular_value_above_one():
    conv = keras.layers.Conv2D(5, 3)
    conv.build((None, 8, 8, 4))
    dense = keras.layers.Dense(6)
    dense.build((None, 7))
    for layer in (conv, dense):
        layer.kernel.assign(3.0 * tf.random.normal(layer.kernel.shape, seed=1))
        layer.bias.assign(tf.fill(layer.bias.shape, 5.0))
    variables = conv.weights + dense.weights
    kernel_before = conv.kernel.numpy()
    svc = adversarial.singular_value_clipping(every=5)
    adversarial.apply_constraints([svc], variables, iteration=tf.constant(3))
    np.testing.assert_array_equal(conv.kernel.numpy(), kernel_before)  # not due
    adversarial.apply_constraints([svc], variables, iteration=tf.constant(10))
    for layer in (conv, dense):
        assert spectrum_max(layer.kernel.numpy()) <= 1.0 + 1e-5
        np.testing.assert_array_equal(layer.bias.numpy(), 5.0)  # biases untouched
    # Singular values already below 1 are kept: clipping a clipped kernel changes nothing.
    once = conv.kernel.numpy()
    adversarial.apply_constraints([svc], variables, iteration=tf.constant(15))
    np.testing.assert_allclose(conv.kernel.numpy(), once, atol=1e-5)


def test_constraints_inside_strategy_run_on_two_replicas(cpu_strategy):
    strategy = cpu_strategy(2)
    kernel = 4.0 * np.random.default_rng(2).normal(size=[6, 4]).astype(np.float32)
    with strategy.scope():
        dense = keras.layers.Dense(4)
        dense.build((None, 6))
        dense.kernel.assign(kernel)

    @tf.function
    def step(constraints, iteration):
        strategy.run(lambda: adversarial.apply_constraints(constraints, dense.weights, iteration))

    def components():
        return [c.numpy() for c in dense.kernel.value.values]

    svc = [adversarial.singular_value_clipping(every=5)]
    step(svc, tf.constant(3, tf.int64))  # not due
    for component in components():
        np.testing.assert_array_equal(component, kernel)
    step(svc, tf.constant(10, tf.int64))
    for component in components():
        assert spectrum_max(component) <= 1.0 + 1e-5
    step([adversarial.weight_clipping(0.05)], tf.constant(11, tf.int64))
    a, b = components()
    assert np.abs(a).max() <= 0.05 + 1e-7
    np.testing.assert_array_equal(a, b)


# Loss pairs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("replicas", [1, 2])
@pytest.mark.parametrize("gan_loss", sorted(losses.LOSS_PAIRS))
def test_each_loss_pair_trains(gan_loss, replicas, tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path, cpu_strategy(replicas), max_steps=2,
                           gan_loss=gan_loss)
    assert trainer.task.gan_loss.name == gan_loss
    metrics = trainer.train()
    assert trainer.current_step == 2
    assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics


def test_wgan_gp_on_a_categorical_video_gan_with_r1(tmp_path, cpu_strategy):
    """Penalties through D_V's 3-D convolutions (second derivatives) and its category head."""
    trainer = tiny_trainer("mocogan", tmp_path, cpu_strategy(2), max_steps=2,
                           gan_loss="wgan_gp", num_categories=3, r1_gamma=1.0)
    gan = trainer.task.gan_loss
    assert (gan.gradient_penalty, gan.drift, gan.r1_gamma) == (10.0, 0.001, 1.0)
    metrics = trainer.train()
    assert all(np.isfinite(v) for v in metrics.values()), metrics


def test_penalty_settings_reach_the_loss_pair():
    assert losses.gan_loss("wgan_gp", gradient_penalty=5.0, drift=0.0).drift == 0.0
    assert losses.gan_loss("wgan_gp", gradient_penalty=5.0).gradient_penalty == 5.0
    plain = losses.gan_loss("non_saturating", gradient_penalty=5.0, drift=0.1)
    assert (plain.gradient_penalty, plain.drift, plain.r1_gamma) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="one of"):
        losses.gan_loss("lsgan")


# Moving average of the generator --------------------------------------------------------------

def test_ema_update_rule():
    v = tf.Variable([1.0, 2.0])
    ema = ExponentialMovingAverage([v], 0.5)
    v.assign([3.0, 4.0])
    ema.update()  # the first update copies (a warm start after build is averaged from)
    np.testing.assert_allclose(ema.shadows[0].numpy(), [3.0, 4.0])
    v.assign([5.0, 8.0])
    ema.update()
    np.testing.assert_allclose(ema.shadows[0].numpy(), [4.0, 6.0])
    with ema.swapped():
        np.testing.assert_allclose(v.numpy(), [4.0, 6.0])
    np.testing.assert_allclose(v.numpy(), [5.0, 8.0])


def test_ema_differs_from_raw_weights_and_is_checkpointed(tmp_path, cpu_strategy):
    trainer = tiny_trainer("rjgan", tmp_path, cpu_strategy(2), max_steps=3, ema_decay=0.5)
    trainer.train()
    task = trainer.task
    ema = task.generator_ema
    assert int(ema.num_updates.numpy()) == 3
    assert len(ema.shadows) == sum(len(n.trainable_variables)
                                   for n in task.generator_networks().values())
    raw = [v.numpy() for v in ema.averaged_variables]
    averaged = [s.numpy() for s in ema.shadows]
    assert any(not np.allclose(a, b) for a, b in zip(raw, averaged))
    with task.sampling_weights():
        np.testing.assert_array_equal(ema.averaged_variables[0].numpy(), averaged[0])
    np.testing.assert_array_equal(ema.averaged_variables[0].numpy(), raw[0])

    resumed = tiny_trainer("rjgan", tmp_path, cpu_strategy(2), max_steps=3, ema_decay=0.5)
    assert resumed.resumed_from
    for a, b in zip(resumed.task.generator_ema.shadows, averaged):
        np.testing.assert_array_equal(a.numpy(), b)
    assert int(resumed.task.generator_ema.num_updates.numpy()) == 3


def test_no_ema_by_default(tmp_path, cpu_strategy):
    task, _ = tiny_task("mocogan")
    task.build()
    assert task.generator_ema is None and "generator_ema" not in task.checkpoint_items()
    with task.sampling_weights():
        pass


def test_export_samples_with_the_averaged_generator(tmp_path, cpu_strategy):
    trainer = tiny_trainer("image_gan", tmp_path / "run", cpu_strategy(1), max_steps=3,
                           ema_decay=0.5)
    trainer.train()
    task = trainer.task
    path = export.export(task, str(tmp_path / "exports"), "image_gan", 3, warmup_batch_sizes=())
    loaded = tf.saved_model.load(path)
    got = loaded.sample_images(seed=tf.constant(7, tf.int64),
                               num_images=tf.constant(3))["image"].numpy()
    with task.sampling_weights():
        averaged = to_uint8(task.sample_images(StatelessNoise(7), 3)).numpy()
    raw = to_uint8(task.sample_images(StatelessNoise(7), 3)).numpy()
    np.testing.assert_array_equal(got, averaged)
    assert not np.array_equal(got, raw)
