"""Stochastic Moving MNIST (SM-MNIST; seed 002, section 6.3.2), generated on the fly.

Each video shows ``num_digits`` digits of side ``image_size / 2`` (32 px in
64x64 frames, as the official SVG loader) moving on a black background with
integer velocities in {-M..M}^2 (M = 4 at 64x64, scaled with the frame size):

* a digit keeps its velocity until it reaches a wall (its box would leave
  the frame), where it stops at the wall: that frame is a *collision*;
* at a collision the digit gets a new random velocity that points away from
  every wall it touches (the official loader: the component normal to the
  wall in 1..M, the other in -M..M). ``velocity="uniform"`` draws it
  uniformly from those valid velocities, as the initial one from the whole
  {-M..M}^2; ``velocity="nonuniform"`` (Figure 6.6) draws the initial
  velocity from P(dx, dy) ~ w(dx) w(dy) with w(d) = 1 + |d| (faster is more
  likely) and later ones from the same table with the invalid directions
  given zero probability and the rest renormalised;
* ``dynamics="deterministic"`` is the classic Moving MNIST: the velocity's
  component normal to the wall is reflected. Integer speeds make the
  videos periodic once the digits have touched a wall: at 32x32 with a
  period of 32 (or 16) frames, at 64x64 mostly of 32 to 352 frames
  (docs/reproduction.md).

Overlapping digits add up, clipped at 255 (the official ``x[x > 1] = 1``).
Every video carries its metadata (``metadata(index)``): the digits used,
their classes, the position (x, y of the digit box's top-left corner) and
velocity of each digit at every frame and the collision frames, consistent
with the pixels (``render`` draws frames from metadata alone). A video's
class (``label``, for bin/drnet_classify and bin/train_evaluator) is its
first digit's where that digit can be told apart: one-digit and coloured
variants (digit 0 is the red one); grey two-digit videos have none.

Video ``index`` of a split is a pure function of (seed, split, index), so a
dataset of a million sequences costs nothing until a sequence is read, and
every process draws the same videos. Frames are grey, delivered as three
equal RGB channels (the pipeline is RGB; ``--frame_channels=1`` makes SVG
model one channel).

Digits (``digit_source``):

* real MNIST from IDX files (``train-images-idx3-ubyte[.gz]``,
  ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``) anywhere under
  ``--data_dir`` (e.g. torchvision's ``MNIST/raw``), or a local TFDS copy
  (``tfds build mnist --data_dir=DIR``; ``DIR/mnist/3.0.1/...``);
* otherwise, with no ``--data_dir``, digit glyphs rendered locally from the
  fonts that ship with matplotlib (DejaVu, STIX, Computer Modern) with a
  random font, size, stroke width, slant and rotation, boxed and centred by
  mass in 28x28 like MNIST (``FontDigits``): no download, no file.

Registered datasets: ``smmnist`` (2 digits, uniform: the paper's main
setting), ``smmnist1`` (1 digit), ``smmnist_nonuniform``,
``smmnist1_nonuniform`` (Figures 6.6, 6.7) and ``moving_mnist``
(deterministic bounces, 2 digits). Frames per video: ``--synthetic_video_length``.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import gzip
import os
import struct

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tfvidgen import registry
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import DatasetMissingError, VideoSource

SPLITS = ("train", "test", "all")
# Sequences per split: "on the fly" in practice (video i is drawn from (seed, split, i)).
NUM_SEQUENCES = {"train": 1_000_000, "test": 10_000, "all": 1_000_000}
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FONT_DIGITS = {"train": 60_000, "test": 10_000, "all": 70_000}
# Fonts of matplotlib with ordinary digit glyphs (others are symbols).
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
         "DejaVuSans-BoldOblique.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
         "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "cmr10.ttf",
         "cmss10.ttf", "cmtt10.ttf")
MNIST_HOW_TO_GET = (
    "Put MNIST's IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from "
    "https://storage.googleapis.com/cvdf-datasets/mnist/) in a folder, or prepare TFDS's copy "
    "on a machine with internet (tfds build mnist --data_dir=DIR) and copy DIR; pass that "
    "folder as --data_dir. Without --data_dir, digits are rendered from local fonts.")


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"SM-MNIST split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


# Digit sources ------------------------------------------------------------------------

class Digits:
    """A bank of grey digit images: ``glyph(k)`` uint8 [size, size], ``label(k)``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, size: int, name: str):
        self.images = np.asarray(images, np.uint8)  # [N, h, w]
        self.labels = np.asarray(labels, np.int64)
        self.size = int(size)
        self.name = name

    def __len__(self):
        return len(self.images)

    def label(self, k: int) -> int:
        return int(self.labels[k])

    @functools.lru_cache(maxsize=100_000)
    def glyph(self, k: int) -> np.ndarray:
        image = self.images[k]
        if image.shape != (self.size, self.size):  # MNIST's 28 -> 32 (torchvision Scale(32))
            image = np.asarray(Image.fromarray(image).resize((self.size, self.size),
                                                             Image.BILINEAR))
        return image


def _read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    if magic >> 8 != 0x08:  # unsigned byte data
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: truncated ({array.size} bytes for shape {shape})")
    return array.reshape(shape)


def _find(data_dir: str, names, max_depth: int = 3) -> dict:
    """First path of each name (with or without .gz) under data_dir, breadth first."""
    found, level = {}, [data_dir]
    for _ in range(max_depth + 1):
        following = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir():
                    following.append(entry.path)
                    continue
                for name in names:
                    if name not in found and entry.name in (name, name + ".gz"):
                        found[name] = entry.path
        level = following
    return found


def _find_tfds(data_dir: str, dataset: str) -> str | None:
    """The version folder of a prepared TFDS dataset under data_dir (or data_dir itself)."""
    candidates = [data_dir, os.path.join(data_dir, dataset)]
    for base in candidates:
        if os.path.exists(os.path.join(base, "dataset_info.json")):
            return base
        try:
            versions = sorted((e.path for e in os.scandir(base) if e.is_dir()), reverse=True)
        except OSError:
            continue
        for version in versions:
            if os.path.exists(os.path.join(version, "dataset_info.json")):
                return version
    return None


def _read_tfds_mnist(version_dir: str, split: str):
    """(images uint8 [N, 28, 28], labels) of a prepared TFDS mnist split.

    Reads TFDS's shards (``mnist-<split>.tfrecord-*``: tf.train.Example with
    a PNG ``image`` and an int64 ``label``) directly, so that no TFDS code
    runs.
    """
    import tensorflow as tf  # only for a TFDS copy

    files = sorted(glob.glob(os.path.join(version_dir, f"mnist-{split}.tfrecord*")))
    if not files:
        raise DatasetMissingError(f"{version_dir} has no mnist-{split}.tfrecord-* shards. "
                                  f"{MNIST_HOW_TO_GET}")
    spec = {"image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        example = tf.io.parse_single_example(record, spec)
        image = tf.io.decode_image(example["image"], channels=1, expand_animations=False)
        return image[..., 0], example["label"]

    images, labels = [], []
    for image, label in tf.data.TFRecordDataset(files).map(parse).batch(10_000):
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.concatenate(images), np.concatenate(labels)


def mnist_digits(data_dir: str, split: str, size: int = 32) -> Digits:
    """Real MNIST digits of ``split`` from IDX files or a TFDS copy under data_dir.

    Raises:
      DatasetMissingError: neither is there.
    """
    splits = ("train", "test") if split == "all" else (split,)
    names = [n for s in splits for n in MNIST_FILES[s]]
    found = _find(data_dir, names) if data_dir and os.path.isdir(data_dir) else {}
    if all(n in found for n in names):
        images = np.concatenate([_read_idx(found[MNIST_FILES[s][0]]) for s in splits])
        labels = np.concatenate([_read_idx(found[MNIST_FILES[s][1]]) for s in splits])
        return Digits(images, labels, size, f"MNIST IDX in {data_dir}")
    version_dir = _find_tfds(data_dir, "mnist") if data_dir and os.path.isdir(data_dir) else None
    if version_dir:
        images, labels = zip(*[_read_tfds_mnist(version_dir, s) for s in splits])
        return Digits(np.concatenate(images), np.concatenate(labels), size,
                      f"MNIST TFDS {version_dir}")
    problem = ("no --data_dir was given" if not data_dir else
               f"--data_dir={data_dir} is not a folder" if not os.path.isdir(data_dir) else
               f"--data_dir={data_dir} holds neither MNIST IDX files ({', '.join(names)}) "
               f"nor a TFDS mnist folder")
    raise DatasetMissingError(f"SM-MNIST digits: {problem}. {MNIST_HOW_TO_GET}")


def font_paths() -> list[str]:
    """Digit-capable TrueType fonts that ship with matplotlib (empty without it)."""
    try:
        import matplotlib
    except ImportError:
        return []
    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    return [os.path.join(folder, f) for f in FONTS if os.path.exists(os.path.join(folder, f))]


@functools.lru_cache(maxsize=256)
def _font(path: str | None, size: int):
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size)


def render_digit(digit: int, rng: np.random.Generator, fonts, size: int = 32) -> np.ndarray:
    """A handwriting-like digit: random font, size, stroke, slant and rotation.

    Drawn large, then boxed in 20x20 and centred by mass in 28x28 as MNIST's
    digits are, then resized to ``size``.
    """
    canvas = 128
    path = fonts[int(rng.integers(len(fonts)))] if fonts else None
    font = _font(path, int(rng.integers(60, 84)))
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    bold = path is not None and "Bol" in os.path.basename(path)
    stroke = int(rng.integers(0, 3) if bold else rng.integers(1, 5))  # pen width
    draw.text((canvas / 2, canvas / 2), str(digit), fill=255, font=font, anchor="mm",
              stroke_width=stroke, stroke_fill=255)
    shear = rng.uniform(-0.35, 0.35)  # slant: x' = x + shear * (y - centre)
    image = image.transform(image.size, Image.AFFINE,
                            (1, shear, -shear * canvas / 2, 0, 1, 0), Image.BILINEAR)
    image = image.rotate(rng.uniform(-12, 12), Image.BILINEAR)
    box = image.getbbox()
    if box is None:
        return np.zeros([size, size], np.uint8)
    image = image.crop(box)
    w, h = image.size
    scale = 20.0 * rng.uniform(0.85, 1.0) / max(w, h)
    image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    pixels = np.asarray(image, np.float64)
    ys, xs = np.indices(pixels.shape)
    mass = pixels.sum() or 1.0
    cy, cx = (ys * pixels).sum() / mass, (xs * pixels).sum() / mass
    field = Image.new("L", (28, 28), 0)
    field.paste(image, (int(round(14 - cx)), int(round(14 - cy))))
    if size != 28:
        field = field.resize((size, size), Image.BILINEAR)
    return np.asarray(field, np.uint8)


class FontDigits(Digits):
    """Rendered digit glyphs: glyph k shows digit k % 10 in a style drawn from (seed, split, k)."""

    def __init__(self, count: int, size: int = 32, seed: int = 0, split: str = "train"):
        self.count, self.size, self.seed = int(count), int(size), int(seed)
        self.split_id = _split_id(split)
        self.fonts = font_paths()
        self.name = "font digits"

    def __len__(self):
        return self.count

    def label(self, k: int) -> int:
        return int(k) % 10

    @functools.lru_cache(maxsize=100_000)
    def glyph(self, k: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.split_id, int(k), 0xF0])
        return render_digit(int(k) % 10, rng, self.fonts, self.size)


# Trajectories ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Trajectories:
    """Metadata of one video, for every digit n and frame t.

    Attributes:
      digits: [N] indices into the digit bank.
      labels: [N] digit classes 0..9.
      positions: int [T, N, 2] (x, y) of the top-left corner of digit n's box.
      velocities: int [T, N, 2] velocity after frame t (positions[t + 1] is
        positions[t] + velocities[t], stopped at a wall).
      collisions: bool [T, N]: digit n reached a wall at frame t; its velocity
        was redrawn (or reflected) there.
    """
    digits: np.ndarray
    labels: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    collisions: np.ndarray

    @property
    def collision_times(self) -> tuple:
        """Per digit, the frames at which it reached a wall."""
        return tuple(np.flatnonzero(self.collisions[:, n]) for n in range(len(self.digits)))


def velocity_table(max_speed: int, velocity: str) -> np.ndarray:
    """P(dx, dy) over {-M..M}^2 (index [dx + M, dy + M]) of an initial velocity."""
    d = np.arange(-max_speed, max_speed + 1)
    if velocity == "uniform":
        w = np.ones_like(d, dtype=np.float64)
    elif velocity == "nonuniform":
        w = 1.0 + np.abs(d)
    else:
        raise ValueError(f"velocity must be 'uniform' or 'nonuniform', got {velocity!r}")
    table = np.outer(w, w)
    return table / table.sum()


def draw_velocity(rng, table: np.ndarray, walls=()) -> np.ndarray:
    """(dx, dy) from ``table`` restricted to directions away from ``walls``.

    walls: (axis, side) pairs, side -1 for the low wall (0), +1 for the high one.
    """
    m = (table.shape[0] - 1) // 2
    probs = table.copy()
    d = np.arange(-m, m + 1)
    for axis, side in walls:
        invalid = d * side >= 0  # must move strictly away from the wall
        if axis == 0:
            probs[invalid, :] = 0
        else:
            probs[:, invalid] = 0
    probs = probs.ravel() / probs.sum()
    k = int(rng.choice(probs.size, p=probs))
    return np.array(divmod(k, table.shape[0])) - m


def simulate(rng, num_frames: int, limit: int, table: np.ndarray,
             deterministic: bool = False):
    """One digit's trajectory in a [0, limit]^2 box of positions.

    Returns:
      positions int [T, 2], velocities int [T, 2], collisions bool [T].
    """
    positions = np.zeros([num_frames, 2], np.int64)
    velocities = np.zeros([num_frames, 2], np.int64)
    collisions = np.zeros([num_frames], bool)
    p = rng.integers(0, limit + 1, size=2)
    v = draw_velocity(rng, table)
    for t in range(num_frames):
        if t:
            p = p + v
            walls = []
            for axis in (0, 1):
                if p[axis] <= 0 and v[axis] < 0:
                    p[axis] = 0
                    walls.append((axis, -1))
                elif p[axis] >= limit and v[axis] > 0:
                    p[axis] = limit
                    walls.append((axis, 1))
            if walls:
                collisions[t] = True
                if deterministic:
                    v = v.copy()
                    for axis, _ in walls:
                        v[axis] = -v[axis]
                else:
                    v = draw_velocity(rng, table, walls)
        positions[t], velocities[t] = p, v
    return positions, velocities, collisions


# The source ----------------------------------------------------------------------------

class StochasticMovingMNIST(VideoSource):
    """SM-MNIST videos (uint8 [T, S, S, 3], grey) with their trajectories."""

    def __init__(self, image_size: int = 64, split: str = "train", seed: int = 0,
                 num_digits: int = 2, video_length: int = 30, velocity: str = "uniform",
                 dynamics: str = "stochastic", data_dir: str | None = None,
                 digits: Digits | None = None, num_videos: int | None = None,
                 max_speed: int | None = None, colored: bool = False, name: str = "smmnist"):
        """Sets the dataset up; draws nothing until a video is read.

        Args:
          image_size: frame side; digits are image_size // 2 pixels.
          split: "train" / "test" (MNIST's training / test digits, and
            different sequences) or "all".
          seed: seed of the sequences (and of the rendered glyphs).
          num_digits: digits per video (1 or 2 in the paper).
          video_length: frames per video.
          velocity: "uniform" or "nonuniform" (Figure 6.6).
          dynamics: "stochastic" (SM-MNIST) or "deterministic" (reflection).
          data_dir: MNIST IDX files or TFDS copy; None: rendered font digits.
          digits: a digit bank to use instead (tests, other glyph sets).
          num_videos: sequences in the split (default NUM_SEQUENCES[split]).
          max_speed: M (default 4 at 64x64, scaled with image_size).
          colored: digit n is drawn in colour COLORS[n] instead of white (DRNet's
            MNIST videos, section 5.3.2: with grey digits the pose cannot say
            which digit is where).
        Raises:
          DatasetMissingError: data_dir is given but holds no MNIST.
        """
        super().__init__()
        self.split_id = _split_id(split)
        if dynamics not in ("stochastic", "deterministic"):
            raise ValueError(f"dynamics must be 'stochastic' or 'deterministic', got {dynamics!r}")
        if num_digits < 1 or video_length < 1:
            raise ValueError("num_digits and video_length must be >= 1")
        self.name, self.split, self.seed = name, split, int(seed)
        self.image_size = int(image_size)
        self.digit_size = self.image_size // 2
        self.frame_shape = (self.image_size, self.image_size, 3)
        self.num_digits, self.video_length = int(num_digits), int(video_length)
        self.velocity, self.dynamics = velocity, dynamics
        self.max_speed = int(max_speed or max(1, round(4 * self.image_size / 64)))
        self.colored = bool(colored)
        # A video's class is its first digit's (the red one when coloured): well defined
        # only when that digit can be told apart, so grey two-digit variants have none.
        self.class_names = DIGIT_CLASSES if (self.num_digits == 1 or self.colored) else ()
        self.table = velocity_table(self.max_speed, velocity)
        if digits is None:
            digits = (mnist_digits(data_dir, split, self.digit_size) if data_dir else
                      FontDigits(FONT_DIGITS[split], self.digit_size, self.seed, split))
        if digits.size != self.digit_size:
            raise ValueError(f"digits are {digits.size} px; {image_size}x{image_size} frames "
                             f"need {self.digit_size}")
        self.digits = digits
        self.num_videos = int(num_videos or NUM_SEQUENCES[split])

    def __len__(self):
        return self.num_videos

    def num_frames(self, index: int) -> int:
        return self.video_length

    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.video_length, np.int64)

    def label(self, index: int) -> int:
        """The class (0-9) of the video's first digit (red when coloured), or -1 where
        the digits cannot be told apart (grey, two digits)."""
        if not self.class_names:
            return -1
        # Digit 0 is the video's first draw: no trajectory is simulated for a label
        # (the pipeline asks for it beside every clip it reads).
        return self.digits.label(self._draw_digit(self._video_rng(index)))

    def describe(self, index: int) -> str:
        return f"{self.name}/{self.split}[{index}]"

    def metadata(self, index: int) -> Trajectories:
        """The digits and trajectories of video ``index`` (no pixels drawn)."""
        rng = self._video_rng(index)
        limit = self.image_size - self.digit_size
        digits, tracks = [], []
        for _ in range(self.num_digits):
            digits.append(self._draw_digit(rng))
            tracks.append(simulate(rng, self.video_length, limit, self.table,
                                   self.dynamics == "deterministic"))
        return Trajectories(
            digits=np.array(digits, np.int64),
            labels=np.array([self.digits.label(k) for k in digits], np.int64),
            positions=np.stack([t[0] for t in tracks], axis=1),
            velocities=np.stack([t[1] for t in tracks], axis=1),
            collisions=np.stack([t[2] for t in tracks], axis=1))

    def _video_rng(self, index: int) -> np.random.Generator:
        """The generator of video ``index``: digit 0, its track, digit 1, its track, ..."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.describe(index)}: {len(self)} videos")
        return np.random.default_rng([self.seed, self.split_id, int(index), 0x5D])

    def _draw_digit(self, rng: np.random.Generator) -> int:
        return int(rng.integers(len(self.digits)))

    def glyphs(self, index: int) -> np.ndarray:
        """uint8 [N, d, d]: the digits of video ``index``."""
        return np.stack([self.digits.glyph(int(k)) for k in self.metadata(index).digits])

    def render(self, meta: Trajectories, frame_indices) -> np.ndarray:
        """Frames (uint8 [len, S, S, 3]) drawn from trajectories alone."""
        d = self.digit_size
        glyphs = [self.digits.glyph(int(k)).astype(np.uint16) for k in meta.digits]
        channels = 3 if self.colored else 1
        out = np.zeros([len(frame_indices), self.image_size, self.image_size, channels],
                       np.uint16)
        for i, t in enumerate(frame_indices):
            for n, glyph in enumerate(glyphs):
                x, y = meta.positions[t, n]
                if self.colored:
                    color = np.array(COLORS[n % len(COLORS)], np.uint16)
                    out[i, y:y + d, x:x + d] += glyph[..., None] * color // 255
                else:
                    out[i, y:y + d, x:x + d, 0] += glyph
        frames = np.minimum(out, 255).astype(np.uint8)
        return frames if self.colored else np.repeat(frames, 3, axis=-1)

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        frame_indices = np.asarray(frame_indices, np.int64)
        if frame_indices.size and (frame_indices.min() < 0
                                   or frame_indices.max() >= self.video_length):
            raise IndexError(f"{self.describe(index)} has {self.video_length} frames")
        return self.render(self.metadata(index), frame_indices)


DIGIT_CLASSES = tuple(str(d) for d in range(10))

# Digit colours of the coloured variants (red, green, blue, then mixtures).
COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255))

VARIANTS = {
    "smmnist": dict(num_digits=2, velocity="uniform"),
    "smmnist_color": dict(num_digits=2, velocity="uniform", colored=True),
    "smmnist1": dict(num_digits=1, velocity="uniform"),
    "smmnist_nonuniform": dict(num_digits=2, velocity="nonuniform"),
    "smmnist1_nonuniform": dict(num_digits=1, velocity="nonuniform"),
    "moving_mnist": dict(num_digits=2, velocity="uniform", dynamics="deterministic"),
    # DRNet's MNIST (seed 002, section 5.3.2): deterministic bounces, one colour per digit.
    "moving_mnist_color": dict(num_digits=2, velocity="uniform", dynamics="deterministic",
                               colored=True),
}


def _register(name: str, options: dict):
    @registry.register_dataset(name)
    def build(config: DataConfig) -> VideoSource:
        return StochasticMovingMNIST(image_size=config.image_size, split=config.split,
                                     seed=config.seed, video_length=config.video_length,
                                     data_dir=config.data_dir, name=name, **options)
    build.__doc__ = f"{name}: {options}, digits from --data_dir (MNIST) or fonts."
    return build


for _name, _options in VARIANTS.items():
    _register(_name, _options)
