"""Figure 6.4 (seed 002): synchronised SM-MNIST batches, the learned prior's sigma over
time, the collision summary, the plot and bin/prior_uncertainty."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import square_digits
from tfvidgen import registry
from tfvidgen.data.moving_mnist import StochasticMovingMNIST, Trajectories
from tfvidgen.metrics import prior_uncertainty as pu
from tfvidgen.models import svg
from tfvidgen.models.base import DataSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16


def source(size=32, num_digits=2, **kwargs):
    return StochasticMovingMNIST(image_size=size, num_digits=num_digits, split="test",
                                 digits=square_digits(size // 2, count=40, margin=1, base=20,
                                                      step=5),
                                 num_videos=10, **kwargs)


# Synchronised batches ------------------------------------------------------------------

def test_synchronised_batches_share_motion_and_differ_in_digits():
    s = source()
    videos, motions, digits = pu.synchronised_videos(s, 3, 6, 40, seed=5)
    assert videos.shape == (3, 6, 40, 32, 32, 3) and videos.dtype == np.uint8
    assert digits.shape == (3, 6, 2) and len(motions) == 3
    limit, d = s.image_size - s.digit_size, s.digit_size
    for j, motion in enumerate(motions):
        assert motion.positions.shape == (40, 2, 2) and motion.collisions.shape == (40, 2)
        # Collision frames are where a digit sits at a wall, and there are some.
        assert motion.collisions.any()
        p = motion.positions
        for t, n in zip(*np.nonzero(motion.collisions)):
            assert np.any((p[t, n] == 0) | (p[t, n] == limit))
        # Every sequence shows its own digits exactly at the shared positions.
        assert len({tuple(x) for x in digits[j]}) == 6
        for b in range(6):
            for t in (0, 17, 39):
                expected = np.zeros([32, 32], np.int64)
                for n in range(2):
                    x, y = p[t, n]
                    expected[y:y + d, x:x + d] += s.digits.glyph(int(digits[j, b, n]))
                np.testing.assert_array_equal(videos[j, b, t, ..., 0], np.minimum(expected, 255))
        # Same motion, so pixels differ only through the digits' intensities.
        assert not np.array_equal(videos[j, 0], videos[j, 1])
        support = [(videos[j, b, :, :, :, 0] > 0) for b in range(6)]
        assert all(np.array_equal(support[0], m) for m in support[1:])
    # Trajectories differ from one another.
    assert not np.array_equal(motions[0].positions, motions[1].positions)


def test_synchronised_batches_are_deterministic_given_the_seed():
    s = source()
    a = pu.synchronised_videos(s, 2, 3, 20, seed=1)
    b = pu.synchronised_videos(s, 2, 3, 20, seed=1)
    c = pu.synchronised_videos(s, 2, 3, 20, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])
    for ma, mb in zip(a[1], b[1]):
        np.testing.assert_array_equal(ma.collisions, mb.collisions)
    assert not np.array_equal(a[1][0].positions, c[1][0].positions)


def test_synchronised_motion_follows_the_source_rules():
    """Deterministic (reflecting) dynamics keep the speed; stochastic ones redraw it."""
    det = pu.synchronised_trajectory(source(dynamics="deterministic"), 200, 0)
    speeds = np.abs(det.velocities).reshape(200, -1)
    assert np.all(speeds == speeds[0])
    sto = pu.synchronised_trajectory(source(), 200, 0)
    assert len({tuple(v) for v in np.abs(sto.velocities[:, 0])}) > 1
    assert pu.synchronised_trajectory(source(num_digits=1), 10, 0).positions.shape == (10, 1, 2)


# The prior's sigma -----------------------------------------------------------------------

def tiny_lp(variant="svg_lp"):
    config = svg.SVGConfig(n_past=2, n_future=3, n_eval=6, z_dim=3, g_dim=8, rnn_size=8,
                           encoder_width=4, frame_channels=1)
    task = registry.TASKS.get(variant)(config, DataSpec(image_size=SIZE))
    task.build()
    # Untrained N(0, 0.02) kernels leave sigma ~ 1 whatever the input: make it respond.
    for v in task.encoder.weights:
        if "kernel" in v.path:
            v.assign(v * 25)
    if variant == "svg_lp":
        task.prior.logvar.kernel.assign(task.prior.logvar.kernel * 30)
    return task


def test_prior_sigma_matches_a_step_by_step_computation():
    task = tiny_lp()
    videos, _, _ = pu.synchronised_videos(source(SIZE), 1, 5, 9, seed=3)
    videos = videos[0]
    sigma = pu.prior_sigma(task, videos, batch_size=2)  # chunks of 2, 2, 1
    assert sigma.shape == (5, 8)
    # Direct: encode each real frame alone, run the prior's cell one step at a time.
    frames = tf.reduce_mean(tf.cast(videos, tf.float32) / 255.0, -1, keepdims=True)
    state = task.prior.zero_state(5)
    expected = []
    for t in range(8):
        h, _ = task.encoder(frames[:, t], training=False)
        _, logvar, state = task.prior.step(h, state)
        expected.append(np.exp(0.5 * logvar.numpy()).mean(-1))
    expected = np.stack(expected, 1)
    np.testing.assert_allclose(sigma, expected, rtol=1e-4, atol=1e-6)
    assert sigma.std() > 1e-3  # the check above compares curves that vary


def test_prior_sigma_of_step_t_sees_frames_before_t_only():
    task = tiny_lp()
    videos, _, _ = pu.synchronised_videos(source(SIZE), 1, 2, 8, seed=0)
    base = pu.prior_sigma(task, videos[0])
    changed = videos[0].copy()
    changed[:, 4] = 255 - changed[:, 4]  # frame 4 is seen by z_5.. (columns 4..)
    sigma = pu.prior_sigma(task, changed)
    np.testing.assert_allclose(sigma[:, :4], base[:, :4], rtol=1e-6)
    assert np.abs(sigma[:, 4] - base[:, 4]).max() > 1e-4
    last = videos[0].copy()
    last[:, -1] = 0  # the last frame is never a condition
    np.testing.assert_allclose(pu.prior_sigma(task, last), base, rtol=1e-6)
    # uint8 and [-1, 1] floats are the same input.
    floats = videos[0].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(pu.prior_sigma(task, floats), base, rtol=1e-5)


@pytest.mark.parametrize("variant", ["svg_fp", "svg_det"])
def test_prior_sigma_rejects_models_without_a_learned_prior(variant):
    task = tiny_lp(variant)
    with pytest.raises(pu.NoLearnedPriorError, match="svg_lp"):
        pu.prior_sigma(task, np.zeros([1, 3, SIZE, SIZE, 3], np.uint8))


# Summary ---------------------------------------------------------------------------------

def motion(num_frames, hits):
    collisions = np.zeros([num_frames, 1], bool)
    collisions[list(hits), 0] = True
    zeros = np.zeros([num_frames, 1, 2], np.int64)
    return Trajectories(np.zeros(1, np.int64), np.zeros(1, np.int64), zeros, zeros, collisions)


def test_collision_summary_sees_peaks_after_collisions():
    m = motion(30, [6, 15, 22])
    steps = np.arange(1, 30)
    flat = np.full(29, 0.2)
    peaked = flat + 0.5 * np.isin(steps, [7, 16, 23])  # t = c + 1
    early = flat + 0.5 * np.isin(steps, [3, 11, 19])   # away from every collision
    s = pu.collision_summary(peaked, m)
    assert s["collision_frames"] == [6, 15, 22] and s["num_collision_steps"] == 3
    assert s["ratio"] == pytest.approx(0.7 / 0.2) and s["peak_precision"] == 1.0
    assert s["ratio_at_collision"] == pytest.approx(1.0)
    assert pu.collision_summary(flat, m)["ratio"] == pytest.approx(1.0)
    s = pu.collision_summary(early, m)
    assert s["ratio"] < 1 and s["peak_precision"] == 0.0
    assert s["peak_chance"] == pytest.approx(6 / 27)  # 6 of the steps 3..29 are near


def test_collision_summary_leaves_the_warmup_out():
    m = motion(12, [5])
    sigma = np.full(11, 0.1)
    sigma[0] = 5.0  # z_1: uncertain whatever the motion
    assert pu.collision_summary(sigma, m, warmup=2)["ratio"] == pytest.approx(1.0)
    assert pu.collision_summary(sigma, m, warmup=0)["ratio"] < 1


def test_analyse_writes_the_plot_and_report(tmp_path):
    task = tiny_lp()
    result = pu.analyse(task, source(SIZE), num_trajectories=2, sequences_per_trajectory=3,
                        num_frames=12, seed=4)
    assert len(result["trajectories"]) == 2 and result["steps"] == list(range(1, 12))
    for entry in result["trajectories"]:
        assert len(entry["sigma_mean"]) == 11 and len(entry["sigma_std"]) == 11
        assert len(entry["collision_frames_per_digit"]) == 2
    videos, _, _ = pu.synchronised_videos(source(SIZE), 2, 3, 12, seed=4)
    np.testing.assert_allclose(result["trajectories"][1]["sigma_mean"],
                               pu.prior_sigma(task, videos[1]).mean(0), rtol=1e-6)
    png = pu.plot(result, str(tmp_path / "fig" / "prior.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    path = pu.write_report(result, str(tmp_path / "prior.json"))
    with open(path) as f:
        loaded = json.load(f)
    assert set(loaded["summary"]) >= {"ratio", "sigma_after_collision", "sigma_elsewhere",
                                      "peak_precision"}


# bin/prior_uncertainty -------------------------------------------------------------------

def run_tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "prior_uncertainty"),
                           *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def fake_run(tmp_path, model, dataset="smmnist"):
    run_dir = tmp_path / model
    run_dir.mkdir()
    (run_dir / "flags.txt").write_text(f"--model={model}\n--dataset={dataset}\n"
                                       "--image_size=16\n")
    return str(run_dir)


@pytest.mark.parametrize("model", ["svg_fp", "svg_det", "rjgan"])
def test_cli_rejects_a_run_without_a_learned_prior(tmp_path, model):
    proc = run_tool(f"--model_dir={fake_run(tmp_path, model)}")
    assert proc.returncode == 2
    assert f"--model={model} run" in proc.stderr and "no learned prior" in proc.stderr
    assert "configs/svg_lp_smmnist.cfg" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_rejects_a_dataset_without_trajectories(tmp_path):
    proc = run_tool(f"--model_dir={fake_run(tmp_path, 'svg_lp', 'synthetic_expressions')}")
    assert proc.returncode == 2
    assert "--dataset=smmnist" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_on_a_trained_svg_lp_run(tmp_path):
    run_dir = str(tmp_path / "run")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    train = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train"), "--flagfile=configs/svg_lp_smmnist.cfg",
         f"--model_dir={run_dir}", "--image_size=16", "--encoder_width=4", "--g_dim=8",
         "--z_dim=2", "--rnn_size=8", "--n_past=2", "--n_future=2", "--n_eval=4",
         "--synthetic_video_length=6", "--batch_size=2", "--max_steps=1", "--summary_every=1",
         "--sample_every=100", "--num_samples=2"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert train.returncode == 0, train.stderr[-3000:]
    output = str(tmp_path / "out" / "prior.json")
    proc = run_tool(f"--model_dir={run_dir}", f"--output={output}", "--num_trajectories=2",
                    "--sequences_per_trajectory=3", "--num_frames=10", "--seed=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio:" in proc.stdout
    with open(output) as f:
        report = json.load(f)
    assert report["source"]["model"] == "svg_lp" and report["source"]["step"] == 1
    assert len(report["trajectories"]) == 2 and len(report["steps"]) == 9
    assert report["files"]["plot"] == str(tmp_path / "out" / "prior.png")
    assert os.path.getsize(report["files"]["plot"]) > 1000
