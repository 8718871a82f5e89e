"""tf.data input pipeline: real clips (S_T) and frames (S_1) for a Task.

Batch element ``g`` (``step * batch_size + i``) is a pure function of
(seed, g): the video comes from a seeded shuffle-and-repeat order
(``EpochOrder``), the clip start and the image frames from a generator
seeded with (seed, g). Hence the stream is deterministic, independent of
parallelism, and a run resumed at step s rebuilds it from element
``s * batch_size`` with no iterator state in the checkpoint.

Elements hold ``video`` [T, H, W, 3] and ``label`` (when the Task wants
clips) and ``image`` [k, H, W, 3] (k = images_per_video). Batching is at
the global batch size; ``strategy.experimental_distribute_dataset`` then
splits each batch across replicas. Frames are normalised to [-1, 1].

Unreadable videos are skipped: the element falls back to the next video of
a deterministic sequence, the source records the file, and the trainer
reports the count.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from tfvidgen.data import sampling
from tfvidgen.data.sources import CorruptVideoError, SubsetSource, VideoSource

MAX_RETRIES = 64


@dataclasses.dataclass
class TrainingData:
    """The videos D_V sees and the frame pool D_I sees."""
    videos: VideoSource | None
    frame_pool: sampling.FramePool | None
    sources: tuple  # every source involved, for the skipped-file report


def split_sources(source: VideoSource, *, image_source: VideoSource | None = None,
                  broken_fraction: float = 0.0, seed: int = 0,
                  images_from_videos: bool = True) -> TrainingData:
    """Builds what D_V and D_I sample from (seed 003, section 5.1).

    Args:
      source: the video dataset.
      image_source: an additional image set (e.g. ``image_folder``) for D_I.
      broken_fraction: fraction of the videos "broken into single frames":
        removed from D_V's videos and given to D_I as images (0.5 gives the
        paper's 1:1 mixture of images and videos).
      seed: seed of the random split.
      images_from_videos: D_I also takes frames of the remaining videos.
    """
    n = len(source)
    if n == 0:
        raise ValueError(f"The dataset {source.name!r} has no videos.")
    order = np.random.default_rng([seed, 0xB0]).permutation(n)
    num_broken = int(round(broken_fraction * n))
    if num_broken >= n:
        raise ValueError("--broken_video_fraction leaves no videos for the video discriminator")
    broken, kept = np.sort(order[:num_broken]), np.sort(order[num_broken:])
    videos = source if num_broken == 0 else SubsetSource(source, kept)
    entries = []
    if images_from_videos:
        entries.append((source, kept))
    if num_broken:
        entries.append((source, broken))
    if image_source is not None:
        entries.append((image_source, np.arange(len(image_source))))
    pool = sampling.FramePool(entries) if entries else None
    sources = (source,) + ((image_source,) if image_source is not None else ())
    return TrainingData(videos=videos, frame_pool=pool, sources=sources)


class ElementLoader:
    """numpy side of the pipeline: batch element g -> arrays."""

    def __init__(self, data: TrainingData, clip_length: int, every_nth: int,
                 images_per_video: int, seed: int):
        self.data = data
        self.clip_length = clip_length
        self.every_nth = every_nth
        self.images_per_video = images_per_video
        self.seed = seed
        if clip_length:
            self.order = sampling.EpochOrder(len(data.videos), seed)
        if images_per_video and data.frame_pool is None:
            raise ValueError("This model needs images but the data has none.")

    def keys(self):
        keys = []
        if self.clip_length:
            keys += ["video", "label"]
        if self.images_per_video:
            keys.append("image")
        return keys

    def _clip(self, g, rng):
        videos = self.data.videos
        for attempt in range(MAX_RETRIES):
            # Fall back along the same shuffled order: deterministic for a given g.
            index = self.order(g + attempt * 7919)
            length = videos.num_frames(index)
            if length <= 0:  # header unreadable: the source has recorded it as skipped
                continue
            try:
                idx = sampling.clip_indices(length, self.clip_length, self.every_nth, rng)
                return videos.read(index, idx), np.int32(videos.label(index))
            except CorruptVideoError:
                continue
        raise RuntimeError(f"{MAX_RETRIES} unreadable videos in a row in {videos.name!r}; "
                           "check the files listed in the warnings above.")

    def _image(self, rng):
        for _ in range(MAX_RETRIES):
            source, video, frame = self.data.frame_pool.draw(rng)
            try:
                return source.read(video, [frame])[0]
            except CorruptVideoError:
                continue
        raise RuntimeError(f"{MAX_RETRIES} unreadable images in a row; check the files "
                           "listed in the warnings above.")

    def __call__(self, g):
        g = int(g)
        rng = np.random.default_rng([self.seed, g, 0x5A])
        out = []
        if self.clip_length:
            out += list(self._clip(g, rng))
        if self.images_per_video:
            out.append(np.stack([self._image(rng) for _ in range(self.images_per_video)]))
        return out


def make_dataset(data: TrainingData, *, clip_length: int, every_nth: int, images_per_video: int,
                 batch_size: int, frame_shape, seed: int, start_step: int = 0,
                 num_parallel_calls=tf.data.AUTOTUNE) -> tf.data.Dataset:
    """An infinite dataset of global batches starting at ``start_step``."""
    loader = ElementLoader(data, clip_length, every_nth, images_per_video, seed)
    keys = loader.keys()
    dtypes = {"video": tf.uint8, "label": tf.int32, "image": tf.uint8}
    shapes = {"video": [clip_length, *frame_shape], "label": [],
              "image": [images_per_video, *frame_shape]}

    def load(g):
        values = tf.numpy_function(loader, [g], [dtypes[k] for k in keys], stateful=False)
        element = {}
        for key, value in zip(keys, values):
            value.set_shape(shapes[key])
            element[key] = value
        return element

    def normalise(batch):
        return {k: (tf.cast(v, tf.float32) / 127.5 - 1.0 if v.dtype == tf.uint8 else v)
                for k, v in batch.items()}

    first = int(start_step) * int(batch_size)
    ds = tf.data.Dataset.range(first, np.iinfo(np.int64).max)
    ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.map(normalise)
    options = tf.data.Options()
    options.deterministic = True
    # Elements are generated from indices, not files: shard by data across workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def report_skipped(data: TrainingData) -> int:
    """Logs every unreadable file met so far; returns their number."""
    total = 0
    for source in data.sources:
        for index, reason in sorted(source.skipped.items()):
            logging.warning("skipped %s: %s", source.describe(index), reason)
        total += len(source.skipped)
    return total
