"""What the protocols share: real data draws, extractors, generated samples, outputs.

``Context.generated_videos`` / ``generated_images`` are how every protocol
samples. For a conditional model (``sampler.context_length(T)`` > 0: video
prediction, DRNet's reconstructions) they follow seed 002's protocol: each
sample continues the first frames of a real clip of the held-out split
(``EvalConfig.eval_split``), drawn from a seed of its own, never training
data and never a hidden attribute of the model; the report's details say
which clips (``conditioning``).
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from tfvidgen import registry
from tfvidgen.data import pipeline
from tfvidgen.data.sources import SubsetSource
from tfvidgen.evaluate.config import EvalConfig
from tfvidgen.evaluate.specs import MetricUnavailable

# Offset of the seed of conditioning clips from --eval_seed (parzen's validation
# and test draws use +1 and +2).
CONTEXT_SEED_OFFSET = 3


def real_clips(data: pipeline.TrainingData, n: int, num_frames: int, seed: int,
               every_nth: int = 1) -> np.ndarray:
    """uint8 [n, T, H, W, 3]: clips as the training pipeline draws them, from (seed, index)."""
    loader = pipeline.ElementLoader(data, num_frames, every_nth, 0, seed)
    return np.stack([loader(g)[0] for g in range(n)])


def real_images(data: pipeline.TrainingData, n: int, seed: int) -> np.ndarray:
    """uint8 [n, H, W, 3]: frames drawn as the image discriminator's are."""
    loader = pipeline.ElementLoader(data, 0, 1, 1, seed)
    return np.stack([loader(g)[0][0] for g in range(n)])


def unit(x) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1]."""
    return np.asarray(x, np.float32) / 255.0


class Context:
    """The sampler, data and config of one evaluation, lazily built pieces, outputs.

    Args:
      sampler: a ``TaskSampler`` or ``SavedModelSampler``.
      config: the protocols' sizes.
      values: the run's values (builds its data and held-out split).
      data: the training data (default: built from ``values``).
      output_stem: plots go to ``<stem>_<what>.png``; None: no files.
    """

    def __init__(self, sampler, config: EvalConfig, *, values: Optional[dict] = None,
                 data: Optional[pipeline.TrainingData] = None, output_stem: Optional[str] = None):
        self.sampler, self.config, self.values = sampler, config, values or {}
        self._data, self._heldout, self._extractors = data, None, {}
        self._reference = None
        self.output_stem = output_stem
        self.images: Dict[str, bytes] = {}  # PNGs for TensorBoard

    @property
    def data(self) -> pipeline.TrainingData:
        if self._data is None:
            from tfvidgen import experiment
            if not self.values:
                raise MetricUnavailable("no training data: pass the run's flags or data")
            self._data = experiment.build_training_data(self.values)
        return self._data

    @property
    def reference(self) -> pipeline.TrainingData:
        """The real set that samples are compared with (fd, is_real): every video of
        the dataset's split, the same for every run on it.

        Not the run's own training data: a run trained with
        ``--broken_video_fraction`` shows D_V only part of the videos, and
        ``--image_dataset`` adds frames; two runs compared must face the same
        reference (seed 003 scores its mixed-data run against the full set).
        """
        if self._reference is None:
            self._reference = pipeline.split_sources(self.data.sources[0], seed=self.config.seed)
        return self._reference

    def reference_description(self) -> str:
        source = self.data.sources[0]
        split = self.values.get("split") or "train"
        return (f"{source.name}: all {len(source)} videos of its {split!r} split (the "
                "dataset's, whatever the run trained on), clips drawn as the trainer draws them")

    @property
    def every_nth(self) -> int:
        return int(self.values.get("every_nth") or 1)

    def heldout(self) -> tuple:
        """(VideoSource of held-out videos, description): --eval_split, else the training videos."""
        if self._heldout is None:
            split = self.config.eval_split
            source, note = None, ""
            if self.values and split == self.values.get("split"):
                self._heldout = (self.data.videos,
                                 f"the {split!r} split: the training videos themselves")
                return self._heldout
            if self.values:
                from tfvidgen import experiment
                try:
                    source = experiment.build_source({**self.values, "split": split})
                except (ValueError, FileNotFoundError) as e:
                    note = f" ({e})"
                if source is not None and len(source) < 2:
                    note, source = f" (the {split!r} split has {len(source)} videos)", None
            if source is None:
                source = self.data.videos
                desc = (f"no usable {split!r} split{note}: the training videos "
                        f"({self.values.get('split', 'given data')}) are used as held-out data")
                logging.warning("evaluation: %s", desc)
            else:
                desc = f"the {split!r} split ({len(source)} videos)"
            self._heldout = (source, desc)
        return self._heldout

    def heldout_halves(self) -> tuple:
        """(validation, test) TrainingData: even- and odd-indexed held-out videos."""
        source, desc = self.heldout()
        if len(source) < 2:
            raise MetricUnavailable("held-out data needs at least 2 videos (validation and test)")
        idx = np.arange(len(source))
        halves = [pipeline.split_sources(SubsetSource(source, idx[k::2]), seed=self.config.seed)
                  for k in (0, 1)]
        return halves[0], halves[1], desc + "; validation: even-indexed videos, test: odd"

    # Samples ----------------------------------------------------------------------
    def _conditioning(self, n: int, frames: int,
                      heldout) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """(real clips to condition on, description), or (None, None) for an
        unconditional sampler. ``heldout``: (TrainingData, description) to
        draw them from (default: the held-out split)."""
        if not frames:
            return None, None
        if heldout is None:
            source, desc = self.heldout()
            heldout = (pipeline.split_sources(source, seed=self.config.seed), desc)
        data, desc = heldout
        seed = self.config.seed + CONTEXT_SEED_OFFSET
        clips = real_clips(data, n, frames, seed, self.every_nth)
        return clips, (f"each sample continues the first {frames} frame(s) of a real clip of "
                       f"{desc} (drawn with seed {seed}); those frames are real")

    def generated_videos(self, n: int, num_frames: int,
                         heldout=None) -> Tuple[np.ndarray, Optional[str]]:
        """uint8 [n, num_frames, H, W, 3] samples and how they were conditioned (None:
        unconditional). ``heldout``: (TrainingData, description) the context
        clips come from (default: the held-out split)."""
        clips, note = self._conditioning(n, self.sampler.context_length(num_frames), heldout)
        return self.sampler.videos(n, num_frames, self.config.seed, context=clips), note

    def generated_images(self, n: int, heldout=None) -> Tuple[np.ndarray, Optional[str]]:
        """uint8 [n, H, W, 3] samples and how they were conditioned (see ``generated_videos``)."""
        clips, note = self._conditioning(n, self.sampler.context_length(1), heldout)
        return self.sampler.images(n, self.config.seed, context=clips), note

    # Extractors and files ---------------------------------------------------------
    def extractor(self, spec=None):
        spec = spec if spec is not None else self.config.extractor
        if spec is None:
            raise MetricUnavailable("no feature extractor: pass --extractor (or name one per "
                                    "metric, e.g. fd@classifier:runs/expr_classifier)")
        if not isinstance(spec, str):
            return spec  # an extractor object (tests, notebooks)
        if spec not in self._extractors:
            self._extractors[spec] = make_extractor(spec, self.config)
        return self._extractors[spec]

    def path(self, what: str, ext: str = "png") -> Optional[str]:
        return f"{self.output_stem}_{what}.{ext}" if self.output_stem else None

    def clip_length(self, extractor=None) -> int:
        """Frames per clip: --num_frames, else the extractor's, else the model's default."""
        wanted = getattr(extractor, "num_frames", None)
        chosen = self.config.num_frames or wanted or self.sampler.default_num_frames
        if wanted and chosen != wanted:
            raise MetricUnavailable(f"extractor {extractor.name!r} takes {wanted}-frame clips; "
                                    f"--num_frames={chosen}")
        return int(chosen)


def make_extractor(spec: str, config: EvalConfig):
    """``i3d``, ``c3d``, ``classifier:<path>`` or ``<registered name>[:<path>]`` -> extractor."""
    try:
        from tfvidgen.metrics import extractors
        get_extractor = extractors.get_extractor
    except (ImportError, AttributeError) as e:
        raise MetricUnavailable(
            f"feature extractors are not available ({e}): fd and is need "
            "tfvidgen.metrics.extractors.get_extractor") from None
    name, _, path = spec.partition(":")
    kwargs = {}
    if name.startswith("i3d"):
        path = path or config.i3d_path
    elif name.startswith("c3d"):  # c3d, c3d-fc6
        path = path or config.c3d_path
        if config.c3d_mean_path:
            kwargs["mean_path"] = config.c3d_mean_path
    try:
        return get_extractor(name, path or None, **kwargs)
    except ImportError as e:
        raise MetricUnavailable(f"extractor {name!r} is not available: {e}") from None
    except KeyError as e:
        raise MetricUnavailable(f"--extractor={spec}: {e.args[0]}") from None


# Protocols ----------------------------------------------------------------------------
PROTOCOLS: Dict[str, Callable] = {}


def protocol(name: str):
    """Registers a protocol ``fn(ctx, extractor_spec) -> (scalars, details, files)``."""
    def decorator(fn):
        PROTOCOLS[name] = fn
        if name not in registry.METRICS:
            registry.register_metric(name)(fn)
        return fn
    return decorator


def with_conditioning(details: dict, note: Optional[str]) -> dict:
    """``details`` with ``conditioning`` added for a conditional model's samples."""
    return {**details, "conditioning": note} if note else details
