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
        self.cumulative = np.cumsum(counts)
        self.num_frames = int(self.cumulative[-1])

    def draw(self, rng):
        """(source, video index, frame index) of a uniformly drawn frame."""
        u = int(rng.integers(0, self.num_frames))
        j = int(np.searchsorted(self.cumulative, u, side="right"))
        first = 0 if j == 0 else int(self.cumulative[j - 1])
        return self.entries[self.sources[j]][0], int(self.videos[j]), u - first
