"""Small numpy/PIL helpers shared by the file-based sources."""
from __future__ import annotations

import numpy as np
from PIL import Image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of a PIL image; RGBA and palette images are composited on black."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def center_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Largest centred square (left, top, right, bottom)."""
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return left, top, left + side, top + side


def resize_frame(frame, size: int, box=None) -> np.ndarray:
    """Crops ``box`` (default: centred square) and resizes to size x size.

    Args:
      frame: PIL image or uint8 array [H, W, 3].
      size: output side in pixels.
      box: optional (left, top, right, bottom) crop in input pixels.
    Returns:
      uint8 array [size, size, 3].
    """
    image = frame if isinstance(frame, Image.Image) else Image.fromarray(np.asarray(frame))
    image = to_rgb(image)
    if box is None:
        box = center_crop_box(*image.size)
    image = image.crop(tuple(int(v) for v in box))
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
