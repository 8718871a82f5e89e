"""LAPGAN's multi-scale Parzen estimator as the thesis computes it (Denton, section 4.4.1).

``tfvidgen.metrics.parzen.multiscale_evaluate`` splits an image by the
orthonormal 2x2-block map x -> (l, h) and sums log q_k(h_k | l_k) over the
levels plus log q_K(l_K). The thesis' q_k(h | l) is a Parzen window on N_0
high passes *sampled from the model given the true low pass l*: here
G_k's refinement x~_k = u(x_{k+1}) + G_k(z, u(x_{k+1})) of the true coarse
image x_{k+1} (the block mean, which LAPGAN's area downsampling ``d``
computes exactly for a factor of two), split by the same orthonormal map.
The same noise seeds serve every image (the thesis: "if we use the same
random seeds for each x, q is measurable"). q_K's centres are G_K's own
samples (``coarse_centres``). The model's pyramid must halve at every
level (CIFAR-10's 8 -> 16 -> 32 variant, STL-10, LSUN; not 8 -> 14 -> 28).

Cost: every held-out image (validation and test) draws N_0 refinements per
level; the high passes are computed one image at a time, on demand.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfvidgen.metrics import parzen
from tfvidgen.metrics.prediction import derive_seed
from tfvidgen.models.base import StatelessNoise


def check_halving(task, image_size: int) -> None:
    """Raises ValueError unless the pyramid halves at every level down from ``image_size``."""
    sizes = task.sizes
    if sizes[0] != image_size or any(a != 2 * b for a, b in zip(sizes, sizes[1:])):
        raise ValueError(
            f"the multi-scale estimator conditions each level on the true 2x2 block means; "
            f"the pyramid {list(reversed(sizes))} must halve at every level and its finest "
            f"size match the evaluated images ({image_size}x{image_size}): train with e.g. "
            f"--pyramid_sizes=8,16,32 --crop_from=0")


class ConditionalHighpasses:
    """``[i]`` -> the N_0 model high passes of level k given held-out low pass i.

    Args:
      task: a built LAPGAN task.
      level: k (the coarse image is at level k + 1).
      lowpass: [M, s_{k+1}, s_{k+1}, 3] orthonormal-map low passes of pixels in
        [0, 1] after k + 1 splits (2^{k+1} x the block means).
      num: N_0.
      seed: the noise seed (the same for every image).
      batch_size: refinements per call.
    """

    def __init__(self, task, level, lowpass, num, seed, batch_size=256):
        self.task, self.level, self.lowpass = task, int(level), np.asarray(lowpass)
        self.num, self.seed, self.batch_size = int(num), int(seed), int(batch_size)
        self._refine = tf.function(self._refine_batch)

    def __len__(self):
        return len(self.lowpass)

    def _refine_batch(self, coarse, seed):
        noise = StatelessNoise(seed)
        n = tf.shape(coarse)[0]
        return self.task.refine(noise, coarse, self.level, self.task.draw_labels(noise, n))

    def __getitem__(self, i):
        k = self.level
        unit = self.lowpass[i] / 2.0 ** (k + 1)          # the true x_{k+1}, pixels in [0, 1]
        coarse = tf.constant(unit * 2.0 - 1.0, tf.float32)[None]
        out = []
        for b, start in enumerate(range(0, self.num, self.batch_size)):
            count = min(self.batch_size, self.num - start)
            fine = self._refine(tf.repeat(coarse, count, axis=0),
                                tf.constant(derive_seed(self.seed, k, b), tf.int64))
            fine = (np.clip(fine.numpy().astype(np.float64), -1.0, 1.0) + 1.0) / 2.0
            out.append(parzen.haar_split(2.0 ** k * fine)[1])  # level k's high pass
        return np.concatenate(out)


def multiscale_inputs(task, samples, num_centres: int, seed: int = 0, batch_size: int = 256):
    """(levels, keyword arguments of ``multiscale_evaluate``) for a LAPGAN task.

    Args:
      samples: generated images [N, H, W, 3] in [0, 1] (their size is checked).
      num_centres: N_0, the model high passes per held-out image and level,
        and the number of G_K samples centring q_K.
    Raises:
      ValueError: the pyramid does not halve at every level, or has one level.
    """
    check_halving(task, int(np.shape(samples)[1]))
    if task.top < 1:
        raise ValueError("a one-level model has no conditional levels")
    coarse = task.cascade(StatelessNoise(derive_seed(seed, 0xC0)), num_centres,
                          stop_level=task.top)[0]
    coarse = (np.clip(coarse.numpy().astype(np.float64), -1.0, 1.0) + 1.0) / 2.0
    factor = 2 ** task.top  # nearest enlargement: its coarsest Haar level is G_K's sample
    coarse = np.repeat(np.repeat(coarse, factor, axis=1), factor, axis=2)

    def highpass_fn(level, lowpass):
        return ConditionalHighpasses(task, level, lowpass, num_centres, seed, batch_size)

    return task.top, {"highpass_fn": highpass_fn, "coarse_centres": coarse}
