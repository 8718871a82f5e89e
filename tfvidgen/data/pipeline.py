"""tf.data input pipeline: real clips (S_T) and frames (S_1) for a Task.

Batch element ``g`` (``step * batch_size + i``) is a pure function of
(seed, g): the video comes from a seeded shuffle-and-repeat order
(``EpochOrder``), the clip start and the image frames from a generator
seeded with (seed, g). Hence the stream is deterministic, independent of
parallelism, and a run resumed at step s rebuilds it from element
``s * batch_size`` with no iterator state in the checkpoint.

Elements hold ``video`` [T, H, W, 3] and ``label`` (when the Task wants
clips), ``image`` [k, H, W, 3] (k = images_per_video) and any extra keys
the Task names and the source provides (``VideoSource.extras``). With
``real_batches`` = n > 1, element g holds the n elements ``g * n + j`` of
the single-draw stream, stacked on a new axis after the batch axis.

Sources are read at their stored frame size; a phase that wants smaller or
shorter clips (progressive growing) gets them average-pooled by integer
factors: ``f x f`` spatially to its frame size and ``time_pool`` frames
temporally. Frames are normalised to [-1, 1].

Batching is at the global batch size, or, under
``strategy.distribute_datasets_from_function`` (``input_context``), at the
per-replica batch size over this input pipeline's share of each global
batch: worker w of W reads elements ``[w, w + 1) * batch_size / W`` of
every step and nothing else. One worker's replicas take its batches in
turn, so replica r of step s holds elements ``s * batch_size + r * b +
[0, b)`` whatever the number of workers: the same data as one worker.

Unreadable videos are skipped: the element falls back to the next video of
a deterministic sequence, the source records the file, and the trainer
reports the count. When ``MAX_RETRIES`` reads in a row fail, the loader
raises ``DataError`` (also recorded in ``TrainingData.errors``, so that the
trainer can stop with its one-line message instead of tf.data's traceback).
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import tensorflow as tf

from tfvidgen.data import sampling
from tfvidgen.data.sources import CorruptVideoError, SubsetSource, VideoSource

MAX_RETRIES = 64

_warned_short = set()  # (source id, frames per clip) already warned about


class DataError(RuntimeError):
    """The pipeline cannot deliver an element (every read in a row failed)."""


@dataclasses.dataclass
class TrainingData:
    """The videos D_V sees and the frame pool D_I sees."""
    videos: VideoSource | None
    frame_pool: sampling.FramePool | None
    sources: tuple  # every source involved, for the skipped-file report
    # DataErrors raised inside tf.data (which reports them wrapped in a traceback).
    errors: list = dataclasses.field(default_factory=list)


def data_error(data: TrainingData):
    """The first DataError the pipeline of ``data`` raised, or None."""
    return data.errors[0] if data.errors else None


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
    """numpy side of the pipeline: batch element g -> arrays.

    Args:
      data: what to read.
      clip_length: frames read per clip (before any temporal pooling); 0 for
        no clips.
      every_nth: temporal stride of the clips.
      images_per_video: frames drawn from the frame pool per element.
      seed: the run's seed.
      extras: keys of ``VideoSource.extras`` to deliver with each clip.
      real_batches: draws per element (see the module docstring).
    """

    def __init__(self, data: TrainingData, clip_length: int, every_nth: int,
                 images_per_video: int, seed: int, extras=(), real_batches: int = 1):
        self.data = data
        self.clip_length = clip_length
        self.every_nth = every_nth
        self.images_per_video = images_per_video
        self.seed = seed
        self.extras = tuple(extras)
        self.real_batches = int(real_batches)
        if self.real_batches < 1:
            raise ValueError(f"real_batches must be >= 1, got {real_batches}")
        if clip_length:
            self.order = sampling.EpochOrder(len(data.videos), seed)
        if images_per_video and data.frame_pool is None:
            raise ValueError("This model needs images but the data has none.")
        self.extra_specs = {}
        if self.extras:
            if not clip_length:
                raise ValueError(f"Extra keys {self.extras} come with clips; this model "
                                 "asks for none (clip_length=0).")
            provided = data.videos.extra_specs()
            for key in self.extras:
                if key in ("video", "label", "image"):
                    raise ValueError(f"{key!r} cannot be an extra key")
                if key not in provided:
                    raise ValueError(f"The dataset {data.videos.name!r} provides no {key!r}; "
                                     f"it has {sorted(provided) or 'no extra keys'}.")
                dtype, shape = provided[key]
                self.extra_specs[key] = (np.dtype(dtype), tuple(int(d) for d in shape))

    def keys(self):
        keys = []
        if self.clip_length:
            keys += ["video", "label"]
        if self.images_per_video:
            keys.append("image")
        return keys + list(self.extras)

    def specs(self, frame_shape):
        """(numpy dtype, shape) of each key of one element, in ``keys()`` order."""
        specs = {"video": (np.uint8, (self.clip_length, *frame_shape)),
                 "label": (np.int32, ()),
                 "image": (np.uint8, (self.images_per_video, *frame_shape))}
        specs.update(self.extra_specs)
        lead = (self.real_batches,) if self.real_batches > 1 else ()
        return [(specs[k][0], lead + tuple(specs[k][1])) for k in self.keys()]

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
                return videos.read(index, idx), np.int32(videos.label(index)), index
            except CorruptVideoError:
                continue
        raise self._fail(f"{MAX_RETRIES} videos in a row of {videos.name!r} could not be read")

    def _image(self, rng):
        pool, failed = self.data.frame_pool, set()
        for _ in range(MAX_RETRIES):
            # After a failure, draw among the other videos: one unreadable video
            # with many frames (a hostile header) cannot take every retry.
            drawn = pool.draw_position(rng, failed)
            if drawn is None:
                break
            j, frame = drawn
            source, video = pool.video_at(j)
            try:
                return source.read(video, [frame])[0]
            except CorruptVideoError:
                failed.add(j)
        raise self._fail(f"{len(failed)} videos in a row of the image pool could not be read")

    def _fail(self, what: str) -> DataError:
        """A DataError (recorded in ``data.errors``) saying what failed and the fix."""
        skipped = [(s, i, r) for s in self.data.sources for i, r in sorted(s.skipped.items())]
        example = ""
        if skipped:
            source, index, reason = skipped[0]
            example = f", e.g. {source.describe(index)}: {reason.splitlines()[0]}"
        error = DataError(
            f"the input pipeline stopped: {what} ({len(skipped)} unreadable files so far"
            f"{example}). Replace or remove the unreadable files (each is listed in the "
            "warnings above) or point --data_dir at readable videos.")
        self.data.errors.append(error)
        return error

    def element(self, g):
        """The arrays of single-draw element ``g``, in ``keys()`` order."""
        rng = np.random.default_rng([self.seed, int(g), 0x5A])
        out = []
        index = None
        if self.clip_length:
            video, label, index = self._clip(int(g), rng)
            out += [video, label]
        if self.images_per_video:
            out.append(np.stack([self._image(rng) for _ in range(self.images_per_video)]))
        if self.extras:
            values = self.data.videos.extras(index)
            for key in self.extras:
                dtype, shape = self.extra_specs[key]
                value = np.asarray(values[key], dtype)
                if value.shape != shape:
                    raise ValueError(f"extras[{key!r}] of {self.data.videos.describe(index)} "
                                     f"has shape {value.shape}, declared {shape}")
                out.append(value)
        return out

    def __call__(self, g):
        g = int(g)
        if self.real_batches == 1:
            return self.element(g)
        draws = [self.element(g * self.real_batches + j) for j in range(self.real_batches)]
        return [np.stack(values) for values in zip(*draws)]


def stored_frame_shape(data: TrainingData) -> tuple:
    """(H, W, C) at which the sources of ``data`` store their frames."""
    shapes = set()
    if data.videos is not None:
        shapes.add(tuple(data.videos.frame_shape))
    if data.frame_pool is not None:
        shapes.update(tuple(source.frame_shape) for source, _ in data.frame_pool.entries)
    if len(shapes) != 1:
        raise ValueError(f"The videos and images have different frame shapes: {sorted(shapes)}; "
                         "read them at one size.")
    return shapes.pop()


def pool_factor(stored_shape, frame_shape) -> int:
    """The integer factor f with stored = f * delivered frame size."""
    (sh, sw, sc), (h, w, c) = stored_shape, frame_shape
    if sc != c or sh % h or sw % w or sh // h != sw // w:
        raise ValueError(f"Frames stored at {tuple(stored_shape)} cannot be average-pooled to "
                         f"{tuple(frame_shape)}: only integer factors (the same for height and "
                         "width) are possible.")
    return sh // h


def average_pool(x, time_factor: int = 1, space_factor: int = 1):
    """Means of non-overlapping ``time_factor x f x f`` blocks of x [..., T, H, W, C].

    Progressive growing feeds its lower levels real videos pooled this way
    (2 x 2 spatially and 2 temporally per level).
    """
    if time_factor == 1 and space_factor == 1:
        return x
    lead = x.shape[:-4]
    lead = list(lead) if lead.is_fully_defined() else tf.unstack(tf.shape(x)[:-4])
    t, h, w, c = x.shape[-4:]
    blocks = tf.reshape(x, lead + [t // time_factor, time_factor, h // space_factor,
                                   space_factor, w // space_factor, space_factor, c])
    return tf.reduce_mean(blocks, axis=[-6, -4, -2])


def make_dataset(data: TrainingData, *, clip_length: int, every_nth: int, images_per_video: int,
                 batch_size: int, frame_shape, seed: int, start_step: int = 0,
                 time_pool: int = 1, extras=(), real_batches: int = 1,
                 input_context: tf.distribute.InputContext | None = None,
                 num_parallel_calls=tf.data.AUTOTUNE) -> tf.data.Dataset:
    """An infinite dataset of batches starting at ``start_step``.

    Args:
      data: the videos and frame pool.
      clip_length: delivered frames per clip (0: no clips).
      every_nth: temporal stride of the clips (in stored frames).
      images_per_video: delivered frames per element under "image".
      batch_size: the global batch size.
      frame_shape: delivered (H, W, C); the stored size divided by an integer.
      seed: the run's seed.
      start_step: first step (resume).
      time_pool: temporal pooling factor: ``clip_length * time_pool`` frames
        are read and averaged in groups.
      extras: extra keys from the source (``VideoSource.extras``).
      real_batches: independent draws per element (an extra axis when > 1).
      input_context: under ``strategy.distribute_datasets_from_function``:
        yield this input pipeline's per-replica batches only.
      num_parallel_calls: parallelism of the element loader.
    """
    stored = stored_frame_shape(data)
    space_factor = pool_factor(stored, tuple(frame_shape))
    if clip_length:
        warn_short_videos(data.videos, clip_length * time_pool, clip_length, time_pool)
    loader = ElementLoader(data, clip_length * time_pool, every_nth, images_per_video, seed,
                           extras=extras, real_batches=real_batches)
    keys, specs = loader.keys(), loader.specs(stored)

    def load(g):
        values = tf.numpy_function(loader, [g], [tf.as_dtype(d) for d, _ in specs],
                                   stateful=False)
        element = {}
        for key, value, (_, shape) in zip(keys, values, specs):
            value.set_shape(shape)
            element[key] = value
        return element

    def normalise_and_pool(batch):
        out = dict(batch)
        for key, factor in (("video", time_pool), ("image", 1)):
            if key in out:
                pixels = tf.cast(out[key], tf.float32) / 127.5 - 1.0
                out[key] = average_pool(pixels, factor, space_factor)
        return out

    if input_context is None:
        pipeline_id, num_pipelines, local_batch = 0, 1, int(batch_size)
    else:
        pipeline_id = input_context.input_pipeline_id
        num_pipelines = input_context.num_input_pipelines
        local_batch = input_context.get_per_replica_batch_size(int(batch_size))
    if batch_size % num_pipelines:
        raise ValueError(f"batch size {batch_size} does not split over {num_pipelines} workers")
    share = int(batch_size) // num_pipelines  # elements of each step this pipeline reads
    ds = tf.data.Dataset.range(int(start_step) * share, np.iinfo(np.int64).max // num_pipelines)
    if num_pipelines > 1:
        ds = ds.map(lambda j: j // share * batch_size + pipeline_id * share + j % share)
    ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
    ds = ds.batch(local_batch, drop_remainder=True)
    ds = ds.map(normalise_and_pool)
    options = tf.data.Options()
    options.deterministic = True
    # Elements are generated from indices, not files: shard by data across workers
    # (experimental_distribute_dataset); with an input context the shard is ours already.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA if input_context is None
        else tf.data.experimental.AutoShardPolicy.OFF)
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def warn_short_videos(videos: VideoSource, frames: int, clip_length: int,
                      time_pool: int = 1) -> None:
    """Warns (once per source and clip size) when clips of ``frames`` frames are
    longer than some videos: their clips repeat the last frame (padding)."""
    key = (id(videos), int(frames))
    if key in _warned_short:
        return
    _warned_short.add(key)
    lengths = np.asarray(videos.lengths(), np.int64)
    readable = lengths[lengths > 0]
    short = readable[readable < frames]
    if not short.size:
        return
    setting = f"--clip_length={clip_length}" + (f" x {time_pool} (time pooling)"
                                                if time_pool > 1 else "")
    logging.warning(
        "%s (%d frames per clip) is longer than %d of the %d videos of %r (%s frames "
        "long): their clips repeat their last frame to fill the clip. Use --clip_length "
        "<= %d to train on real frames only.", setting, frames, short.size, readable.size,
        videos.name, f"{short.min()}" if short.min() == short.max()
        else f"{short.min()}-{short.max()}", readable.min() // max(time_pool, 1))


def report_skipped(data: TrainingData) -> int:
    """Logs every unreadable file met so far; returns their number."""
    total = 0
    for source in data.sources:
        for index, reason in sorted(source.skipped.items()):
            logging.warning("skipped %s: %s", source.describe(index), reason)
        total += len(source.skipped)
    return total
