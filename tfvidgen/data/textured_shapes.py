"""Built-in ``textured_shapes``: moving shapes on textured static backgrounds.

A small, generated, deterministic stand-in for VGAN's stabilised scenes
(seed 004, section 3.2): each video has a static background texture (two
coloured sinusoidal gratings over a smooth colour gradient, all drawn per
video) and one shape (a square or a disc of its own colour) moving on a
straight line that bounces off the borders. A two-stream generator has a
static part to put in its background stream and a moving part for its
foreground and mask; the label is the shape (``square``, ``disc``).

Sizes come from the data flags: ``--image_size`` (frame side),
``--synthetic_video_length`` (frames, default 32) and
``--synthetic_identities`` x ``--synthetic_takes`` x 8 videos in ``train``
(384 by default), a quarter of that in ``test`` (other seeds). Frames are
drawn on demand from (``--seed``, split, index), so nothing is stored and
the same flags always give the same pixels.
"""
from __future__ import annotations

import numpy as np

from tfvidgen import registry
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import VideoSource

CLASS_NAMES = ("square", "disc")
VIDEOS_PER_TAKE = 8


class TexturedShapes(VideoSource):
    """Moving shapes on textured static backgrounds (see the module docstring)."""

    name = "textured_shapes"
    class_names = CLASS_NAMES

    def __init__(self, image_size=64, split="train", seed=0, num_videos=384,
                 video_length=32):
        """Declares the videos; draws nothing yet.

        Args:
          image_size: frame side.
          split: "train", "test" (a quarter as many, other seeds) or "all".
          seed: seed of every video's drawing.
          num_videos: videos of the train split.
          video_length: frames per video.
        """
        super().__init__()
        if split not in ("train", "test", "all"):
            raise ValueError(f"textured_shapes split must be train, test or all, got {split!r}")
        num_test = max(1, num_videos // 4)
        self.keys = {"train": [(0, i) for i in range(num_videos)],
                     "test": [(1, i) for i in range(num_test)]}
        self.keys["all"] = self.keys["train"] + self.keys["test"]
        self.keys = self.keys[split]
        self.split, self.seed = split, int(seed)
        self.image_size, self.video_length = int(image_size), int(video_length)
        self.frame_shape = (self.image_size, self.image_size, 3)

    def __len__(self):
        return len(self.keys)

    def num_frames(self, index):
        return self.video_length

    def lengths(self):
        return np.full(len(self), self.video_length, np.int64)

    def _rng(self, index):
        part, i = self.keys[int(index)]
        return np.random.default_rng([self.seed, 0x5A9E5, part, i])

    def label(self, index):
        return int(self._rng(index).integers(len(CLASS_NAMES)))

    def describe(self, index):
        return f"textured_shapes/{self.split}[{index}]"

    def background(self, rng) -> np.ndarray:
        """float [S, S, 3] in [0, 1]: a colour gradient and two gratings."""
        s = self.image_size
        yy, xx = np.meshgrid(np.arange(s) / s, np.arange(s) / s, indexing="ij")
        corners = rng.uniform(0.1, 0.9, size=(2, 3))
        out = corners[0] * (1 - yy[..., None]) + corners[1] * yy[..., None]
        for _ in range(2):
            angle, freq = rng.uniform(0, np.pi), rng.uniform(2.0, 6.0)
            phase, colour = rng.uniform(0, 2 * np.pi), rng.uniform(-0.25, 0.25, size=3)
            wave = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
            out = out + wave[..., None] * colour
        return np.clip(out, 0.0, 1.0)

    def _read(self, index, frame_indices):
        rng = self._rng(index)
        shape = int(rng.integers(len(CLASS_NAMES)))
        s = self.image_size
        background = self.background(rng)
        colour = rng.choice([0.05, 0.95], size=3)
        radius = rng.uniform(0.12, 0.2) * s
        start = rng.uniform(radius, s - radius, size=2)
        speed = rng.uniform(0.03, 0.08) * s
        angle = rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.cos(angle), np.sin(angle)])
        yy, xx = np.meshgrid(np.arange(s) + 0.5, np.arange(s) + 0.5, indexing="ij")
        low, span = radius, s - 2 * radius
        out = np.empty((len(frame_indices),) + self.frame_shape, np.uint8)
        for k, t in enumerate(np.asarray(frame_indices, np.int64)):
            # Bouncing: position folded into [low, low + span] (a triangle wave).
            raw = (start - low + velocity * int(t)) % (2 * span)
            cy, cx = low + np.where(raw > span, 2 * span - raw, raw)
            if shape == 0:
                inside = (np.abs(yy - cy) <= radius * 0.85) & (np.abs(xx - cx) <= radius * 0.85)
            else:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
            frame = np.where(inside[..., None], colour, background)
            out[k] = np.round(frame * 255.0).astype(np.uint8)
        return out


@registry.register_dataset("textured_shapes")
def build(config: DataConfig) -> VideoSource:
    """The built-in textured_shapes dataset, from the data flags."""
    return TexturedShapes(image_size=config.image_size, split=config.split, seed=config.seed,
                          num_videos=config.num_identities * config.num_takes
                          * VIDEOS_PER_TAKE, video_length=config.video_length)
