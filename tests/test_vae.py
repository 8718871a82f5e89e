"""DSA (Li & Mandt 2018) and RJVAE (seed 003, section 4.1): ELBO terms, swaps, training,
resume, export."""
import inspect
import math

import numpy as np
import pytest
import tensorflow as tf

from tfvidgen import export, registry
from tfvidgen.models import dsa
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8

SIZE = 16
TINY = dict(hidden=16, conv_width=8, frames=4, batch_size=2)
VARIANTS = {"dsa": dict(static_dim=6, dynamic_dim=3),
            "dsa_full": dict(static_dim=6, dynamic_dim=3, posterior="full"),
            "rjvae": dict(latent_dim=5, summary_std=2.0)}


def tiny(variant, **overrides):
    name = "rjvae" if variant == "rjvae" else "dsa"
    values = dict(TINY, **VARIANTS[variant])
    values.update(overrides)
    cls = registry.TASKS.get(name)
    return cls(cls.config_class(**values), DataSpec(image_size=SIZE))


def built(variant, **overrides):
    task = tiny(variant, **overrides)
    task.build()
    return task


def clips(batch=3, frames=4, seed=0):
    return tf.random.stateless_uniform([batch, frames, SIZE, SIZE, 3], [seed, 1], -1, 1)


def test_registered_names_and_defaults():
    c = dsa.DSAConfig()
    assert (c.static_dim, c.dynamic_dim, c.posterior, c.hidden, c.batch_size) == \
        (256, 32, "factorized", 512, 32)
    assert (c.learning_rate, c.decay_steps, c.likelihood_std, c.frames) == (1e-4, 10000, 1.0, 8)
    assert dsa.RJVAEConfig().latent_dim == 256 + 32
    assert registry.TASKS.get("dsa") is dsa.DSA and registry.TASKS.get("rjvae") is dsa.RJVAE


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_elbo_terms_match_closed_forms(variant):
    task = built(variant, likelihood_std=0.5)
    x01 = (clips() + 1) / 2
    eps_g = tf.random.stateless_normal([3, task.global_dim], [1, 2])
    eps_l = tf.random.stateless_normal([3, 4, task.local_dim], [1, 3])
    out = task.infer(x01, eps_g, eps_l)
    terms = task.negative_elbo(x01, eps_g, eps_l)
    # KL(N(m, v) || N(0, s^2)) = log(s / sqrt(v)) + (v + m^2) / (2 s^2) - 1/2, summed over dims.
    m, logvar = (t.numpy() for t in out["q_g"])
    s = task.global_std
    assert s == (2.0 if variant == "rjvae" else 1.0)
    kl_g = (np.log(s) - logvar / 2 + (np.exp(logvar) + m ** 2) / (2 * s * s) - 0.5).sum(1)
    np.testing.assert_allclose(terms["kl_global"], kl_g, rtol=1e-5, atol=1e-5)
    # sum_t KL(q(l_t | .) || p(l_t | l_<t, .)) between diagonal Gaussians.
    (mq, lq), (mp, lp) = [(a.numpy(), b.numpy()) for a, b in (out["q_l"], out["p_l"])]
    kl_l = (0.5 * (lp - lq) + (np.exp(lq) + (mq - mp) ** 2) / (2 * np.exp(lp)) - 0.5).sum((1, 2))
    np.testing.assert_allclose(terms["kl_local"], kl_l, rtol=1e-5, atol=1e-5)
    # -log N(x; mean, 0.5^2) summed over pixels and frames.
    mean = task.decode(out["g"], out["l"]).numpy()
    nll = (0.5 * (x01.numpy() - mean) ** 2 / 0.25 + math.log(0.5)
           + 0.5 * math.log(2 * math.pi)).sum((1, 2, 3, 4))
    np.testing.assert_allclose(terms["nll"], nll, rtol=1e-5)
    np.testing.assert_allclose(terms["loss"], nll + kl_g + kl_l, rtol=1e-5)
    # The prior of l_t sees l_<t only: changing l_T leaves p(l_1..T) alone.
    later = eps_l.numpy()
    later[:, -1] += 5
    again = task.infer(x01, eps_g, tf.constant(later))
    np.testing.assert_allclose(again["p_l"][0], out["p_l"][0], rtol=1e-5, atol=1e-6)


def test_posteriors_see_what_the_model_says():
    x = (clips() + 1) / 2
    zeros_g, zeros_l = tf.zeros([3, 6]), tf.zeros([3, 4, 3])
    changed = x.numpy()
    changed[:, 0] = 1 - changed[:, 0]  # frame 1 only
    for variant, local_changes_elsewhere in (("dsa", False), ("dsa_full", True)):
        task = built(variant)
        a = task.infer(x, zeros_g, zeros_l)
        b = task.infer(tf.constant(changed), zeros_g, zeros_l)
        assert not np.allclose(a["q_g"][0], b["q_g"][0])  # q(f | x_1:T) reads every frame
        later_same = np.allclose(a["q_l"][0][:, 1:], b["q_l"][0][:, 1:], atol=1e-6)
        assert later_same != local_changes_elsewhere  # factorized q(z_t | x_t) reads x_t only


def test_sampling_is_reproducible_and_any_length():
    for variant in VARIANTS:
        task = built(variant)
        a = task.sample(StatelessNoise(3), 2, 6)
        assert a.shape == (2, 6, SIZE, SIZE, 3)
        np.testing.assert_array_equal(a, task.sample(StatelessNoise(3), 2, 6))
        assert not np.allclose(a, task.sample(StatelessNoise(4), 2, 6))
    rj = built("rjvae")
    assert rj.sample_images(StatelessNoise(1), 3).shape == (3, SIZE, SIZE, 3)
    named = rj.sample_summaries(StatelessNoise(0), {"video": clips(2)})
    assert set(named) == {"samples", "reconstruction", "swap", "summary_prior",
                          "summary_posterior"}
    assert named["summary_posterior"].shape == (2, SIZE, SIZE, 3)
    assert named["swap"].shape == (2, 4, SIZE, 4 * SIZE + 3, 3)


def test_swap_exchanges_the_codes_it_names():
    for variant in VARIANTS:
        task = built(variant)
        a, b = clips(2, seed=1), clips(2, seed=2)
        g_a, l_a = task.encode_means(a)
        g_b, l_b = task.encode_means(b)
        static_b, dynamic_b = task.swap(a, b)
        np.testing.assert_allclose(static_b, dsa.from01(task.decode(g_b, l_a)), atol=1e-6)
        np.testing.assert_allclose(dynamic_b, dsa.from01(task.decode(g_a, l_b)), atol=1e-6)


def squares(n, seed, frames=4):
    """Videos [n, T, 16, 16, 3]: a 6x6 square of one of 4 colours (static) moving
    right or down from a random start (dynamic); colour indices."""
    rng = np.random.default_rng(seed)
    colours = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]], np.float32)
    videos = -np.ones([n, frames, SIZE, SIZE, 3], np.float32)
    which = rng.integers(0, 4, n)
    for i in range(n):
        x, y = rng.integers(0, 7, 2)
        dx, dy = (2, 0) if rng.random() < 0.5 else (0, 2)
        for t in range(frames):
            videos[i, t, y + dy * t:y + dy * t + 6, x + dx * t:x + dx * t + 6] = colours[which[i]]
    return videos, which, colours


def test_swapping_f_on_a_trained_model_carries_the_other_videos_content():
    tf.keras.utils.set_random_seed(0)
    task = built("dsa", likelihood_std=0.1, learning_rate=3e-3, decay_steps=0,
                 hidden=32, conv_width=16)
    step = tf.function(lambda batch: task.train_step(batch, 0, rng, 16))
    rng = tf.random.Generator.from_seed(0)
    for i in range(400):
        videos, _, _ = squares(16, i)
        step({"video": tf.constant(videos)})
    a, which_a, colours = squares(32, 10_000)
    b, which_b, _ = squares(32, 10_001)
    keep = which_a != which_b
    static_b, _ = task.swap(a, b)
    g_a, g_b = task.encode_means(a)[0], task.encode_means(b)[0]
    g_swapped = task.encode_means(static_b)[0]
    closer = (tf.norm(g_swapped - g_b, axis=1) < tf.norm(g_swapped - g_a, axis=1)).numpy()
    assert closer[keep].mean() > 0.75  # chance: 0.5; the model's own encoder reads b's f
    # ... and the square has b's colour: the mean colour of the foreground, per video.
    got = static_b.numpy().reshape(32, -1, 3)
    mask = (got.max(-1) > 0)[..., None]
    mean = (got * mask).sum(1) / np.maximum(mask.sum(1), 1)
    nearest = np.argmin(((mean[:, None] - colours[None]) ** 2).sum(-1), axis=1)
    assert (nearest == which_b)[keep].mean() > 0.7  # chance: 1/3


@pytest.mark.parametrize("variant", ["dsa_full", "rjvae"])
def test_export_and_serving_round_trip(variant, tmp_path):
    task = built(variant)
    kwargs = {}
    if "warmup_batch_sizes" in inspect.signature(export.export).parameters:
        kwargs["warmup_batch_sizes"] = (1,)
    path = export.export(task, str(tmp_path), variant, 1, **kwargs)
    loaded = tf.saved_model.load(path)
    sigs = loaded.signatures
    assert {"serving_default", "reconstruct", "swap"} <= set(sigs)
    video = loaded.serving_default(seed=tf.constant(7, tf.int64),
                                   num_videos=tf.constant(2))["video"]
    assert video.dtype == tf.uint8 and video.shape == (2, 4, SIZE, SIZE, 3)
    np.testing.assert_array_equal(video, to_uint8(task.sample(StatelessNoise(7), 2, 4)))
    a, b = to_uint8(clips(2, seed=1)), to_uint8(clips(2, seed=2))
    real = lambda v: tf.cast(v, tf.float32) / 127.5 - 1  # noqa: E731
    swapped = sigs["swap"](video_a=a, video_b=b)
    mine = task.swap(real(a), real(b))
    g, l = ("summary", "residual") if variant == "rjvae" else ("static", "dynamic")
    assert set(swapped) == {f"{g}_from_b", f"{l}_from_b"}
    np.testing.assert_allclose(swapped[f"{g}_from_b"].numpy(), to_uint8(mine[0]).numpy(), atol=1)
    np.testing.assert_allclose(swapped[f"{l}_from_b"].numpy(), to_uint8(mine[1]).numpy(), atol=1)
    rec = sigs["reconstruct"](video=a)
    np.testing.assert_allclose(rec["video"].numpy(), to_uint8(task.reconstruct(real(a))).numpy(),
                               atol=1)
    if variant == "rjvae":
        assert rec["summary"].shape == (2, SIZE, SIZE, 3)
