"""The learned prior as a predictive model of uncertainty (seed 002, Figure 6.4).

SVG-LP's prior p_psi(z_t | x_1:t-1) = N(mu_psi, sigma_psi^2) is trained to
match the posterior q_phi(z_t | x_1:t). On Stochastic Moving MNIST a digit
moves deterministically except when it hits a wall, where it gets a random
new velocity, so a well-trained prior should predict a small sigma for most
steps and a large one right after a collision. Figure 6.4 shows this by
feeding many sequences with *synchronised* trajectories (the same motion,
different test digits) through the prior and plotting the mean sigma over
time against the collision times.

This module provides the three pieces:

* ``synchronised_videos``: J trajectories, each rendered with B different
  digit draws (same positions, velocities and collision frames for the B
  sequences), deterministic given a seed, with the shared ``Trajectories``;
* ``prior_sigma``: per-sequence, per-step mean (over z's dimensions) of
  sigma_psi = exp(log sigma^2 / 2), the prior run teacher-forced over the
  encodings h_1..h_T-1 of the *real* frames (as in training);
* ``collision_summary`` and ``plot``: how much larger sigma is at the steps
  that follow a collision than elsewhere, and the figure.

Time convention (0-based frame indices, as ``Trajectories.collisions``):
``sigma[:, t - 1]`` belongs to z_t, the latent that generates frame t from
x_0..x_t-1, for t = 1..T-1. A collision at frame c (the digit reached the
wall there and its velocity was redrawn) makes frame c + 1 unpredictable;
the prior sees x_c when it predicts z_c+1, so its peak is expected at step
c + 1 (just right of the vertical line drawn at c). Step c itself is still
deterministic (the wall stops the digit where the old velocity takes it).

``bin/prior_uncertainty`` (``tfvidgen/cli/prior_uncertainty.py``) runs it on
a trained run; see docs/prediction.md.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import numpy as np

from tfvidgen.data.moving_mnist import StochasticMovingMNIST, Trajectories, simulate

# Steps at the start of a sequence left out of the summary: z_1 is uncertain
# whatever the dynamics (the velocity cannot be read from one frame) and the
# prior's LSTM has seen one frame only.
DEFAULT_WARMUP = 2


class NoLearnedPriorError(ValueError):
    """The task has no learned prior (SVG-FP, the deterministic baseline, a GAN)."""


# Data ----------------------------------------------------------------------------------

def synchronised_trajectory(source: StochasticMovingMNIST, num_frames: int, seed: int,
                            index: int = 0) -> Trajectories:
    """Trajectory ``index`` (motion only: ``digits``/``labels`` are -1) of a seed.

    The motion follows the source's rules (frame size, velocity table,
    stochastic or deterministic bounces, number of digits).
    """
    rng = np.random.default_rng([int(seed), int(index), 0x5C])
    limit = source.image_size - source.digit_size
    tracks = [simulate(rng, num_frames, limit, source.table, source.dynamics == "deterministic")
              for _ in range(source.num_digits)]
    missing = np.full(source.num_digits, -1, np.int64)
    return Trajectories(digits=missing, labels=missing,
                        positions=np.stack([t[0] for t in tracks], axis=1),
                        velocities=np.stack([t[1] for t in tracks], axis=1),
                        collisions=np.stack([t[2] for t in tracks], axis=1))


def synchronised_videos(source: StochasticMovingMNIST, num_trajectories: int,
                        sequences_per_trajectory: int, num_frames: int, seed: int = 0):
    """Batches of videos that share their motion but not their digits.

    Args:
      source: the SM-MNIST source whose digit bank (its split: use the test
        split for held-out digits), frame size and motion rules are used.
      num_trajectories: J, independent trajectories.
      sequences_per_trajectory: B, videos per trajectory, each with its own
        digits (distinct digit indices within a trajectory while the bank
        has enough).
      num_frames: T.
      seed: same seed, same trajectories and digits.
    Returns:
      (videos uint8 [J, B, T, S, S, 3], trajectories: list of J
      ``Trajectories`` (the shared motion; ``digits`` -1), digits int
      [J, B, N]: the digit-bank indices of every video).
    """
    if num_trajectories < 1 or sequences_per_trajectory < 1 or num_frames < 2:
        raise ValueError("need >= 1 trajectory, >= 1 sequence per trajectory and >= 2 frames")
    size = source.image_size
    videos = np.zeros([num_trajectories, sequences_per_trajectory, num_frames, size, size, 3],
                      np.uint8)
    digits = np.zeros([num_trajectories, sequences_per_trajectory, source.num_digits], np.int64)
    trajectories = []
    bank = len(source.digits)
    need = sequences_per_trajectory * source.num_digits
    for j in range(num_trajectories):
        motion = synchronised_trajectory(source, num_frames, seed, j)
        trajectories.append(motion)
        rng = np.random.default_rng([int(seed), j, 0xD1])
        drawn = rng.choice(bank, size=need, replace=need > bank)
        digits[j] = drawn.reshape(sequences_per_trajectory, source.num_digits)
        for b in range(sequences_per_trajectory):
            meta = Trajectories(digits=digits[j, b], labels=motion.labels,
                                positions=motion.positions, velocities=motion.velocities,
                                collisions=motion.collisions)
            videos[j, b] = source.render(meta, range(num_frames))
    return videos, trajectories, digits


# The prior's sigma ----------------------------------------------------------------------

def check_learned_prior(task) -> None:
    """Raises NoLearnedPriorError unless ``task`` is an SVG-LP (has ``prior``)."""
    if getattr(task, "variant", None) != "lp" or not hasattr(task, "prior"):
        raise NoLearnedPriorError(
            f"{type(task).__name__} has no learned prior p_psi(z_t | x_1:t-1): the "
            "uncertainty plot needs an SVG-LP run (--model=svg_lp; SVG-FP's prior is the "
            "fixed N(0, I) and the deterministic baseline has no z). Train one with "
            "bin/train --flagfile=configs/svg_lp_smmnist.cfg.")


def prior_sigma(task, videos, batch_size: int = 32) -> np.ndarray:
    """Per-step mean sigma_psi of a restored SVG-LP over real sequences.

    Args:
      task: a built (restored) SVG-LP task.
      videos: [B, T, H, W, C] uint8 (0..255) or float in [-1, 1].
      batch_size: sequences encoded per call.
    Returns:
      float64 [B, T - 1]: entry [b, t - 1] is the mean over z's dimensions of
      exp(logvar_psi / 2) of z_t, with the prior run over the encodings of
      the real frames x_0..x_t-1 (teacher forcing, BatchNorm in inference
      mode), t = 1..T-1.
    """
    import tensorflow as tf

    check_learned_prior(task)
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[1] < 2:
        raise ValueError(f"videos must be [B, T >= 2, H, W, C], got {videos.shape}")
    out = []
    for start in range(0, len(videos), batch_size):
        chunk = videos[start:start + batch_size]
        frames = (tf.cast(chunk, tf.float32) / 127.5 - 1.0 if chunk.dtype == np.uint8
                  else tf.convert_to_tensor(chunk, tf.float32))
        h, _ = task._encode(task.to_model(frames), training=False)
        _, logvar, _ = task.prior(h[:, :-1], training=False)
        out.append(tf.reduce_mean(tf.exp(0.5 * logvar), axis=-1).numpy())
    return np.concatenate(out).astype(np.float64)


# Summary -------------------------------------------------------------------------------

def collision_steps(trajectory: Trajectories, offsets: Sequence[int] = (1,)) -> np.ndarray:
    """bool [T - 1] over steps t = 1..T-1: t = c + offset for a collision frame c."""
    num_frames = trajectory.collisions.shape[0]
    hit = np.zeros(num_frames - 1, bool)
    frames = np.flatnonzero(trajectory.collisions.any(axis=1))
    for offset in offsets:
        t = frames + offset
        t = t[(t >= 1) & (t <= num_frames - 1)]
        hit[t - 1] = True
    return hit


def collision_summary(mean_sigma: np.ndarray, trajectory: Trajectories,
                      warmup: int = DEFAULT_WARMUP) -> dict:
    """How well sigma's peaks line up with one trajectory's collisions.

    Args:
      mean_sigma: [T - 1] the sigma curve (mean over sequences) of steps 1..T-1.
      trajectory: the shared motion.
      warmup: the first ``warmup`` steps (t = 1..warmup) are left out.
    Returns:
      dict of plain floats: ``sigma_after_collision`` (mean at t = c + 1),
      ``sigma_at_collision`` (t = c), ``sigma_elsewhere`` (every other step),
      ``ratio`` = after / elsewhere (> 1: the prior is more uncertain right
      after collisions), ``ratio_at_collision``, and ``peak_precision``: of
      the K largest sigmas (K = the number of collision steps t = c + 1
      counted), the fraction at t = c or c + 1 (chance level:
      ``peak_chance``, the fraction of counted steps that are).
    """
    sigma = np.asarray(mean_sigma, np.float64)
    keep = np.arange(1, len(sigma) + 1) > warmup
    after = collision_steps(trajectory, (1,)) & keep
    at = collision_steps(trajectory, (0,)) & keep
    near = after | at
    other = keep & ~near
    nan = float("nan")

    def mean(mask):
        return float(sigma[mask].mean()) if mask.any() else nan

    k = int(after.sum())
    if k:
        kept = np.flatnonzero(keep)
        top = kept[np.argsort(-sigma[kept], kind="stable")[:k]]
        precision = float(near[top].mean())
    else:
        precision = nan
    s_after, s_at, s_other = mean(after), mean(at), mean(other)
    return {
        "collision_frames": [int(c) for c in np.flatnonzero(trajectory.collisions.any(axis=1))],
        "num_collision_steps": k,
        "sigma_after_collision": s_after,
        "sigma_at_collision": s_at,
        "sigma_elsewhere": s_other,
        "ratio": s_after / s_other if s_other else nan,
        "ratio_at_collision": s_at / s_other if s_other else nan,
        "peak_precision": precision,
        "peak_chance": float(near[keep].mean()) if keep.any() else nan,
    }


def analyse(task, source: StochasticMovingMNIST, num_trajectories: int = 3,
            sequences_per_trajectory: int = 100, num_frames: int = 100, seed: int = 0,
            batch_size: int = 32, warmup: int = DEFAULT_WARMUP) -> dict:
    """Figure 6.4's numbers for a restored SVG-LP: one entry per trajectory.

    Returns a JSON-ready dict: ``trajectories`` (each with the collision
    frames per digit, ``sigma_mean`` / ``sigma_std`` over its sequences for
    steps 1..T-1 and its ``summary``) and ``summary`` (the per-trajectory
    summaries pooled: means of the sigmas over every counted step of every
    trajectory, the ratio of those, and the mean peak precision).
    """
    check_learned_prior(task)
    videos, motions, digits = synchronised_videos(source, num_trajectories,
                                                  sequences_per_trajectory, num_frames, seed)
    entries, pooled = [], {"after": [], "at": [], "other": []}
    for j, motion in enumerate(motions):
        sigma = prior_sigma(task, videos[j], batch_size)
        mean = sigma.mean(axis=0)
        summary = collision_summary(mean, motion, warmup)
        keep = np.arange(1, num_frames) > warmup
        after = collision_steps(motion, (1,)) & keep
        at = collision_steps(motion, (0,)) & keep
        pooled["after"].append(mean[after])
        pooled["at"].append(mean[at])
        pooled["other"].append(mean[keep & ~(after | at)])
        entries.append({
            "collision_frames_per_digit": [[int(c) for c in times]
                                           for times in motion.collision_times],
            "digits": digits[j].tolist(),
            "sigma_mean": mean.tolist(),
            "sigma_std": sigma.std(axis=0).tolist(),
            "summary": summary,
        })
    cat = {k: np.concatenate(v) for k, v in pooled.items()}
    nan = float("nan")
    s_after = float(cat["after"].mean()) if cat["after"].size else nan
    s_at = float(cat["at"].mean()) if cat["at"].size else nan
    s_other = float(cat["other"].mean()) if cat["other"].size else nan
    precisions = [e["summary"]["peak_precision"] for e in entries
                  if not np.isnan(e["summary"]["peak_precision"])]
    chances = [e["summary"]["peak_chance"] for e in entries]
    return {
        "steps": list(range(1, num_frames)),
        "num_frames": num_frames, "num_trajectories": num_trajectories,
        "sequences_per_trajectory": sequences_per_trajectory, "seed": seed,
        "warmup": warmup, "num_digits": source.num_digits, "digit_bank": source.digits.name,
        "split": source.split,
        "trajectories": entries,
        "summary": {
            "sigma_after_collision": s_after, "sigma_at_collision": s_at,
            "sigma_elsewhere": s_other,
            "ratio": s_after / s_other if s_other else nan,
            "ratio_at_collision": s_at / s_other if s_other else nan,
            "peak_precision": float(np.mean(precisions)) if precisions else nan,
            "peak_chance": float(np.mean(chances)) if chances else nan,
        },
    }


# Plot ----------------------------------------------------------------------------------

DIGIT_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange")


def plot(result: dict, path: str, title: Optional[str] = None) -> str:
    """Figure 6.4: mean (+- one std) sigma_psi over time, one panel per trajectory,
    vertical lines at each digit's collision frames (red, blue, ...). Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = result["trajectories"]
    steps = np.asarray(result["steps"])
    fig, axes = plt.subplots(len(entries), 1, figsize=(10, 2.4 * len(entries) + 0.6),
                             squeeze=False, sharex=True)
    for j, (entry, ax) in enumerate(zip(entries, axes[:, 0])):
        mean, std = np.asarray(entry["sigma_mean"]), np.asarray(entry["sigma_std"])
        ax.fill_between(steps, mean - std, mean + std, color="0.8", linewidth=0)
        ax.plot(steps, mean, color="black", linewidth=1.2, label="mean sigma_psi")
        for n, times in enumerate(entry["collision_frames_per_digit"]):
            colour = DIGIT_COLOURS[n % len(DIGIT_COLOURS)]
            for k, c in enumerate(times):
                ax.axvline(c, color=colour, linewidth=0.9, alpha=0.8,
                           label=f"digit {n + 1} hits a wall" if k == 0 else None)
        s = entry["summary"]
        ax.set_ylabel("sigma")
        ax.set_title(f"trajectory {j + 1}: sigma after collisions / elsewhere = "
                     f"{s['ratio']:.2f}, peak precision {s['peak_precision']:.2f} "
                     f"(chance {s['peak_chance']:.2f})", fontsize=9)
        ax.set_xlim(steps[0] - 0.5, steps[-1] + 0.5)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if j == 0:
            ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("t (sigma of z_t, which generates frame t from frames 0..t-1)")
    fig.suptitle(title or f"Learned prior sigma_psi, {result['sequences_per_trajectory']} "
                 "sequences per trajectory (Fig. 6.4)", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_report(result: dict, path: str) -> str:
    """The result as JSON (NaN written as null)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, float) and not np.isfinite(x):
            return None
        return x
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(clean(result), f, indent=2)
    os.replace(path + ".tmp", path)
    return path

