"""Sprites (Li & Mandt 2018, section 4.1; seed 003, section 5.4), built locally.

Characters are composed from the Liberated Pixel Cup "universal" sprite
sheets (art under CC-BY-SA 3.0 / GPL 3.0, see docs/datasets.md): one sheet
per layer, 13 columns x 21 rows of 64x64 cells, composited on black in the
order body (skin), bottomwear, topwear, hair, then shoes (one fixed pair).
The DSA protocol takes 6 variants of each of the 4 attributes (6^4 = 1,296
characters) and, per character, the actions walk, spellcast and slash seen
from the left, the front and the right: 9 clips of 8 frames of 64x64 RGB.
Animations of fewer than 8 frames wrap around (TFP's ``sprites_dataset.py``
cycles the frames too; here the clip starts at the animation's first frame
so that the data is deterministic).

Split: the characters in ``itertools.product`` order of (skin, hair, top,
pants), shuffled by ``random.Random(42)`` as TFP's ``sprites_dataset.py``
does; the first 1,000 are ``train``, the other 296 ``test``.

Videos: index ``9 * c + 3 * action + direction`` of a split is clip
(action, direction) of its character ``c``. ``label`` is the action-view
class (``CLASS_NAMES``); ``extras`` give ``attributes`` (int64 [4]: body,
bottom, top, hair variant), ``action`` (0 walk, 1 spellcast, 2 slash) and
``direction`` (0 left, 1 front, 2 right).

Cache: the first use composes every character's distinct cells (66 per
character) at the requested frame size into one uint8 ``.npy`` file, read
back as a memory map (a clip is 8 row look-ups). Its folder is
``$TFVIDGEN_CACHE`` or ``~/.cache/tfvidgen``, under ``sprites/``; the file
name carries a hash of the sheets and the options, so changed sheets build a
new file. Building all 1,296 characters at 64x64 takes seconds and ~1 GB.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import random

import numpy as np
from PIL import Image

from tfvidgen import registry
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

ATTRIBUTES = ("body", "bottomwear", "topwear", "hair")
ACTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("left", "front", "right")
# First sheet row of each action (rows +1, +2, +3: left, front, right) and its frames.
ACTION_ROWS = {"walk": (8, 9), "spellcast": (0, 7), "slash": (12, 6)}
CLASS_NAMES = tuple(f"{a}_{d}" for a in ACTIONS for d in DIRECTIONS)
CELL = 64
CLIP_FRAMES = 8
NUM_VARIANTS = 6
NUM_TRAIN = 1000
SHUFFLE_SEED = 42
HOW_TO_GET = (
    "Sprites: put the Liberated Pixel Cup universal sprite sheets (folders body/, bottomwear/, "
    "topwear/, hair/, shoes/ of 832x1344 PNGs named 0.png, 1.png, ..., e.g. from "
    "https://github.com/jrconway3/Universal-LPC-spritesheet) in ../shared/data/lpc_sprites "
    "beside the repository, or pass their folder as --data_dir.")


def default_data_dir() -> str:
    """``<repository>/../shared/data/lpc_sprites``."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "data", "lpc_sprites")


def cache_root() -> str:
    return os.path.join(os.environ.get("TFVIDGEN_CACHE")
                        or os.path.join(os.path.expanduser("~"), ".cache", "tfvidgen"), "sprites")


def cells() -> list[tuple[int, int]]:
    """(row, column) of every distinct cell a clip uses, in cache order (66)."""
    out = []
    for action in ACTIONS:
        row, frames = ACTION_ROWS[action]
        for d in range(len(DIRECTIONS)):
            out += [(row + 1 + d, col) for col in range(frames)]
    return out


def clip_cells(action: int, direction: int) -> np.ndarray:
    """Indices into ``cells()`` of the 8 frames of clip (action, direction)."""
    start = 0
    for a, name in enumerate(ACTIONS):
        frames = ACTION_ROWS[name][1]
        if a == action:
            first = start + direction * frames
            return first + np.arange(CLIP_FRAMES) % frames
        start += 3 * frames
    raise IndexError(action)


def split_characters(num_variants: int = NUM_VARIANTS, num_train: int = NUM_TRAIN):
    """(train, test) lists of (body, bottom, top, hair) tuples: TFP's shuffled split."""
    order = list(itertools.product(range(num_variants), repeat=4))  # skin, hair, top, pants
    random.Random(SHUFFLE_SEED).shuffle(order)
    to_ours = [(s, p, t, h) for s, h, t, p in order]  # -> body, bottom, top, hair
    return to_ours[:num_train], to_ours[num_train:]


def _sheet_paths(data_dir: str, num_variants: int) -> dict:
    paths = {name: [os.path.join(data_dir, name, f"{i}.png") for i in range(num_variants)]
             for name in ATTRIBUTES}
    paths["shoes"] = [os.path.join(data_dir, "shoes", "0.png")]
    missing = [p for group in paths.values() for p in group if not os.path.exists(p)]
    if missing:
        problem = (f"--data_dir={data_dir} does not exist" if not os.path.isdir(data_dir) else
                   f"{data_dir} lacks {len(missing)} sheets (e.g. {missing[0]})")
        raise DatasetMissingError(f"{problem}. {HOW_TO_GET}")
    return paths


def _layer_cells(path: str) -> np.ndarray:
    """float32 [66, 64, 64, 4] RGBA in [0, 1] of one sheet's cells."""
    sheet = np.asarray(Image.open(path).convert("RGBA"), np.float32) / 255.0
    need = max(r for r, _ in cells()) + 1
    if sheet.shape[0] < need * CELL or sheet.shape[1] < 9 * CELL:
        raise DatasetMissingError(f"{path}: {sheet.shape[1]}x{sheet.shape[0]} is not an LPC "
                                  f"sheet (13x21 cells of 64 px). {HOW_TO_GET}")
    return np.stack([sheet[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL]
                     for r, c in cells()])


def compose(layers) -> np.ndarray:
    """Alpha-composites RGBA layers (float [..., 4], bottom first) on black -> float RGB."""
    out = np.zeros(layers[0].shape[:-1] + (3,), np.float32)
    for layer in layers:
        alpha = layer[..., 3:]
        out = out * (1.0 - alpha) + layer[..., :3] * alpha
    return out


def build_cache(data_dir: str, characters, image_size: int, path: str) -> None:
    """Writes uint8 [len(characters), 66, S, S, 3] to ``path`` (.npy, atomically)."""
    paths = _sheet_paths(data_dir, 1 + max(max(c) for c in characters))
    layers = {name: [_layer_cells(p) for p in group] for name, group in paths.items()}
    shape = (len(characters), len(cells()), image_size, image_size, 3)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
    for k, character in enumerate(characters):
        stack = [layers[name][v] for name, v in zip(ATTRIBUTES, character)]
        rgb = compose(stack + [layers["shoes"][0]])
        frames = np.round(rgb * 255.0).astype(np.uint8)
        if image_size != CELL:
            frames = np.stack([np.asarray(Image.fromarray(f).resize(
                (image_size, image_size), Image.BOX)) for f in frames])
        out[k] = frames
    out.flush()
    del out
    os.replace(tmp, path)


class Sprites(VideoSource):
    """The Sprites clips of one split (see the module docstring)."""

    name = "sprites"
    class_names = CLASS_NAMES

    def __init__(self, data_dir: str | None = None, split: str = "train", image_size: int = 64,
                 num_variants: int = NUM_VARIANTS, num_train: int = NUM_TRAIN,
                 cache_dir: str | None = None):
        """Finds the sheets and builds (once) or opens the cache.

        Args:
          data_dir: folder of the sheets (default ``default_data_dir()``).
          split: "train", "test" or "all" (train then test characters).
          image_size: frame side; cells are box-filtered from 64.
          num_variants: variants per attribute (6 in the DSA protocol).
          num_train: characters in the train split (1,000).
          cache_dir: folder of the cache file (default ``cache_root()``).
        Raises:
          DatasetMissingError: the sheets are not there.
        """
        super().__init__()
        if split not in ("train", "test", "all"):
            raise ValueError(f"Sprites split must be train, test or all, got {split!r}")
        if data_dir is None and not os.path.isdir(default_data_dir()):
            raise DatasetMissingError(f"no --data_dir given and {default_data_dir()} (the "
                                      f"default) does not exist. {HOW_TO_GET}")
        data_dir = data_dir or default_data_dir()
        paths = _sheet_paths(data_dir, num_variants)
        train, test = split_characters(num_variants, num_train)
        self.characters = {"train": train, "test": test, "all": train + test}[split]
        if not self.characters:
            raise ValueError(f"Sprites split {split!r} has no characters")
        self.split, self.image_size = split, int(image_size)
        self.frame_shape = (self.image_size, self.image_size, 3)
        digest = hashlib.sha1(repr((num_variants, num_train, split, image_size, 1)).encode())
        for p in sorted(p for group in paths.values() for p in group):
            with open(p, "rb") as f:
                digest.update(f.read())
        self.cache_path = os.path.join(cache_dir or cache_root(),
                                       f"sprites_{split}_{image_size}_{digest.hexdigest()[:16]}.npy")
        if not os.path.exists(self.cache_path):
            build_cache(data_dir, self.characters, self.image_size, self.cache_path)
        self.frames = np.load(self.cache_path, mmap_mode="r")
        self.clip_index = np.stack([[clip_cells(a, d) for d in range(len(DIRECTIONS))]
                                    for a in range(len(ACTIONS))])  # [3, 3, 8]

    def __len__(self):
        return len(self.characters) * len(CLASS_NAMES)

    def num_frames(self, index):
        return CLIP_FRAMES

    def lengths(self):
        return np.full(len(self), CLIP_FRAMES, np.int64)

    def parts(self, index):
        """(character position, action, direction) of clip ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.describe(index)}: {len(self)} clips")
        character, view = divmod(int(index), len(CLASS_NAMES))
        action, direction = divmod(view, len(DIRECTIONS))
        return character, action, direction

    def label(self, index):
        return int(index) % len(CLASS_NAMES)

    def identity(self, index):
        return self.parts(index)[0]

    def extra_specs(self):
        return {"attributes": (np.dtype(np.int64), (len(ATTRIBUTES),)),
                "action": (np.dtype(np.int64), ()), "direction": (np.dtype(np.int64), ())}

    def extras(self, index):
        character, action, direction = self.parts(index)
        return {"attributes": np.asarray(self.characters[character], np.int64),
                "action": np.int64(action), "direction": np.int64(direction)}

    def describe(self, index):
        return f"sprites/{self.split}[{index}]"

    def _read(self, index, frame_indices):
        character, action, direction = self.parts(index)
        rows = self.clip_index[action, direction][np.asarray(frame_indices, np.int64)]
        return np.asarray(self.frames[character][rows])


@registry.register_dataset("sprites")
def build(config: DataConfig) -> VideoSource:
    """sprites: the DSA protocol's Sprites from --data_dir (default ../shared/data/lpc_sprites)."""
    return Sprites(config.data_dir, config.split, config.image_size)
