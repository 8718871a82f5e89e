"""DSA and RJVAE through the one trainer: a few steps on 1 and 2 replicas, resume,
the configs and bin/train."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import run_python, tiny_data, weights
from test_vae import tiny
from tfvidgen.train.loop import TrainConfig, Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("variant,replicas", [("dsa", 1), ("dsa", 2), ("dsa_full", 1),
                                              ("rjvae", 2)])
def test_trains_a_few_steps_on_one_and_two_devices(variant, replicas, tmp_path, cpu_strategy):
    task = tiny(variant)
    config = TrainConfig(model_dir=str(tmp_path), max_steps=3, batch_size=2, seed=0,
                         summary_every=1, sample_every=3, checkpoint_every=100, num_samples=2)
    trainer = Trainer(task, tiny_data(), config, cpu_strategy(replicas))
    assert trainer.strategy.num_replicas_in_sync == replicas
    before = weights(task.encoder) + weights(task.prior)
    metrics = trainer.train()
    assert trainer.current_step == 3
    names = ("kl_summary", "kl_residual") if variant == "rjvae" else ("kl_static", "kl_dynamic")
    assert {"loss", "nll", "mse", *names} <= set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    after = weights(task.encoder) + weights(task.prior)
    assert any(not np.allclose(x, y) for x, y in zip(before, after))
    assert trainer.write_sample_files().endswith("samples.gif")


def _trainer(variant, model_dir, strategy):
    config = TrainConfig(model_dir=str(model_dir), max_steps=4, batch_size=2, seed=3,
                         summary_every=100, sample_every=100, checkpoint_every=100,
                         num_samples=2)
    # A large learning rate, so that a network the checkpoint missed would show.
    return Trainer(tiny(variant, learning_rate=0.01), tiny_data(), config, strategy)


def test_checkpoint_restores_every_network_variable(tmp_path, cpu_strategy):
    from tfvidgen import runs
    trainer = _trainer("dsa_full", tmp_path, cpu_strategy(1))
    trainer.config.max_steps = 1
    trainer.train()
    fresh = tiny("dsa_full", learning_rate=0.01)
    fresh.build()
    assert fresh.encoder.levels == 1 and len(fresh.encoder.weights) == 4
    assert runs.restore(fresh, trainer.checkpoints.latest) == 1  # raises naming what is missing
    for name, net in trainer.task.networks().items():
        for a, b in zip(weights(net), weights(fresh.networks()[name])):
            np.testing.assert_array_equal(a, b)


def test_resume_continues_like_an_uninterrupted_run(tmp_path, cpu_strategy):
    straight = _trainer("rjvae", tmp_path / "a", cpu_strategy(1))
    straight.train(max_steps=2)
    want = straight.train(max_steps=3)
    first = _trainer("rjvae", tmp_path / "b", cpu_strategy(1))
    first.train(max_steps=2)
    resumed = _trainer("rjvae", tmp_path / "b", cpu_strategy(1))
    assert resumed.resumed_from and resumed.current_step == 2
    got = resumed.train(max_steps=3)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for a, b in zip(weights(straight.task.decoder), weights(resumed.task.decoder)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


CONFIGS = {"dsa_sprites": ("DSA", "sprites", 64, "factorized", 256, 32),
           "dsa_full_sprites": ("DSA", "sprites", 64, "full", 256, 32),
           "rjvae_sprites": ("RJVAE", "sprites", 64, None, 288, 288),
           "dsa_synthetic_expressions": ("DSA", "synthetic_expressions", 32, "factorized", 64,
                                         16),
           "rjvae_synthetic_expressions": ("RJVAE", "synthetic_expressions", 32, None, 80, 80)}
_PARSE = """
import json, sys
from tfvidgen import experiment
from tfvidgen.models.base import DataSpec
out = {}
for cfg in sys.argv[1:]:
    values, _ = experiment.parse_command(["--flagfile=" + cfg])
    task = experiment.build_task(values, DataSpec(image_size=values["image_size"]))
    c = task.config
    out[cfg] = [type(task).__name__, values["dataset"], values["image_size"],
                getattr(c, "posterior", None), task.global_dim, task.local_dim, c.frames]
print(json.dumps(out))
"""


_run = run_python


def test_configs_parse_and_carry_the_papers_settings():
    paths = [os.path.join("configs", f"{name}.cfg") for name in CONFIGS]
    parsed = json.loads(_run("-c", _PARSE, *paths).stdout.splitlines()[-1])
    for name, expected in CONFIGS.items():
        assert tuple(parsed[os.path.join("configs", f"{name}.cfg")]) == expected + (8,), name


def test_bin_train_from_the_cpu_config(tmp_path):
    run_dir = str(tmp_path / "run")
    _run(os.path.join(ROOT, "bin", "train"), "--flagfile=configs/rjvae_synthetic_expressions.cfg",
         f"--model_dir={run_dir}", "--image_size=16", "--hidden=8", "--conv_width=4",
         "--latent_dim=4", "--frames=4", "--synthetic_identities=2", "--synthetic_takes=1",
         "--synthetic_video_length=6", "--batch_size=2", "--max_steps=2", "--summary_every=1",
         "--sample_every=1", "--num_samples=2")
    assert os.path.exists(os.path.join(run_dir, "samples.gif"))
    assert "--model=rjvae" in open(os.path.join(run_dir, "flags.txt")).read()
