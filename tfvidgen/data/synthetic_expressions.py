"""Built-in synthetic facial-expression videos ("synthetic_expressions").

A stand-in for the MUG Facial Expression database that needs no files: RGB
face videos drawn procedurally at ``config.image_size`` (uint8, any size; 32,
64 and 128 are tested).

* Content is the identity: skin tone, face shape, hair colour and style
  (short, long, fringe, bald, curly), iris, background and shirt colours are
  fixed per identity and derived deterministically from (seed, identity).
* Motion is one of MUG's six expressions (``CLASS_NAMES``), played from
  neutral (frame 0) to apex (last frame) with a smooth ease curve through
  mouth shape and opening, eyebrow height and angle, eye opening and a few
  wrinkles, plus a small head motion. Each take varies the onset, speed,
  intensity and head motion, deterministically from
  (seed, identity, expression, take).

Videos are indexed identity-major by (identity, expression, take), so
``len == identities * 6 * num_takes``; every video has ``config.video_length``
frames (a one-frame video shows the apex). Split: identities whose index
``% 5 == 4`` are the "test" split, the others "train"; "all" is everything
(with fewer than 5 identities the test split is empty).

Frames are drawn on a 2x supersampled grid as a label map by mask maths on
separable coordinates, coloured from a per-identity palette and
box-downsampled, so a 64x64 frame costs well under a millisecond. Only
exact IEEE operations touch pixel coordinates, so pixels are identical
across processes and whichever frames are read together. With
``config.cache`` whole videos are kept in memory after their first read.
"""
from __future__ import annotations

import colorsys
import math

import numpy as np

from tfvidgen import registry
from tfvidgen.data.config import DataConfig
from tfvidgen.data.sources import VideoSource

CLASS_NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
HAIR_STYLES = ("short", "long", "fringe", "bald", "curly")
SPLITS = ("train", "test", "all")

# Label-map values; each identity has a palette row per label.
(BG, SHIRT, HAIR, SKIN, SHADOW, CHEEK, LINE, SCLERA, IRIS, PUPIL, LASH, BROW,
 LIPS, MOUTH, TEETH) = range(15)

_SKIN = [(255, 222, 196), (240, 196, 160), (224, 172, 120), (196, 140, 92),
         (150, 98, 62), (100, 64, 40)]
_HAIR = [(28, 24, 24), (74, 46, 30), (126, 82, 46), (224, 190, 118),
         (170, 74, 36), (182, 180, 176)]
_IRIS = [(96, 58, 30), (56, 112, 200), (60, 136, 74), (112, 126, 140), (146, 110, 46)]

# Expression parameters: neutral value and apex value per expression.
_PARAMS = ("brow_raise", "brow_inner", "brow_squeeze", "brow_arch", "eye_up",
           "eye_low", "mouth_w", "curve", "open_up", "open_low", "asym", "lip",
           "teeth", "jaw", "head_dy", "mouth_dy", "cheek", "glabella",
           "forehead", "nose_wr")
_NEUTRAL = dict(eye_up=1.0, eye_low=1.0, mouth_w=1.0, curve=0.01, lip=1.0)
_APEX = {
    "anger": dict(brow_raise=-0.045, brow_inner=-0.075, brow_squeeze=0.035,
                  eye_up=0.5, eye_low=0.8, mouth_w=0.85, curve=-0.035, lip=0.55,
                  mouth_dy=-0.012, glabella=1.0, head_dy=-0.02),
    "disgust": dict(brow_raise=-0.035, brow_inner=-0.02, brow_squeeze=0.015, eye_up=0.6,
                    eye_low=0.45, mouth_w=0.9, curve=-0.035, asym=0.07, open_up=0.022,
                    open_low=0.004, teeth=0.7, lip=1.25, mouth_dy=-0.025, nose_wr=1.0,
                    glabella=0.5, head_dy=0.015),
    "fear": dict(brow_raise=0.055, brow_inner=0.05, brow_squeeze=0.025, eye_up=1.7,
                 eye_low=1.25, mouth_w=1.25, curve=-0.035, open_up=0.022, open_low=0.045,
                 teeth=0.45, jaw=0.02, forehead=0.6, head_dy=-0.03),
    "happiness": dict(brow_raise=0.012, eye_up=0.8, eye_low=0.4, mouth_w=1.35,
                      curve=0.095, open_up=0.008, open_low=0.07, teeth=0.5, cheek=1.0,
                      jaw=0.01, head_dy=-0.01),
    "sadness": dict(brow_raise=-0.005, brow_inner=0.07, brow_arch=-0.01, eye_up=0.55,
                    mouth_w=0.95, curve=-0.07, lip=1.25, mouth_dy=0.01, head_dy=0.06),
    "surprise": dict(brow_raise=0.095, brow_arch=0.02, eye_up=1.75, eye_low=1.3,
                     mouth_w=0.62, curve=0.0, open_up=0.055, open_low=0.1, jaw=0.07,
                     forehead=1.0, lip=0.8),
}
_NEUTRAL_VEC = np.array([_NEUTRAL.get(p, 0.0) for p in _PARAMS])
_APEX_MAT = np.array([[_APEX[c].get(p, _NEUTRAL.get(p, 0.0)) for p in _PARAMS]
                      for c in CLASS_NAMES])
_P = {p: i for i, p in enumerate(_PARAMS)}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator seeded by (seed, *keys); identical in every process."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, *map(int, keys)])


class _Identity:
    """Colours and geometry of one identity (normalised units: image = [-1, 1]^2)."""

    def __init__(self, seed: int, identity: int):
        rng = _rng(seed, identity, 1)
        block = _rng(seed, identity // 5, 2).permutation(len(HAIR_STYLES))
        self.style = HAIR_STYLES[block[identity % 5]]
        u = rng.uniform
        skin = np.array(_SKIN[rng.integers(len(_SKIN))]) + u(-8, 8, 3)
        hair = np.array(_HAIR[rng.integers(len(_HAIR))]) + u(-10, 10, 3)
        iris = np.array(_IRIS[rng.integers(len(_IRIS))]) + u(-12, 12, 3)
        bg = None
        for _ in range(20):  # a background that stands out from skin and hair
            bg = 255 * np.array(colorsys.hsv_to_rgb(u(), u(0.25, 0.6), u(0.55, 0.92)))
            if min(np.abs(bg - skin).sum(), np.abs(bg - hair).sum()) > 120:
                break
        shirt = 255 * np.array(colorsys.hsv_to_rgb(u(), u(0.45, 0.85), u(0.35, 0.8)))
        palette = np.zeros((16, 3))
        palette[[BG, SHIRT, HAIR, SKIN, IRIS]] = bg, shirt, hair, skin, iris
        palette[SHADOW] = skin * 0.82
        palette[CHEEK] = skin * 0.8 + np.array([235, 90, 95]) * 0.2
        palette[LINE] = skin * 0.6
        palette[SCLERA] = (246, 246, 242)
        palette[PUPIL] = (14, 12, 16)
        palette[LASH] = (34, 24, 24)
        palette[BROW] = np.minimum(hair * 0.6, skin * 0.45)
        palette[LIPS] = skin * 0.7 + np.array([190, 60, 70]) * 0.3
        palette[MOUTH] = (66, 18, 26)
        palette[TEETH] = (242, 240, 230)
        self.palette = np.clip(np.round(palette), 0, 255).astype(np.uint32)
        self.packed = self.palette @ np.array([1, 1 << 10, 1 << 20], np.uint32)
        self.cx, self.cy = u(-0.03, 0.03), u(-0.08, -0.03)
        self.a, self.b, self.taper = u(0.52, 0.62), u(0.66, 0.76), u(0.1, 0.3)
        self.ew = u(0.115, 0.135)
        self.eh, self.ri = self.ew * u(0.42, 0.52), self.ew * u(0.52, 0.62)
        self.ex, self.ey = self.a * u(0.36, 0.42), self.cy - self.b * u(0.05, 0.12)
        self.by, self.bt, self.arch = self.ey - u(0.12, 0.145), u(0.045, 0.06), u(0.0, 0.03)
        self.ny, self.nw = self.cy + self.b * u(0.24, 0.3), u(0.06, 0.085)
        self.my, self.lt = self.cy + self.b * u(0.5, 0.56), u(0.02, 0.028)
        self.mw = self.a * u(0.38, 0.46)
        self._bases = {}

    def base(self, g: np.ndarray) -> np.ndarray:
        """Static label map (background, shirt with collar) on grid ``g``."""
        key = len(g)
        if key not in self._bases:
            x, y = g[None, :] - np.float32(self.cx), g[:, None]
            top = self.cy + self.b + 0.1
            shirt = (x / 1.9) ** 2 + ((y - top - 0.7) / 0.7) ** 2 < 1
            lab = np.where(shirt, SHIRT, BG).astype(np.uint8)
            lab[shirt & (np.abs(x) < 0.6 * self.a - (y - top) * 0.6) & (y > top - 0.1)] = SHADOW
            self._bases[key] = lab
        return self._bases[key]


class _Renderer:
    """Draws frames of one identity at one size."""

    def __init__(self, size: int):
        self.size, self.s = size, 2 * size
        self.g = ((np.arange(self.s) + 0.5) * (2.0 / self.s) - 1.0).astype(np.float32)

    def _sl(self, lo, hi):
        i0 = max(int(math.floor((lo + 1) * self.s / 2 - 1)), 0)
        return slice(i0, max(i0, min(int(math.ceil((hi + 1) * self.s / 2 + 1)), self.s)))

    def render(self, f: _Identity, params: np.ndarray, dx: np.ndarray, dy: np.ndarray):
        """Frames [F, size, size, 3] uint8 for per-frame params [F, P] and offsets [F]."""
        n = len(dx)
        lab = np.repeat(f.base(self.g)[None], n, axis=0)
        p32 = params.astype(np.float32)[:, :, None, None]
        p = {k: p32[:, i] for k, i in _P.items()}
        X = self.g[None, None, :] - (dx.astype(np.float32) + np.float32(f.cx))[:, None, None]
        Y = self.g[None, :, None] - dy.astype(np.float32)[:, None, None]
        d0, d1 = float(min(dx.min(), 0)), float(max(dx.max(), 0))
        e0, e1 = float(min(dy.min(), 0)), float(max(dy.max(), 0))

        def win(x0, x1, y0, y1):  # window (views) covering a head-space box in all frames
            rs, cs = self._sl(y0 + e0, y1 + e1), self._sl(x0 + f.cx + d0, x1 + f.cx + d1)
            return lab[:, rs, cs], X[:, :, cs], Y[:, rs, :]

        a, b, cy, s = f.a, f.b, f.cy, f.style
        # Hair behind the head: an ellipse cap within a band of rows.
        ca, cb, ccy, ylo, yhi = {
            "short": (1.07, 1.0, -0.05, -9, 0.0), "long": (1.16, 1.05, -0.04, -9, 1.3),
            "fringe": (1.09, 1.03, -0.04, -9, 0.15), "bald": (1.05, 0.98, 0.0, -0.5, 0.05),
            "curly": (1.42, 1.16, -0.14, -9, 0.35)}[s]
        reg, x, y = win(-a * ca, a * ca, cy + b * (ccy - cb), cy + b * yhi)
        hair = ((x / (a * ca)) ** 2 + ((y - cy - ccy * b) / (b * cb)) ** 2 < 1)
        if s == "long":
            hair |= (np.abs(x) < a * ca) & (y > cy + ccy * b)
        reg[hair & (y > cy + b * ylo) & (y < cy + b * yhi)] = HAIR
        # Neck (head space), cut by the shirt (body space).
        reg, x, y = win(-0.45 * a, 0.45 * a, cy, 1.0)
        reg[(np.abs(x) < 0.42 * a) & (y > cy) & (reg != SHIRT)] = SHADOW
        if s not in ("long", "curly"):  # ears
            reg, x, y = win(-a - 0.1, a + 0.1, f.ey - 0.1, f.ey + 0.2)
            dxe, dye = np.abs(x) - a * 0.97, y - f.ey - 0.06
            reg[(dxe / 0.075) ** 2 + (dye / 0.12) ** 2 < 1] = SKIN
            reg[(dxe / 0.035) ** 2 + (dye / 0.07) ** 2 < 1] = SHADOW
        # Face: egg-shaped ellipse; the jaw lengthens the lower half.
        reg, x, y = win(-a, a, cy - b, cy + b + 0.1)
        dyf = y - cy
        bb = np.where(dyf < 0, np.float32(b), b + p["jaw"])
        w = a * (1 - f.taper * np.clip(dyf / b, 0, 1) ** 2)
        face = x * x / (w * w) + (dyf / bb) ** 2 < 1
        reg[face] = SKIN
        xa = np.abs(x) / a
        hl = {"short": cy - 0.62 * b + 0.42 * b * xa * xa,
              "long": np.where(xa < 0.8, cy - 0.6 * b + 0.3 * b * xa, 9.0),
              "fringe": f.by - 0.14 + 0.05 * np.abs(xa * 5 - np.floor(xa * 5) - 0.5),
              "bald": None, "curly": cy - 0.55 * b + 0.35 * b * xa * xa}[s]
        if hl is not None:
            reg[face & (y < hl)] = HAIR
        # Cheeks (happiness), nose, wrinkles.
        on = {k: p[k].max() > 0 for k in ("cheek", "nose_wr", "glabella", "forehead")}
        if on["cheek"]:  # (each skipped layer would draw nothing)
            reg, x, y = win(-0.75 * a, 0.75 * a, f.ny - 0.15, f.ny + 0.1)
            r = 0.1 * p["cheek"]
            reg[(np.abs(x) - 0.52 * a) ** 2 + (y - f.ny + 0.02) ** 2 < r * r] = CHEEK
        reg, x, y = win(-0.15, 0.15, f.ey, f.ny + 0.06)
        nw = f.nw * (1 + 0.25 * p["nose_wr"])
        reg[(x / nw) ** 2 + ((y - f.ny) / (0.45 * f.nw)) ** 2 < 1] = SHADOW
        reg[(x > 0) & (x < 0.6 * f.nw * (y - f.ey - 0.02) / (f.ny - f.ey)) & (y < f.ny)] = SHADOW
        reg[((np.abs(x) - 0.45 * nw) / (0.3 * f.nw)) ** 2
            + ((y - f.ny - 0.1 * f.nw) / (0.18 * f.nw)) ** 2 < 1] = LINE
        for k in (0.11, 0.075) if on["nose_wr"] else ():
            reg[(np.abs(y - f.ny + k + 0.8 * x * x) < 0.007 * p["nose_wr"])
                & (np.abs(x) < 0.06) & (reg == SKIN)] = LINE
        reg, x, y = win(-0.6 * a, 0.6 * a, f.by - 0.3, f.by + 0.08)
        if on["glabella"]:
            reg[(np.abs(np.abs(x) - 0.028) < 0.007 * p["glabella"]) & (y > f.by - 0.03)
                & (y < f.by + 0.06) & (reg == SKIN)] = LINE
        for k in (0.15, 0.2) if on["forehead"] else ():
            reg[(np.abs(y - f.by + k - 0.3 * x * x) < 0.006 * p["forehead"])
                & (np.abs(x) < 0.55 * a) & (reg == SKIN)] = LINE
        # Eyes: lids open by eye_up above and eye_low below the centre line.
        ew, eh, ex = f.ew, f.eh, f.ex
        reg, x, y = win(-ex - 1.3 * ew, ex + 1.3 * ew,
                        f.ey - 1.8 * eh - 0.03, f.ey + 1.4 * eh + 0.01)
        ddx, ddy = np.abs(x) - ex, y - f.ey
        o = np.maximum(np.where(ddy < 0, p["eye_up"], p["eye_low"]) * eh, 1e-3)
        reg[((ddx / (1.1 * ew)) ** 2 + (ddy / (o + 0.022)) ** 2 < 1) & (ddy < 0.3 * eh)] = LASH
        sclera = (ddx / ew) ** 2 + (ddy / o) ** 2 < 1
        reg[sclera] = SCLERA
        r2 = ddx * ddx + ddy * ddy
        reg[sclera & (r2 < f.ri ** 2)] = IRIS
        reg[sclera & (r2 < (0.45 * f.ri) ** 2)] = PUPIL
        # Eyebrows: tapered bands from the inner to the outer end.
        reg, x, y = win(-ex - 1.4 * ew, ex + 1.4 * ew, f.by - 0.25, f.by + 0.18)
        xin = ex - 0.95 * ew - p["brow_squeeze"]
        t = (np.abs(x) - xin) / (ex + 1.2 * ew - xin)
        yb = (f.by - p["brow_raise"] - p["brow_inner"] * (1 - t)
              - (f.arch + p["brow_arch"]) * 4 * t * (1 - t))
        reg[(t >= 0) & (t <= 1) & (np.abs(y - yb) < f.bt * (0.5 - 0.22 * t))] = BROW
        # Mouth: lips around an opening between two curves.
        reg, x, y = win(-1.5 * f.mw, 1.5 * f.mw, f.my - 0.2, f.my + 0.22)
        u = x / (f.mw * p["mouth_w"])
        sq = np.sqrt(np.maximum(1 - u * u, 0))
        yc = f.my + p["mouth_dy"] - p["curve"] * u * u - p["asym"] * np.maximum(u, 0) ** 2
        hu, hd = p["open_up"] * sq, p["open_low"] * sq
        lt = f.lt * p["lip"] * (0.35 + 0.65 * sq)
        inside, d = np.abs(u) < 1, y - yc
        reg[inside & (d > -hu - 0.9 * lt) & (d < hd + 1.1 * lt)] = LIPS
        reg[inside & (d > -hu - 0.011) & (d < hd + 0.011)] = MOUTH
        reg[inside & (d > -hu) & (d < -hu + p["teeth"] * (hu + hd))] = TEETH
        # Colour and box-downsample 2x2.
        # (palette packed as 10 bits per channel: a sum of four still fits).
        c = np.take(f.packed, lab)
        c = c[:, 0::2, 0::2] + c[:, 0::2, 1::2] + c[:, 1::2, 0::2] + c[:, 1::2, 1::2]
        out = np.empty(c.shape + (3,), np.uint8)
        for k in range(3):
            out[..., k] = (((c >> np.uint32(10 * k)) & np.uint32(1023))
                           + np.uint32(2)) >> np.uint32(2)
        return out


class SyntheticExpressions(VideoSource):
    """Procedural face videos with MUG's six expression labels.

    Args:
      image_size: frame side in pixels.
      split: "train", "test" (identities with index % 5 == 4) or "all".
      seed: seed of everything drawn.
      num_identities: identities before the split.
      num_takes: takes per (identity, expression).
      video_length: frames per video.
      cache: keep drawn videos in memory after their first read.

    Attributes:
      identities: the identities of the split, in index order.
    """

    name = "synthetic_expressions"
    class_names = CLASS_NAMES

    def __init__(self, image_size: int = 64, split: str = "train", seed: int = 0,
                 num_identities: int = 24, num_takes: int = 2, video_length: int = 32,
                 cache: bool = True):
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if image_size < 1 or num_identities < 0 or num_takes < 1 or video_length < 1:
            raise ValueError("image_size, num_takes and video_length must be positive")
        self.frame_shape = (int(image_size), int(image_size), 3)
        self.seed, self.num_takes, self.video_length = int(seed), int(num_takes), int(video_length)
        ids = range(int(num_identities))
        self.identities = [i for i in ids if split == "all" or (i % 5 == 4) == (split == "test")]
        self._renderer = _Renderer(int(image_size))
        self._people: dict[int, _Identity] = {}
        self._motions: dict[int, tuple] = {}
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.identities) * len(CLASS_NAMES) * self.num_takes

    def _key(self, index: int) -> tuple[int, int, int]:
        """(identity, expression, take) of video ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} index {index} out of range [0, {len(self)})")
        per = len(CLASS_NAMES) * self.num_takes
        return self.identities[index // per], index % per // self.num_takes, index % self.num_takes

    def num_frames(self, index: int) -> int:
        self._key(index)
        return self.video_length

    def label(self, index: int) -> int:
        return self._key(index)[1]

    def identity(self, index: int) -> int:
        return self._key(index)[0]

    def describe(self, index: int) -> str:
        ident, expr, take = self._key(index)
        return f"{self.name}[id={ident},{CLASS_NAMES[expr]},take={take}]"

    def _person(self, identity: int) -> _Identity:
        person = self._people.get(identity)
        if person is None:
            person = self._people[identity] = _Identity(self.seed, identity)
        return person

    def motion(self, index: int):
        """Per-frame expression parameters and head offsets of video ``index``.

        Frame 0 is neutral with zero offset; the expression eases in from a
        take-dependent onset and reaches its apex before the last frame.

        Returns:
          (params, dx, dy): read-only float64 arrays [L, len(_PARAMS)], [L]
          and [L]; offsets are in normalised units (the image spans 2).
        """
        if index in self._motions:
            return self._motions[index]
        ident, expr, take = self._key(index)
        rng = _rng(self.seed, ident, 3, expr, take)
        onset, dur, gain = rng.uniform(0.0, 0.2), rng.uniform(0.55, 0.75), rng.uniform(0.9, 1.0)
        amp_x, amp_y = rng.uniform(0.02, 0.06) * rng.choice([-1, 1]), rng.uniform(0.01, 0.035)
        fx, fy = rng.uniform(0.4, 1.2), rng.uniform(0.8, 2.0)
        n = self.video_length
        tau = np.arange(n) / (n - 1) if n > 1 else np.ones(1)
        t = np.clip((tau - onset) / dur, 0.0, 1.0)
        ease = gain * t * t * t * (t * (6 * t - 15) + 10)  # smootherstep
        params = _NEUTRAL_VEC + ease[:, None] * (_APEX_MAT[expr] - _NEUTRAL_VEC)
        dx = amp_x * np.array([math.sin(2 * math.pi * fx * v) for v in tau])
        dy = amp_y * np.array([math.sin(2 * math.pi * fy * v) for v in tau])
        motion = (params, dx, dy + params[:, _P["head_dy"]])
        for array in motion:
            array.setflags(write=False)
        self._motions[index] = motion
        return motion

    def _render(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        params, dx, dy = self.motion(index)
        person = self._person(self._key(index)[0])
        return self._renderer.render(person, params[frame_indices], dx[frame_indices],
                                     dy[frame_indices])

    def _read(self, index: int, frame_indices: np.ndarray) -> np.ndarray:
        n = self.num_frames(index)
        if len(frame_indices) and (frame_indices.min() < 0 or frame_indices.max() >= n):
            raise IndexError(f"{self.describe(index)}: frames {frame_indices} outside [0, {n})")
        if not len(frame_indices):
            return np.zeros((0,) + self.frame_shape, np.uint8)
        if self._cache is None:
            return self._render(index, frame_indices)
        video = self._cache.get(index)
        if video is None:
            video = self._render(index, np.arange(n))
            self._cache[index] = video  # a race only draws a video twice
        return video[frame_indices]


@registry.register_dataset("synthetic_expressions")
def build(config: DataConfig) -> VideoSource:
    """The built-in synthetic expression dataset, from the data flags."""
    return SyntheticExpressions(
        image_size=config.image_size, split=config.split, seed=config.seed,
        num_identities=config.num_identities, num_takes=config.num_takes,
        video_length=config.video_length, cache=config.cache)
