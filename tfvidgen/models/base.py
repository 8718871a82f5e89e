"""The Task contract: what a method provides to the one trainer and exporter.

A Task (one per method, registered by name in ``tfvidgen.registry``) owns
its networks and optimizers, the updates of one training iteration
(``train_step``), sampling, what to show in TensorBoard, the items to
checkpoint and its serving signatures. The trainer (``tfvidgen.train.loop``)
owns everything else and never branches on a method's name.

Phases (``tfvidgen.models.phases``): a Task may split its run into phases
with their own data shape and fade-in (progressive growing's levels,
pre-training then joint training). ``Task.phases`` declares the schedule
(default: one phase, the whole run, with ``data_requirements()`` at
``data_spec.image_size``); the trainer calls ``Task.enter_phase`` when a
phase begins or when a run resumes inside it, feeds each phase the data it
asks for and compiles one ``train_step`` per phase. The fade-in weight
reaches the networks through ``Task.alpha``, a variable the compiled step
assigns from the step counter before ``train_step`` runs. The checkpoint
must hold the same objects in every phase: create the networks of every
level in ``build`` and switch between them in ``enter_phase``.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import os
from typing import Callable, Dict, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfvidgen.models import phases as phases_lib
from tfvidgen.models.phases import Phase  # noqa: F401  (part of the Task contract)


@dataclasses.dataclass(frozen=True)
class DataRequirements:
    """What each element of a training batch must hold.

    Attributes:
      clip_length: frames per real clip (S_T) under key "video"; 0 for none.
      every_nth: temporal stride of the clips.
      images_per_video: real frames (S_1) per batch element under key
        "image", so that the image batch is batch_size * images_per_video.
      extras: names of further per-video keys the source provides
        (``VideoSource.extra_specs`` / ``VideoSource.extras``: attributes,
        labels, pyramid levels), delivered as the source declares them for
        the video each clip comes from (needs ``clip_length > 0``).
      real_batches: independent real draws per batch element; when n > 1
        every key gets an axis of size n after the batch axis (video
        [B, n, T, H, W, C], image [B, n, k, H, W, C], label [B, n]), so that
        n critic updates of one step each see a fresh real batch.
    """
    clip_length: int = 16
    every_nth: int = 1
    images_per_video: int = 0
    extras: tuple = ()
    real_batches: int = 1


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Facts about the training data a Task may use."""
    image_size: int = 64
    channels: int = 3
    class_names: tuple = ()
    length_probs: tuple = ()  # P(length = i), i = 0..len-1: MoCoGAN's kappa

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class StatelessNoise:
    """Reproducible noise from an integer seed (sampling and serving).

    Has the ``normal`` / ``uniform`` methods of ``tf.random.Generator`` so
    that latent-sampling code takes either: the trainer's checkpointed
    generator during training, this for ``same seed -> same video``.
    """

    def __init__(self, seed):
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        if seed.shape.rank == 0:
            seed = tf.stack([seed, tf.constant(0x5EED, tf.int64)])
        self._seed = seed

    def _next(self):
        seeds = tf.random.experimental.stateless_split(self._seed, num=2)
        self._seed = seeds[0]
        return seeds[1]

    def normal(self, shape, mean=0.0, stddev=1.0, dtype=tf.float32):
        return tf.random.stateless_normal(shape, self._next(), mean=mean, stddev=stddev,
                                          dtype=dtype)

    def uniform(self, shape, minval=0, maxval=None, dtype=tf.float32):
        return tf.random.stateless_uniform(shape, self._next(), minval=minval, maxval=maxval,
                                           dtype=dtype)


def to_uint8(videos):
    """[-1, 1] floats -> uint8 with rounding, as the exports return."""
    return tf.cast(tf.round(tf.clip_by_value((videos + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def apply_gradients(optimizer, tape, loss, variables, l2_weight_decay=0.0):
    """Gradient step with PyTorch-style (coupled) L2 weight decay.

    MoCoGAN passes ``weight_decay=1e-5`` to ``torch.optim.Adam``, which adds
    ``wd * w`` to the gradient before the Adam moments; Keras' own
    ``weight_decay`` is the decoupled AdamW rule, so it is added here.
    Under ``--precision=mixed_float16`` the loss is scaled
    (``tfvidgen.precision.LossScale``); the loss itself is float32.
    """
    from tfvidgen import precision  # noqa: WPS433 (light; avoids an import cycle)

    def decay(grads):
        if not l2_weight_decay:
            return grads
        return [g + l2_weight_decay * v if g is not None else None
                for g, v in zip(grads, variables)]
    scale = precision.loss_scale_of(optimizer)
    if scale is not None:
        scale.apply(optimizer, tape, loss, variables, transform=decay)
        return
    grads = decay(tape.gradient(loss, variables))
    optimizer.apply_gradients(zip(grads, variables))


def reset_optimizer(optimizer) -> None:
    """Zeroes an optimizer's state (step count, moments) in place.

    For a phase that starts its optimiser afresh (PGGAN, per level): the
    variables stay the same objects, so the checkpoint's object graph does
    not change; the learning rate is kept.
    """
    keep = getattr(optimizer, "_learning_rate", None)
    for variable in optimizer.variables:
        if variable is not keep:
            variable.assign(tf.zeros(variable.shape, variable.dtype))


def build_by_calling(model, input_shape):
    """Creates a subclassed model's variables by calling it once on zeros."""
    model(tf.zeros([1] + list(input_shape)), training=False)


def average(per_example, global_batch_size):
    """Per-replica share of the global mean (summed across replicas by the trainer)."""
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def latest_checkpoint(path: str) -> str:
    """A checkpoint prefix from a run directory, checkpoint folder or prefix."""
    for folder in (os.path.join(path, "checkpoints"), path):
        if tf.io.gfile.isdir(folder):
            found = tf.train.latest_checkpoint(folder)
            if found:
                return found
    if tf.io.gfile.exists(path + ".index"):
        return path
    raise FileNotFoundError(
        f"No checkpoint found at {path!r}: pass a run directory (--model_dir of a "
        "finished or running training), its checkpoints/ folder or a checkpoint prefix.")


def warm_start_image_generator(task) -> Optional[str]:
    """``--init_image_generator``: G_I from another run (image GAN <-> RJGAN)."""
    if not task.config.init_image_generator:
        return None
    prefix = restore_networks(task.config.init_image_generator,
                              image_generator=task.image_generator)
    return f"image_generator from {prefix}"


def restore_networks(path: str, **networks) -> str:
    """Restores some networks (by checkpoint key) from another run's checkpoint.

    Used for pre-training in both directions: the ``image_generator`` of an
    image-only GAN into RJGAN, or RJGAN's into the image GAN.
    """
    prefix = latest_checkpoint(path)
    status = tf.train.Checkpoint(**networks).read(prefix)
    status.expect_partial().assert_existing_objects_matched()
    return prefix


class Task(abc.ABC):
    """Base class of every method. See the module docstring.

    ``config_class`` names the method's settings (a ``tfvidgen.settings.Settings``
    dataclass with the paper's defaults): the command line and flagfiles set
    its fields by name, and a task receives an instance of it.
    """

    config_class: type = None

    def __init__(self, config, data_spec: DataSpec):
        self.config = config
        self.data_spec = data_spec

    # Data -------------------------------------------------------------------
    @abc.abstractmethod
    def data_requirements(self) -> DataRequirements:
        """What the trainer's pipeline must put in each batch element."""

    # Networks and optimizers -------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Creates and builds networks and optimizers (inside strategy.scope())."""

    @abc.abstractmethod
    def networks(self) -> Dict[str, keras.Model]:
        """Networks by checkpoint key (e.g. image_generator, video_discriminator)."""

    @abc.abstractmethod
    def optimizers(self) -> Dict[str, keras.optimizers.Optimizer]:
        """Optimizers by name; their learning rates are logged."""

    def exported_networks(self) -> Dict[str, keras.Model]:
        """Networks the serving signatures use (default: all)."""
        return self.networks()

    def checkpoint_items(self) -> Dict[str, object]:
        """Everything trainable state needs besides step and RNG."""
        items = dict(self.networks())
        items.update({f"{k}_optimizer": v for k, v in self.optimizers().items()})
        if getattr(self, "generator_ema", None) is not None:
            items["generator_ema"] = self.generator_ema
        return items

    def warm_start(self) -> Optional[str]:
        """Initialises networks from another run before step 0 (pre-training).

        Returns a description of what was loaded, or None.
        """
        return None

    # Averaged generator weights ------------------------------------------------
    def generator_networks(self) -> Dict[str, keras.Model]:
        """The networks that make up the generator, whose weights ``ema_decay``
        averages (default: none)."""
        return {}

    @property
    def ema_decay(self) -> float:
        """The config's ``ema_decay`` (0, or a config without it: no averaging)."""
        return float(getattr(self.config, "ema_decay", 0.0) or 0.0)

    def build_generator_ema(self) -> None:
        """Creates the moving average of ``generator_networks()``' weights when
        ``ema_decay`` > 0 (PGGAN's G_smoothing). Call at the end of ``build``."""
        self.generator_ema = None
        if self.ema_decay > 0:
            from tfvidgen.nets.ema import ExponentialMovingAverage
            variables = [v for net in self.generator_networks().values()
                         for v in net.trainable_variables]
            self.generator_ema = ExponentialMovingAverage(variables, self.ema_decay,
                                                          name="generator_ema")

    def update_generator_ema(self) -> None:
        """One averaging step; call in ``train_step`` after the generator's update."""
        if getattr(self, "generator_ema", None) is not None:
            self.generator_ema.update()

    def sampling_weights(self):
        """Context manager under which sampling and export see the averaged
        generator weights (no-op unless ``ema_decay`` > 0). Eager only."""
        ema = getattr(self, "generator_ema", None)
        return ema.swapped() if ema is not None else contextlib.nullcontext()

    # Phases -------------------------------------------------------------------
    def phases(self) -> Sequence[Phase]:
        """The schedule of training phases (``tfvidgen.models.phases.Phase``).

        Default: one phase from step 0 with ``data_requirements()`` at
        ``data_spec.image_size``, so a Task without phases trains as one
        compiled step over one dataset. A progressive Task returns one phase
        per level, e.g. ``phases.chain((300, Phase("8x8", data=..., image_size=8,
        time_pool=2)), (None, Phase("16x16", data=..., fade_in_steps=100)))``.
        Must be the same on every call (a pure function of the config).
        """
        return (Phase("train", 0, self.data_requirements(), self.data_spec.image_size),)

    def phase_at(self, step: int) -> Phase:
        """The phase global ``step`` belongs to (a pure function of the step)."""
        return phases_lib.phase_at(phases_lib.validate(self.phases()), step)

    def enter_phase(self, phase: Phase, begins: bool) -> None:
        """Called by the trainer, eagerly and inside ``strategy.scope()``, before
        the first step of ``phase`` and before training resumes inside it.

        Select the networks of the phase's level here (as Python state that
        ``train_step`` and ``sample`` read when traced). Variables must
        not be created here: the checkpoint holds the same objects in every
        phase.

        Args:
          phase: the phase about to run.
          begins: True at the phase's first step: reset what the phase starts
            afresh (PGGAN resets optimiser state per level: ``reset_optimizer``).
            False when training resumes inside the phase: the checkpoint has
            already restored that state, so leave it alone.
        """
        del phase, begins

    @property
    def alpha(self) -> tf.Variable:
        """The current fade-in weight in [0, 1] (1 outside fade-ins).

        A float32 variable that the trainer creates inside ``strategy.scope()``
        and assigns ``phase.alpha(step)`` at the start of every compiled step
        (and when entering a phase), so ``train_step``, ``sample`` and the
        serving signatures read the same value, and a resumed run the value
        an uninterrupted one had. It is derived from the step, so it is not
        checkpointed. Tasks without fade-ins ignore it.
        """
        if getattr(self, "_alpha", None) is None:
            self._alpha = tf.Variable(1.0, trainable=False, name="alpha",
                                      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        return self._alpha

    def restore_phase(self, step: int) -> Phase:
        """Enters the phase of ``step`` as a resume (``begins=False``) and sets
        ``alpha``: for using a restored task outside the trainer (export,
        evaluation). Returns the phase."""
        phase = self.phase_at(step)
        self.enter_phase(phase, begins=False)
        self.alpha.assign(phase.alpha(int(step)))
        return phase

    # Training -----------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self, batch, step, rng: tf.random.Generator,
                   global_batch_size: int) -> Dict[str, tf.Tensor]:
        """All updates of one iteration on one replica.

        Returns scalars already divided by the global batch size
        (``average``) so that their sum over replicas is the global mean.
        """

    # Sampling -----------------------------------------------------------------
    def context_length(self, num_frames: int) -> int:
        """Real frames a sample of ``num_frames`` frames conditions on.

        0 (the default): the task generates from noise alone and its
        ``sample`` takes no ``context``. A conditional task (video
        prediction, reconstruction) returns how many leading frames of real
        clips ``sample`` needs as ``context``: evaluation passes held-out
        clips, the trainer's samples.gif its fixed real batch
        (``sample_for_display``). Nothing is conditioned on implicitly.
        """
        del num_frames
        return 0

    @abc.abstractmethod
    def sample(self, noise, num_videos, num_frames, context=None) -> tf.Tensor:
        """Videos [N, T, H, W, C] in [-1, 1] (inference mode).

        Args:
          noise: StatelessNoise (same seed, same videos) or tf.random.Generator.
          num_videos: N.
          num_frames: T.
          context: conditional tasks only (``context_length(T)`` > 0, which
            they require): real clips [N, >= context_length(T), H, W, C] in
            [-1, 1] that the samples continue or reconstruct. Unconditional
            tasks take none (and may leave the argument out).
        """

    def sample_images(self, noise, num_images, context=None) -> tf.Tensor:
        """Images [N, H, W, C] in [-1, 1]; by default the first frame of videos
        (``context``: a conditional task's real clips, see ``sample``)."""
        if context is None:
            return self.sample(noise, num_images, 1)[:, 0]
        return self.sample(noise, num_images, 1, context=context)[:, 0]

    def sample_for_display(self, noise, num_videos, batch=None) -> tf.Tensor:
        """The videos of a run's samples.gif: ``sample`` of ``default_num_frames``.

        Args:
          noise: StatelessNoise with the run's seed.
          num_videos: N.
          batch: the trainer's fixed real batch (``Trainer.summary_batch``);
            a conditional task continues its clips (clip i % k for video i),
            an unconditional one ignores it.
        Raises:
          ValueError: a conditional task without ``batch``.
        """
        num_frames = self.default_num_frames
        needed = self.context_length(num_frames)
        if not needed:
            return self.sample(noise, num_videos, num_frames)
        if batch is None or "video" not in batch:
            raise ValueError(f"{type(self).__name__} samples continue real clips: "
                             "sample_for_display needs a real batch with 'video'")
        clips = tf.convert_to_tensor(batch["video"], tf.float32)[:, :needed]
        clips = tf.gather(clips, tf.range(num_videos) % tf.shape(clips)[0])
        return self.sample(noise, num_videos, num_frames, context=clips)

    def sample_summaries(self, noise, batch=None) -> Dict[str, tf.Tensor]:
        """Named videos [N, T, H, W, C] or images [N, H, W, C] in [-1, 1] for TensorBoard.

        Args:
          noise: a StatelessNoise with the run's fixed seed (the same latents
            at every summary, so training progress is comparable).
          batch: a fixed real batch (one replica's share of the first batch of
            the run), for methods that condition on real frames (prediction,
            reconstruction); unconditional generators ignore it.
        """
        return {"samples": self.sample(noise, 8, self.default_num_frames)}

    @property
    def default_num_frames(self) -> int:
        return max(self.data_requirements().clip_length, 1)

    # Serving ------------------------------------------------------------------
    def serving_signatures(self) -> Dict[str, Callable]:
        """tf.functions with input signatures, by signature name.

        ``serving_default`` takes a seed (int64), a count (int32) and an
        optional length ``num_frames`` (int32, default ``default_num_frames``)
        and returns uint8 videos [N, T, H, W, 3]; subclasses add their own.
        The default is a tensor default of the tf.function, which
        ``tf.saved_model.save`` records in ``SignatureDef.defaults``: TF
        Serving (and ``tfvidgen.serving``'s server) fill it in when a request
        leaves the input out. ``sample_frames`` is the same signature with
        ``num_frames`` required, for servers that ignore defaults.
        """
        task = self

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_videos"),
                                      tf.TensorSpec([], tf.int32, name="num_frames")])
        def serving_default(seed, num_videos,
                            num_frames=tf.constant(task.default_num_frames, tf.int32)):
            videos = task.sample(StatelessNoise(seed), num_videos, num_frames)
            return {"video": to_uint8(videos)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_videos"),
                                      tf.TensorSpec([], tf.int32, name="num_frames")])
        def sample_frames(seed, num_videos, num_frames):
            videos = task.sample(StatelessNoise(seed), num_videos, num_frames)
            return {"video": to_uint8(videos)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_images")])
        def sample_images(seed, num_images):
            return {"image": to_uint8(task.sample_images(StatelessNoise(seed), num_images))}

        return {"serving_default": serving_default, "sample_frames": sample_frames,
                "sample_images": sample_images}


def numpy_videos(videos) -> np.ndarray:
    """uint8 numpy [N, T, H, W, C] from a float [-1, 1] tensor."""
    return to_uint8(videos).numpy()
