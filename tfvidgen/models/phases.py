"""Training phases: a Task's schedule of data shapes, networks and fade-ins.

Progressive growing (seed 004; Karras et al. 2018, "Progressive Growing of
GANs") trains at 4x4, then 8x8, ..., each level fading its new layers in
with a weight alpha going from 0 to 1, the real videos average-pooled to the
level's resolution and duration, and the optimiser state reset per level.
Pre-training then joint training is the same shape with no fade-in. A Task
declares its schedule as ``Phase`` objects (``Task.phases``); the trainer
(``tfvidgen.train.loop``) asks which phase a step is in, calls
``Task.enter_phase`` when it enters one, builds that phase's dataset and
compiles one train step per phase.

Everything here is a pure function of the global step, as PGGAN derives its
level from the number of images shown: a run resumed from a checkpoint at
step s lands in ``phase_at(phases, s)`` with ``alpha(s)``, with no phase
state in the checkpoint.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class Phase:
    """One stretch of training with a fixed data shape and step function.

    Attributes:
      name: unique within the schedule; shown in logs (e.g. "8x8", "16x16").
      start_step: the global step (0-based index of the update) at which
        the phase begins; it lasts until the next phase's start.
      data: what each batch element holds during the phase
        (``tfvidgen.models.base.DataRequirements``); its ``clip_length`` is
        the delivered length, after temporal pooling.
      image_size: delivered frame size; None for the Task's
        ``data_spec.image_size``. The source's stored size must be an
        integer multiple: frames are average-pooled by the factor.
      time_pool: temporal average-pooling factor: the pipeline reads
        ``clip_length * time_pool`` frames and averages groups of
        ``time_pool`` consecutive ones (progressive growing's lower
        duration levels). 1: no pooling.
      fade_in_steps: length of the fade-in at the start of the phase; 0 for
        none (alpha is 1 throughout).
      batch_size: global batch of the phase's steps (divided across
        replicas as the run's is); None for the run's batch
        (``TrainConfig.batch_size``). PGGAN lowers the minibatch at high
        resolutions (its ``minibatch_dict``).
    """
    name: str
    start_step: int = 0
    data: Optional[object] = None
    image_size: Optional[int] = None
    time_pool: int = 1
    fade_in_steps: int = 0
    batch_size: Optional[int] = None

    def alpha(self, step):
        """The fade-in weight at global ``step``: a pure function of the step.

        ``(step - start_step) / fade_in_steps`` clipped to [0, 1]: 0 at the
        first step of the phase, 1 from ``start_step + fade_in_steps`` on;
        always 1 without a fade-in. Works on Python ints (returns a float)
        and on tensors (returns a float32 tensor), so the compiled step and
        the host compute the same value.
        """
        if not tf.is_tensor(step):
            if not self.fade_in_steps:
                return 1.0
            return float(min(max((int(step) - self.start_step) / self.fade_in_steps, 0.0), 1.0))
        if not self.fade_in_steps:
            return tf.constant(1.0, tf.float32)
        within = tf.cast(step, tf.float64) - float(self.start_step)
        return tf.cast(tf.clip_by_value(within / float(self.fade_in_steps), 0.0, 1.0), tf.float32)


def validate(phases: Sequence[Phase]) -> tuple:
    """Checks a schedule; returns it as a tuple.

    Raises:
      ValueError: naming the bad phase (no phases, a first phase not starting
        at step 0, starts not strictly increasing, repeated names, a missing
        ``data``, non-positive ``time_pool`` or ``batch_size``, or negative
        ``fade_in_steps``).
    """
    phases = tuple(phases)
    if not phases:
        raise ValueError("A Task's phases() must return at least one Phase.")
    if phases[0].start_step != 0:
        raise ValueError(f"The first phase ({phases[0].name!r}) must start at step 0, "
                         f"not {phases[0].start_step}.")
    names = [p.name for p in phases]
    if len(set(names)) != len(names):
        raise ValueError(f"Phase names must be unique: {names}")
    for before, after in zip(phases, phases[1:]):
        if after.start_step <= before.start_step:
            raise ValueError(f"Phase {after.name!r} starts at step {after.start_step}, not "
                             f"after {before.name!r} (step {before.start_step}).")
    for p in phases:
        if p.data is None:
            raise ValueError(f"Phase {p.name!r} has no data requirements.")
        if p.time_pool < 1 or p.fade_in_steps < 0:
            raise ValueError(f"Phase {p.name!r}: time_pool must be >= 1 and fade_in_steps "
                             f">= 0 (got {p.time_pool}, {p.fade_in_steps}).")
        if p.batch_size is not None and p.batch_size < 1:
            raise ValueError(f"Phase {p.name!r}: batch_size must be >= 1 or None "
                             f"(got {p.batch_size}).")
    return phases


def phase_at(phases: Sequence[Phase], step: int) -> Phase:
    """The phase global ``step`` belongs to: the last one started at or before it."""
    found = phases[0]
    for phase in phases:
        if phase.start_step <= int(step):
            found = phase
    return found


def chain(*lengths_and_phases) -> tuple:
    """A schedule from (length in steps, Phase) pairs, one after the other.

    Each phase starts where the previous one ends (the ``start_step`` given
    is replaced); the last length may be None (until the end of the run).

    Example:
      ``chain((300, Phase("8x8", data=low, image_size=8)),
      (None, Phase("16x16", data=high, fade_in_steps=100)))``.
    """
    out, start = [], 0
    for length, phase in lengths_and_phases:
        out.append(dataclasses.replace(phase, start_step=start))
        if length is not None:
            start += int(length)
    return validate(out)
