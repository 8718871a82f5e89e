"""Sampling functions S_T (clips) and S_1 (frames) and the length distribution.

MoCoGAN's trainer (and seed 003, section 4.1) shows D_V fixed-length clips
S_T(v) and D_I single frames S_1(v) of real videos, and draws the length
kappa of generated videos from the empirical distribution of video lengths.
Everything here is numpy, deterministic given a ``numpy.random.Generator``.
"""
from __future__ import annotations

import functools

import numpy as np


def clip_indices(length: int, clip_length: int, every_nth: int, rng) -> np.ndarray:
    """Frame indices of a random clip S_T of a video of ``length`` frames.

    As MoCoGAN's ``VideoDataset``: ``clip_length`` frames ``every_nth``
    apart starting uniformly at random. A video too short for the stride is
    read with stride 1; one shorter than the clip repeats its last frame
    (MoCoGAN raises instead; repeating keeps short videos usable).
    """
    if length <= 0:
        raise ValueError("empty video")
    span = (clip_length - 1) * every_nth + 1
    if length < span:
        every_nth, span = 1, clip_length
    start = int(rng.integers(0, length - span + 1)) if length >= span else 0
    idx = start + np.arange(clip_length, dtype=np.int64) * every_nth
    return np.minimum(idx, length - 1)


def length_probs(lengths) -> np.ndarray:
    """Empirical distribution P(kappa = n), n = 0..max(lengths)."""
    lengths = np.asarray(lengths, np.int64)
    if lengths.size == 0:
        return np.zeros([1])
    counts = np.bincount(lengths)
    return counts / counts.sum()


class EpochOrder:
    """Shuffle-and-repeat over ``n`` items as a pure function of a position.

    Element ``g`` of the infinite stream is item ``perm_e[g % n]`` of epoch
    ``e = g // n``, with ``perm_e`` a permutation seeded by (seed, e). The
    order is the same across runs and a resumed run continues it from any
    step without saving iterator state.
    """

    def __init__(self, n: int, seed: int):
        if n <= 0:
            raise ValueError("no items to sample from")
        self.n = n
        self.seed = seed

    @functools.lru_cache(maxsize=4)
    def permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, 0x0E]).permutation(self.n)

    def __call__(self, position: int) -> int:
        epoch, offset = divmod(int(position), self.n)
        return int(self.permutation(epoch)[offset])


class FramePool:
    """S_1 over a set of (source, video) entries: each frame equally likely.

    Used for the image batch of D_I: frames of the training videos, of the
    videos "broken into single frames" of a mixed dataset (seed 003, section
    5.1), and of image sets, weighted by their number of frames.
    """

    def __init__(self, entries):
        """entries: list of (source, indices array) pairs."""
        self.entries = [(s, np.asarray(ix, np.int64)) for s, ix in entries if len(ix)]
        if not self.entries:
            raise ValueError("no frames to sample images from")
        self.sources, self.videos, counts = [], [], []
        for k, (source, indices) in enumerate(self.entries):
            self.sources += [k] * len(indices)
            self.videos += list(indices)
            counts += [source.num_frames(int(i)) for i in indices]
        self.sources = np.asarray(self.sources)
        self.videos = np.asarray(self.videos)
        self.counts = np.asarray(counts, np.int64)
        self.cumulative = np.cumsum(self.counts)
        self.num_frames = int(self.cumulative[-1])
        if self.num_frames <= 0:
            raise ValueError(
                f"no readable frames to sample images from: all {len(self.counts)} videos "
                "have unreadable headers (listed in the warnings above); replace or remove "
                "those files or point --data_dir at readable videos.")

    def draw_position(self, rng, exclude=()):
        """(pool position j, frame index) of a uniformly drawn frame, leaving out
        the videos at the positions in ``exclude`` (None when nothing is left).

        With nothing excluded it draws exactly as ``draw``; a caller that
        excludes the videos it failed to read draws from the others, so that
        one unreadable video with many frames cannot take every retry."""
        if not exclude:
            u = int(rng.integers(0, self.num_frames))
            j = int(np.searchsorted(self.cumulative, u, side="right"))
            return j, u - (0 if j == 0 else int(self.cumulative[j - 1]))
        counts = self.counts.copy()
        counts[list(exclude)] = 0
        total = int(counts.sum())
        if total <= 0:
            return None
        cumulative = np.cumsum(counts)
        u = int(rng.integers(0, total))
        j = int(np.searchsorted(cumulative, u, side="right"))
        return j, u - (0 if j == 0 else int(cumulative[j - 1]))

    def video_at(self, j: int):
        """(source, video index) at pool position ``j``."""
        return self.entries[self.sources[j]][0], int(self.videos[j])

    def draw(self, rng):
        """(source, video index, frame index) of a uniformly drawn frame."""
        j, frame = self.draw_position(rng)
        source, video = self.video_at(j)
        return source, video, frame
