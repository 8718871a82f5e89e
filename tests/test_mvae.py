"""MVAE (product of experts, sub-sampled ELBO) and the multimodal VAE-GAN (seed 000):
pure functions against numpy, the objective's terms, a few steps on 1 and 2 replicas,
resume, export and the prediction rollout."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import SIZE, run_bin, run_python, tiny_data, weights
from tfvidgen import export
from tfvidgen.data import pipeline
from tfvidgen.data.synthetic_attributes import ATTRIBUTE_NAMES, SyntheticAttributes
from tfvidgen.models import mvae, vaegan
from tfvidgen.models.base import DataSpec, StatelessNoise, to_uint8
from tfvidgen.train.loop import TrainConfig, Trainer

TINY = dict(batch_size=2, latent_dim=4, width=4, hidden=8, n_past=2, n_future=2, n_eval=5,
            kl_anneal_steps=4)


def tiny(name="mvae", **overrides):
    values = dict(TINY, **overrides)
    if name == "vaegan":
        values.setdefault("disc_width", 4)
        values.setdefault("gamma", 0.5)
        return vaegan.VAEGAN(vaegan.VAEGANConfig(**values), DataSpec(image_size=SIZE))
    return mvae.MVAE(mvae.MVAEConfig(**values), DataSpec(image_size=SIZE))


def attribute_data():
    source = SyntheticAttributes(image_size=SIZE, num_identities=3, num_takes=1, video_length=4)
    return pipeline.split_sources(source, seed=0)


# Pure functions ---------------------------------------------------------------------------

def _numpy_poe(mu, logvar, mask, prior=True, eps=1e-8):
    precision = mask / (np.exp(logvar) + eps)
    total = precision.sum(0) + (1.0 / (1.0 + eps) if prior else 0.0)
    mean = (mu * precision).sum(0) / total
    return mean, np.log(1.0 / total)


def test_product_of_experts_matches_numpy_with_the_prior_expert():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=[3, 5, 4]), rng.normal(size=[3, 5, 4])
    for mask in ([1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 0]):
        m = np.array(mask, float)[:, None, None]
        got = mvae.product_of_experts(mu, logvar, m)
        want = _numpy_poe(mu, logvar, m)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
    # No expert: the prior N(0, I); one unit expert N(m, 1) with the prior: N(m / 2, 1 / 2).
    m, lv = mvae.product_of_experts(mu, logvar, np.zeros([3, 1, 1]))
    np.testing.assert_allclose(m, 0.0, atol=1e-7)
    np.testing.assert_allclose(lv, 0.0, atol=1e-6)
    m, lv = mvae.product_of_experts(mu[:1], np.zeros([1, 5, 4]))
    np.testing.assert_allclose(m, mu[0] / 2, rtol=1e-5)
    np.testing.assert_allclose(lv, np.log(0.5), rtol=1e-5)
    # Without the prior expert, one expert is itself.
    m, lv = mvae.product_of_experts(mu[:1], logvar[:1], prior=False)
    np.testing.assert_allclose(m, mu[0], rtol=1e-5)
    np.testing.assert_allclose(lv, logvar[0], rtol=1e-4, atol=1e-6)


def test_subset_masks_and_kl_annealing():
    np.testing.assert_array_equal(mvae.subset_masks(2), [[1, 1], [1, 0], [0, 1]])
    masks = mvae.subset_masks(3, [5, 2])
    np.testing.assert_array_equal(masks, [[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                                          [1, 0, 1], [0, 1, 0]])
    assert mvae.subset_names(("a", "b"), 2) == ["joint", "a", "b", "random_0", "random_1"]
    got = [float(mvae.kl_weight(s, 10, beta=2.0)) for s in (0, 5, 10, 50)]
    np.testing.assert_allclose(got, [0.0, 1.0, 2.0, 2.0])
    assert float(mvae.kl_weight(0, 0, beta=0.5)) == 0.5


@pytest.mark.parametrize("modality,names", [("video", ("current", "previous")),
                                            ("image_attributes", ("image", "attributes"))])
def test_the_subsampled_objective_counts_its_elbo_terms(modality, names):
    task = tiny(modality=modality, random_subsets=2)
    task.build()
    assert task.modalities == names
    if modality == "video":
        inputs = tf.random.uniform([2, 4, SIZE, SIZE, 3])
    else:
        inputs = {"image": tf.random.uniform([2, SIZE, SIZE, 3]),
                  "attributes": tf.ones([2, len(ATTRIBUTE_NAMES)])}
    targets = task.targets(inputs)
    mu, logvar = task.experts(inputs, training=False)
    rows = 6 if modality == "video" else 2  # video: B (T - 1) pairs
    assert mu.shape == (2, rows, 4)
    masks = mvae.subset_masks(2, [3, 1])
    terms = task.subsampled_elbo(targets, mu, logvar, masks, tf.zeros([5, rows, 4]), 1.0, False)
    assert len(terms) == 5  # joint + 2 singles + k = 2 random subsets
    seen = [sorted(k[4:] for k in t if k.startswith("nll_")) for t in terms[:3]]
    assert seen == [sorted(names), [names[0]], [names[1]]]
    for t in terms:
        assert t["loss"].shape == (rows,) and t["kl"].shape == (rows,)
    # A random subset {first modality} equals the single ELBO of that modality.
    np.testing.assert_allclose(terms[4]["loss"], terms[1]["loss"], rtol=1e-5)
    np.testing.assert_allclose(terms[3]["loss"], terms[0]["loss"], rtol=1e-5)


# The prediction rollout -------------------------------------------------------------------

def test_predict_continues_real_context_for_any_number_of_frames():
    task = tiny()
    task.build()
    clips = tf.random.uniform([3, 4, SIZE, SIZE, 3], -1.0, 1.0)
    assert task.context_length(9) == 2
    with pytest.raises(ValueError, match="context"):
        task.sample(StatelessNoise(0), 3, 9)
    videos = task.sample(StatelessNoise(0), 3, 9, context=clips).numpy()
    assert videos.shape == (3, 9, SIZE, SIZE, 3)
    np.testing.assert_allclose(videos[:, :2], clips[:, :2].numpy())
    short = task.predict(clips[:, :2], 3, StatelessNoise(0)).numpy()
    np.testing.assert_allclose(videos[:, 2:5], short, atol=1e-5)  # a prefix of a longer rollout
    assert task.predict(clips[:, :2], 0, StatelessNoise(0)).shape[1] == 0
    assert task.predict(clips[:, :1], 2, StatelessNoise(0)).shape == (3, 2, SIZE, SIZE, 3)
    assert task.reconstruct(clips).shape == clips.shape


# Training ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,modality,replicas", [
    ("mvae", "video", 1), ("mvae", "image_attributes", 2),
    ("vaegan", "image_attributes", 1), ("vaegan", "video", 2)])
def test_trains_a_few_steps(name, modality, replicas, tmp_path, cpu_strategy):
    video = modality == "video"  # video: 2 pairs per clip, image_attributes: a random subset
    task = tiny(name, modality=modality, random_subsets=0 if video else 1,
                n_future=1 if video else 2)
    data = tiny_data() if modality == "video" else attribute_data()
    config = TrainConfig(model_dir=str(tmp_path), max_steps=2, batch_size=2, seed=0,
                         summary_every=1, sample_every=2, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, data, config, cpu_strategy(replicas))
    before = weights(task.decoders[task.modalities[0]])
    metrics = trainer.train()
    assert trainer.current_step == 2
    kls = {f"kl_{n}" for n in mvae.subset_names(task.modalities, 0 if video else 1)}
    assert kls | {"kl_weight"} <= set(metrics)
    if name == "vaegan":
        assert {"encoder_loss", "decoder_loss", *(f"d_{m}_loss" for m in task.modalities)} \
            <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    after = weights(task.decoders[task.modalities[0]])
    assert any(not np.allclose(x, y) for x, y in zip(before, after))
    assert trainer.write_sample_files().endswith("samples.gif")


def _trainer(model_dir, strategy):
    config = TrainConfig(model_dir=str(model_dir), max_steps=4, batch_size=2, seed=3,
                         summary_every=100, sample_every=100, checkpoint_every=100,
                         num_samples=2)
    return Trainer(tiny("vaegan", modality="image_attributes", random_subsets=1),
                   attribute_data(), config, strategy)


def test_resume_continues_like_an_uninterrupted_run(tmp_path, cpu_strategy):
    straight = _trainer(tmp_path / "a", cpu_strategy(1))
    straight.train(max_steps=1)
    want = straight.train(max_steps=2)
    first = _trainer(tmp_path / "b", cpu_strategy(1))
    first.train(max_steps=1)
    resumed = _trainer(tmp_path / "b", cpu_strategy(1))
    assert resumed.resumed_from and resumed.current_step == 1
    got = resumed.train(max_steps=2)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for name, net in straight.task.networks().items():  # BatchNorm statistics included
        for a, b in zip(weights(net), weights(resumed.task.networks()[name])):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=name)


# Export -------------------------------------------------------------------------------------

def test_export_round_trip_of_predict_sample_and_reconstruct(tmp_path):
    task = tiny(recurrent=True)
    task.build()
    path = export.export(task, str(tmp_path), "mvae", 1, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    clips = to_uint8(tf.random.uniform([2, 4, SIZE, SIZE, 3], -1.0, 1.0, seed=1))
    out = loaded.signatures["predict"](context=clips[:, :2], seed=tf.constant(3, tf.int64),
                                       num_future=tf.constant(4))["video"].numpy()
    want = to_uint8(task.predict(tf.cast(clips[:, :2], tf.float32) / 127.5 - 1.0, 4,
                                 StatelessNoise(3))).numpy()
    assert out.shape == (2, 6, SIZE, SIZE, 3)
    np.testing.assert_array_equal(out[:, :2], clips[:, :2].numpy())
    assert np.abs(out[:, 2:].astype(int) - want.astype(int)).max() <= 1
    pairs = loaded.signatures["sample"](seed=tf.constant(5, tf.int64),
                                        num_samples=tf.constant(3))["sample"].numpy()
    assert pairs.shape == (3, 2, SIZE, SIZE, 3)
    recon = loaded.signatures["reconstruct"](video=clips)["video"].numpy()
    assert recon.shape == clips.shape


def test_vaegan_image_attributes_export_generates_each_modality(tmp_path):
    task = tiny("vaegan", modality="image_attributes")
    task.build()
    assert task.context_length(1) == 0
    path = export.export(task, str(tmp_path), "vaegan", 1, warmup_batch_sizes=(1,))
    loaded = tf.saved_model.load(path)
    attrs = tf.ones([2, len(ATTRIBUTE_NAMES)])
    image = loaded.signatures["image_from_attributes"](attributes=attrs,
                                                       seed=tf.constant(1, tf.int64))["image"]
    want = to_uint8(task.generate("attributes", attrs, StatelessNoise(1))).numpy()
    assert np.abs(image.numpy().astype(int) - want.astype(int)).max() <= 1
    probs = loaded.signatures["attributes_from_image"](image=image)["attributes"].numpy()
    assert probs.shape == (2, len(ATTRIBUTE_NAMES)) and ((probs >= 0) & (probs <= 1)).all()
    video = loaded.serving_default(seed=tf.constant(7, tf.int64),
                                   num_videos=tf.constant(2))["video"].numpy()
    np.testing.assert_array_equal(video, to_uint8(task.sample(StatelessNoise(7), 2, 1)).numpy())


# Data and the command line --------------------------------------------------------------------

def test_synthetic_attributes_are_deterministic_binary_extras():
    a = SyntheticAttributes(image_size=SIZE, num_identities=5, num_takes=1, video_length=2)
    b = SyntheticAttributes(image_size=SIZE, num_identities=5, num_takes=1, video_length=2)
    assert a.extra_specs() == {"attributes": (np.dtype(np.float32), (18,))}
    table = np.stack([a.extras(i)["attributes"] for i in range(len(a))])
    np.testing.assert_array_equal(table, np.stack([b.attributes(i) for i in range(len(b))]))
    assert set(np.unique(table)) <= {0.0, 1.0}
    np.testing.assert_array_equal(table[:, :5].sum(1), 1)  # one hair style each
    np.testing.assert_array_equal(table[:, 5:11].sum(1), 1)  # one hair colour each


@pytest.mark.parametrize("cfg", ["mvae_video_synthetic_expressions",
                                 "vaegan_synthetic_attributes"])
def test_bin_train_from_the_cpu_configs(cfg, tmp_path):
    run_dir = str(tmp_path / "run")
    run_bin("train", f"--flagfile=configs/{cfg}.cfg", f"--model_dir={run_dir}",
            "--image_size=16", "--width=4", "--hidden=8", "--latent_dim=4", "--n_past=2",
            "--n_future=2", "--n_eval=4", "--synthetic_identities=2", "--synthetic_takes=1",
            "--synthetic_video_length=6", "--batch_size=2", "--max_steps=2",
            "--summary_every=1", "--sample_every=2", "--num_samples=2",
            *(["--disc_width=4"] if cfg.startswith("vaegan") else []))
    assert os.path.exists(os.path.join(run_dir, "samples.gif"))


OFFICIAL = {"mvae_celeba": dict(batch_size=100, latent_dim=100, width=32, hidden=512,
                                kl_anneal_steps=32560, learning_rate=1e-4),
            "vaegan_celeba": dict(batch_size=64, latent_dim=128, width=32, hidden=512,
                                  disc_width=32, kl_anneal_steps=32560, gamma=1e-6)}
_PARSE = """
import dataclasses, json, sys
from tfvidgen import experiment
out = {}
for cfg in sys.argv[1:]:
    values, config = experiment.parse_command(["--flagfile=" + cfg])
    out[cfg] = dataclasses.asdict(config)
print(json.dumps(out))
"""


def test_defaults_are_cpu_sized_and_the_celeba_configs_carry_the_official_sizes():
    """No-flag runs train at CPU size; the paper configs set every size that differs."""
    cpu = dict(batch_size=8, latent_dim=64, width=16, hidden=128, n_past=2, n_future=8,
               n_eval=16, kl_anneal_steps=500)
    for cls in (mvae.MVAEConfig, vaegan.VAEGANConfig):
        defaults = cls()
        assert {k: getattr(defaults, k) for k in cpu} == cpu, cls.__name__
    assert vaegan.VAEGANConfig().disc_width == 16
    paths = [os.path.join("configs", f"{name}.cfg") for name in OFFICIAL]
    parsed = json.loads(run_python("-c", _PARSE, *paths).stdout.splitlines()[-1])
    for name, want in OFFICIAL.items():
        got = parsed[os.path.join("configs", f"{name}.cfg")]
        assert {k: got[k] for k in want} == want, name
