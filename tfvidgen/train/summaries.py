"""Video summaries: animated GIFs in TensorBoard, frame grids, files on disk.

TensorBoard's image dashboard shows whatever encoded image it is given,
and browsers animate GIFs, so a GIF written under the image plugin's
metadata plays in TensorBoard (the approach of tensor2tensor and SAVP).
"""
from __future__ import annotations

import io
import math

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.plugins.image import metadata as image_metadata


def to_uint8(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def tile(videos: np.ndarray, columns: int | None = None) -> np.ndarray:
    """[N, T, H, W, C] -> [T, rows*H, cols*W, C] grid, 1-pixel black gutters."""
    n, t, h, w, c = videos.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros([t, rows * (h + 1) - 1, columns * (w + 1) - 1, c], videos.dtype)
    for i in range(n):
        r, q = divmod(i, columns)
        grid[:, r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = videos[i]
    return grid


def encode_gif(frames: np.ndarray, fps: float = 8.0) -> bytes:
    """uint8 [T, H, W, 3] -> GIF bytes (looping)."""
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(1000 / fps), loop=0)
    return buffer.getvalue()


def write_gif(path: str, videos, fps: float = 8.0, columns=None) -> None:
    """Writes a grid of videos [N, T, H, W, 3] (uint8 or [-1, 1]) as one GIF."""
    data = encode_gif(tile(to_uint8(videos), columns), fps)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def frames_grid(videos, max_frames: int = 16) -> np.ndarray:
    """[N, T, H, W, C] -> one image: a row of frames per video."""
    v = to_uint8(videos)[:, :max_frames]
    n, t, h, w, c = v.shape
    strip = np.transpose(v, (0, 2, 1, 3, 4)).reshape(n, h, t * w, c)
    return tile(strip[:, None], columns=1)[0]


def gif_summary(name: str, videos, step, fps: float = 8.0) -> None:
    """An animated GIF grid of ``videos`` in TensorBoard's image dashboard."""
    grid = tile(to_uint8(videos))
    gif = encode_gif(grid, fps)
    tensor = tf.stack([tf.constant(str(grid.shape[2])), tf.constant(str(grid.shape[1])),
                       tf.constant(gif)])
    metadata = image_metadata.create_summary_metadata(
        display_name=name, description=f"{videos.shape[0]} videos, animated GIF")
    tf.summary.write(tag=name, tensor=tensor, step=step, metadata=metadata)


def video_summaries(named, step) -> None:
    """GIF + frame grid for videos [N, T, ...]; a grid image for images [N, H, W, C]."""
    for name, value in named.items():
        value = np.asarray(value)
        if value.ndim == 5:
            gif_summary(f"{name}/gif", value, step)
            tf.summary.image(f"{name}/frames", frames_grid(value)[None], step=step)
        else:
            tf.summary.image(name, tile(to_uint8(value)[:, None])[0][None], step=step)
