"""The one training loop, for every Task.

It owns the strategy scope, the distributed dataset, tf.function (and
optional XLA) compilation, checkpoints and resume, summaries at their
cadences, the progress bar and SIGINT/SIGTERM handling. Everything
method-specific is behind the ``Task`` contract (tfvidgen.models.base): the
loop has no branch on a model's name.

Phases (``tfvidgen.models.phases``): the Task's schedule splits the run
into phases with their own data shape and fade-in. Before each step the
trainer looks up the phase of the step; on entering one (and in
``__init__``, for the phase a restored step lies in) it calls
``task.enter_phase(phase, begins)``, sets ``task.alpha`` and switches to
that phase's compiled step and dataset (built from the current step, so the
element -> data mapping stays a pure function of (seed, step)). A phase may
set its own global batch (``Phase.batch_size``, e.g. PGGAN's smaller
minibatch at high resolutions): its dataset and compiled step use it,
divided across replicas like the run's ``batch_size``. The
compiled step of a phase with a fade-in assigns ``task.alpha =
phase.alpha(step)`` from the step counter before ``train_step`` runs, so a
resume lands on the alpha an uninterrupted run had. The checkpoint is the
same object graph in every phase (``Task.checkpoint_items`` is read once).

Data: each worker builds its own share of every global batch through
``strategy.distribute_datasets_from_function`` (see tfvidgen.data.pipeline).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
import traceback

import keras
import numpy as np
import tensorflow as tf

from tfvidgen.data import pipeline
from tfvidgen.models import phases as phases_lib
from tfvidgen.models.base import StatelessNoise, Task
from tfvidgen.train import checkpoints, progress, strategies, summaries
from tfvidgen.train.errors import ClusterError, DataStopError, NonFiniteError, first_line

# Metric key of the stop vote that multi-worker steps sum over every replica.
_STOP_VOTE = "__stop_vote"


@dataclasses.dataclass
class TrainConfig:
    model_dir: str
    max_steps: int = 1000
    batch_size: int = 16          # global batch (videos, or images for image-only tasks)
    seed: int = 0
    jit_compile: bool = False
    summary_every: int = 10       # scalars
    sample_every: int = 200       # GIFs and grids
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    num_samples: int = 16         # videos in samples.gif at the end
    steps_per_loop: int = 1       # steps per compiled call (metrics reach the host once)


class Trainer:
    """Trains a Task under a tf.distribute strategy."""

    def __init__(self, task: Task, data: pipeline.TrainingData, config: TrainConfig,
                 strategy: tf.distribute.Strategy, hooks=()):
        """Builds the task under the strategy and restores the latest checkpoint.

        Args:
          hooks: (every, fn) pairs: ``fn(trainer, step) -> {name: float}`` runs
            on the chief every ``every`` steps (and at the last step); its
            scalars are written under ``eval/`` in TensorBoard. Periodic
            evaluation plugs in here without touching the loop.
        """
        self.task, self.data, self.config, self.strategy = task, data, config, strategy
        self.hooks = list(hooks)
        self.summary_batch = None
        self.stop_requested = False
        checkpoints.check_writable(config.model_dir)  # read-only, no permission: one line
        # Under multi-worker a stop (SIGTERM on any worker) is agreed in the next step,
        # so that every worker saves the same step together (saves are collective).
        self.num_workers = strategies.num_workers(strategy)
        self._stop_vote = tf.Variable(0.0, trainable=False, name="stop_vote")
        # Same seed -> same initial weights (Keras initialisers draw from its global seed).
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            task.alpha  # noqa: B018  (creates the fade-in weight as a distributed variable)
            task.build()
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.rng = tf.random.Generator.from_seed(config.seed)
        self.phases = phases_lib.validate(task.phases())
        self._check_phase_batches()
        self.is_chief, worker_id = strategies.worker_role(strategy)
        self.checkpoints = checkpoints.Checkpoints(
            config.model_dir, config.keep_checkpoints, is_chief=self.is_chief,
            worker_id=worker_id, step=self.step, rng=self.rng, **task.checkpoint_items())
        self.resumed_from = self.checkpoints.restore_latest()
        if self.resumed_from:
            logging.info("Resuming %s at step %d", self.resumed_from, self.current_step)
        else:
            loaded = task.warm_start()
            if loaded:
                logging.info("Initialised %s", loaded)
        self.writer = (tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
                       if self.is_chief else tf.summary.create_noop_writer())
        self.phase = None
        self._train_steps = {}  # phase name -> compiled step
        self._train_loops = {}  # phase name -> several compiled steps per call
        self.enter_phase(self.phase_at(self.current_step))

    # -------------------------------------------------------------------------
    def phase_at(self, step: int) -> phases_lib.Phase:
        """The phase of the task's schedule that global ``step`` lies in."""
        return phases_lib.phase_at(self.phases, step)

    def phase_batch_size(self, phase: phases_lib.Phase | None = None) -> int:
        """The global batch of ``phase`` (default: the current one): its own
        ``batch_size``, else the run's."""
        phase = phase or self.phase
        return int(phase.batch_size or self.config.batch_size)

    def _check_phase_batches(self) -> None:
        """Every phase's global batch splits evenly over the replicas (at the
        start of the run, not when the phase is reached)."""
        replicas = self.strategy.num_replicas_in_sync
        for phase in self.phases:
            batch = self.phase_batch_size(phase)
            if batch % replicas:
                raise ValueError(
                    f"phase {phase.name}: its global batch {batch} does not split over "
                    f"{replicas} replicas; use a batch that is a multiple of {replicas}.")

    def phase_record(self) -> str:
        """The schedule as text (one line per phase: start step, fade-in, frames,
        size, temporal pooling, global batch), written to the run's phases.txt."""
        lines = ["# phase start_step fade_in_steps frames size time_pool batch_size"]
        for p in self.phases:
            size = self.phase_frame_shape(p)[0]
            lines.append(f"{p.name} {p.start_step} {p.fade_in_steps} {p.data.clip_length} "
                         f"{size} {p.time_pool} {self.phase_batch_size(p)}")
        return "\n".join(lines) + "\n"

    def write_phase_record(self) -> None:
        """phases.txt in the run directory (chief only; runs with several phases)."""
        if len(self.phases) < 2 or not self.is_chief:
            return
        try:
            with open(os.path.join(self.config.model_dir, "phases.txt"), "w") as f:
                f.write(self.phase_record())
        except OSError as e:
            logging.warning("phases.txt could not be written: %s", first_line(e))

    def enter_phase(self, phase: phases_lib.Phase) -> None:
        """Moves the run into ``phase`` at the current step.

        Calls ``task.enter_phase(phase, begins)`` (``begins``: the current
        step is the phase's first), sets ``task.alpha`` for the current step
        and selects the phase's compiled step (compiled once per phase).
        """
        step = self.current_step
        with self.strategy.scope():
            self.task.enter_phase(phase, begins=step == phase.start_step)
        self.task.alpha.assign(phase.alpha(step))
        self.phase = phase
        if phase.name not in self._train_steps:
            self._train_steps[phase.name] = self._make_train_step(phase)
        self._train_step = self._train_steps[phase.name]
        if len(self.phases) > 1:
            logging.info("Phase %s at step %d (alpha %.3f, batch %d)", phase.name, step,
                         phase.alpha(step), self.phase_batch_size(phase))

    def _make_train_step(self, phase: phases_lib.Phase | None = None):
        """The compiled step of ``phase`` (default: the current one).

        It sets ``task.alpha`` from the step counter when the phase fades in,
        runs ``task.train_step`` on every replica, sums the metrics and
        increments the step. Under multi-worker the metrics also hold the sum
        of the workers' stop votes (``_STOP_VOTE``).
        """
        phase = phase or self.phase
        task, strategy, step, rng = self.task, self.strategy, self.step, self.rng
        global_batch = self.phase_batch_size(phase)
        stop_vote = self._stop_vote if self.num_workers > 1 else None

        def replica_step(b, s, vote):
            metrics = task.train_step(b, s, rng, global_batch)
            if vote is not None:
                metrics = {**metrics, _STOP_VOTE: vote}
            return metrics

        def distributed_step(batch):
            current = step.read_value()
            if phase.fade_in_steps:
                task.alpha.assign(phase.alpha(current))
            vote = stop_vote.read_value() if stop_vote is not None else None
            per_replica = strategy.run(replica_step, args=(batch, current, vote))
            metrics = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                       for k, v in per_replica.items()}
            step.assign_add(1)
            return metrics

        return tf.function(distributed_step, jit_compile=self.config.jit_compile or None)

    def dataset(self, start_step: int, phase: phases_lib.Phase | None = None):
        """The distributed dataset of ``phase`` (default: that of ``start_step``)
        from ``start_step`` on: each input pipeline (worker) reads only its
        replicas' share of every global batch."""
        phase = phase or self.phase_at(start_step)
        req = phase.data

        def replica_dataset(input_context):
            return pipeline.make_dataset(
                self.data, clip_length=req.clip_length, every_nth=req.every_nth,
                images_per_video=req.images_per_video, batch_size=self.phase_batch_size(phase),
                frame_shape=self.phase_frame_shape(phase), seed=self.config.seed,
                start_step=start_step, time_pool=phase.time_pool, extras=req.extras,
                real_batches=req.real_batches, input_context=input_context)

        return self.strategy.distribute_datasets_from_function(replica_dataset)

    @property
    def current_step(self) -> int:
        return int(self.step.numpy())

    def phase_frame_shape(self, phase: phases_lib.Phase):
        """(H, W, C) of the frames ``phase`` is fed."""
        spec = self.task.data_spec
        size = phase.image_size or spec.image_size
        return (size, size, spec.channels)

    @property
    def frame_shape(self):
        """(H, W, C) of the frames of the current phase."""
        return self.phase_frame_shape(self.phase)

    def _request_stop(self, signum, frame):
        del frame
        if self.stop_requested:  # second signal: stop now
            raise KeyboardInterrupt
        logging.warning("Signal %d: saving a checkpoint and stopping after this step%s.",
                        signum, " (with every worker)" if self.num_workers > 1 else "")
        self.stop_requested = True

    # -------------------------------------------------------------------------
    def train(self, max_steps: int | None = None) -> dict:
        """Runs until ``max_steps`` (total, counting resumed steps) or a signal.

        A checkpoint is written at the end and on a stop by SIGINT/SIGTERM
        (between steps), never after a failed step; no checkpoint is written
        from non-finite state.

        Returns the last metrics (floats).
        Raises:
          NonFiniteError: a loss or a checkpointed variable is NaN or infinite.
          RunDirError: a checkpoint cannot be written (read-only, disk full).
          DataStopError: the input pipeline cannot deliver data.
          ClusterError: a step failed in a collective with the other workers.
          (each a ``TrainingError`` with a one-line message naming the fix)
        """
        cfg = self.config
        max_steps = cfg.max_steps if max_steps is None else max_steps
        start = self.current_step
        handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[sig] = signal.signal(sig, self._request_stop)
            except ValueError:  # not the main thread
                pass
        bar = progress.Progress(max_steps, start)
        metrics, last_time, last_step = {}, time.monotonic(), start
        saved_step = start if self.resumed_from else None
        self.write_phase_record()
        iterator, agreed_stop = None, False
        try:
            while self.current_step < max_steps and not agreed_stop:
                if self.stop_requested and self.num_workers == 1:
                    break
                phase = self.phase_at(self.current_step)
                if phase.name != self.phase.name:
                    self.enter_phase(phase)
                    iterator, self.summary_batch = None, None
                if iterator is None:
                    iterator = iter(self.dataset(self.current_step, phase))
                metrics = self._run_steps(iterator, phase,
                                          self._steps_per_call(max_steps))
                step = self.current_step
                metrics = {k: float(v) for k, v in metrics.items()}
                if metrics.pop(_STOP_VOTE, 0.0) > 0:
                    # Some worker was signalled: every worker stops after this step.
                    self.stop_requested = agreed_stop = True
                if not all(np.isfinite(v) for v in metrics.values()):
                    bad = ", ".join(f"{k}={v}" for k, v in metrics.items() if not np.isfinite(v))
                    raise NonFiniteError(
                        f"training diverged: non-finite loss at step {step} ({bad}). No "
                        f"checkpoint was written from this state; "
                        f"{self.checkpoints.kept_message()}. Lower --learning_rate and "
                        "train into a new --model_dir.")
                bar.update(step, metrics)
                if step % cfg.summary_every == 0 or step == max_steps:
                    now = time.monotonic()
                    rate = (step - last_step) / max(now - last_time, 1e-9)
                    last_time, last_step = now, step
                    self.write_scalars(step, metrics, rate)
                if step % cfg.sample_every == 0 and self.is_chief:
                    self.write_samples(step)
                self.run_hooks(step, last=step == max_steps)
                if step % cfg.checkpoint_every == 0 and step < max_steps:
                    self.checkpoints.save(step)
                    saved_step = step
            # A clean stop (the end, or a signal between steps): save. A failed step
            # raised above and saves nothing.
            if self.current_step > start and saved_step != self.current_step:
                self.checkpoints.save(self.current_step)
        finally:
            iterator = None  # noqa: F841  (released now, not at interpreter exit)
            bar.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            skipped = pipeline.report_skipped(self.data)
            if skipped:
                logging.warning("%d unreadable files were skipped (listed above).", skipped)
            try:
                self.writer.flush()
            except (OSError, tf.errors.OpError) as e:
                logging.warning("TensorBoard events could not be written: %s", first_line(e))
        return metrics

    def _raise_if_peer_lost(self, error: tf.errors.OpError) -> None:
        """Raises ClusterError for what a multi-worker collective reports when a
        worker died or cannot be reached (nothing for a single worker)."""
        lost = (tf.errors.DeadlineExceededError, tf.errors.UnavailableError,
                tf.errors.AbortedError, tf.errors.CancelledError, tf.errors.InternalError)
        if self.num_workers == 1 or not isinstance(error, lost):
            return
        raise ClusterError(
            f"step {self.current_step + 1} failed in a collective operation with the "
            f"other workers ({first_line(error, 160)}): a worker stopped or cannot be "
            "reached. No checkpoint was written; start every worker again to resume "
            f"from {self.checkpoints.latest or 'step 0'}.") from None

    # -------------------------------------------------------------------------
    def write_scalars(self, step: int, metrics: dict, steps_per_s: float) -> None:
        with self.writer.as_default(step=step):
            for name, value in metrics.items():
                group = "discriminator_output" if name.endswith(("_real", "_fake")) else "loss"
                tf.summary.scalar(f"{group}/{name}", value)
            for name, optimizer in self.task.optimizers().items():
                lr = optimizer.learning_rate
                lr = getattr(lr, "value", lr)  # Keras variable -> tf variable (maybe mirrored)
                tf.summary.scalar(f"learning_rate/{name}",
                                  float(tf.convert_to_tensor(lr() if callable(lr) else lr)))
            tf.summary.scalar("speed/steps_per_s", steps_per_s)
            tf.summary.scalar("speed/examples_per_s", steps_per_s * self.phase_batch_size())

    def _steps_per_call(self, max_steps: int) -> int:
        """Steps the next compiled call runs (``steps_per_loop``): at most that many,
        ending at the next multiple of every cadence (summaries, samples, checkpoints,
        hooks), at the next phase's start and at ``max_steps``, so that everything
        happens at the steps it happens with one step per call."""
        cfg, step = self.config, self.current_step
        if cfg.steps_per_loop <= 1 or self.summary_batch is None:
            return 1
        end = min(max_steps, step + cfg.steps_per_loop)
        end = min([end] + [p.start_step for p in self.phases if p.start_step > step])
        for every in (cfg.summary_every, cfg.sample_every, cfg.checkpoint_every,
                      *(every for every, _ in self.hooks)):
            if every:
                end = min(end, (step // every + 1) * every)
        return max(1, end - step)

    def _run_steps(self, iterator, phase: phases_lib.Phase, n: int = 1) -> dict:
        """Runs ``n`` steps of ``phase`` on batches of ``iterator``: one compiled call
        (``n`` > 1: a tf.function looping over the steps, the last step's metrics
        returned) or the single step. Metrics stay tensors."""
        try:
            if n > 1:
                if phase.name not in self._train_loops:
                    self._train_loops[phase.name] = self._make_train_loop(
                        self._train_steps[phase.name])
                if self.num_workers > 1:
                    self._stop_vote.assign(1.0 if self.stop_requested else 0.0)
                return self._train_loops[phase.name](iterator, tf.constant(n, tf.int64))
            batch = next(iterator)
        except tf.errors.OpError as e:
            # The frames of this traceback inside tf.distribute hold the
            # iterator. Cleared, the ``finally`` of ``train`` releases it while Python
            # runs: left to interpreter exit, its destructor waits for a
            # numpy_function call whose thread Python no longer lets run (a hang).
            traceback.clear_frames(e.__traceback__)
            # This frame is in the traceback of what is raised below: drop its
            # reference too, or the error itself keeps the iterator alive.
            iterator = None  # noqa: F841
            stop = pipeline.data_error(self.data)
            if stop is not None:
                raise DataStopError(str(stop)) from None
            self._raise_if_peer_lost(e)  # the iterator agrees on batches too
            raise
        if self.summary_batch is None:
            self.summary_batch = self.strategy.experimental_local_results(batch)[0]
        if self.num_workers > 1:
            self._stop_vote.assign(1.0 if self.stop_requested else 0.0)
        try:
            return self._train_step(batch)
        except tf.errors.OpError as e:
            traceback.clear_frames(e.__traceback__)
            self._raise_if_peer_lost(e)
            raise

    @staticmethod
    def _make_train_loop(step_fn):
        """``loop(iterator, n)``: ``n`` calls of the compiled step ``step_fn`` on the
        next ``n`` batches, in one tf.function (one host round trip per call)."""
        def loop(iterator, n):
            metrics = step_fn(next(iterator))
            for _ in tf.range(n - 1):
                metrics = step_fn(next(iterator))
            return metrics
        return tf.function(loop)

    def run_hooks(self, step: int, last: bool = False) -> dict:
        """Runs the hooks due at ``step``; writes their scalars under eval/."""
        results = {}
        if not self.is_chief:
            return results
        for every, fn in self.hooks:
            if step % every == 0 or last:
                results.update(fn(self, step) or {})
        if results:
            with self.eval_writer.as_default(step=step):
                for name, value in results.items():
                    tf.summary.scalar(name, float(value))
        return results

    @property
    def eval_writer(self):
        if not hasattr(self, "_eval_writer"):
            self._eval_writer = tf.summary.create_file_writer(
                os.path.join(self.config.model_dir, "eval"))
        return self._eval_writer

    def write_samples(self, step: int) -> None:
        """GIF and grid summaries from a fixed seed, so that runs show the same latents."""
        with self.task.sampling_weights():
            named = self.task.sample_summaries(StatelessNoise(self.config.seed),
                                               batch=self.summary_batch)
        with self.writer.as_default(step=step):
            summaries.video_summaries({k: v.numpy() for k, v in named.items()}, step)

    def write_sample_files(self, path: str | None = None, num: int | None = None) -> str:
        """samples.gif in the run directory (a grid of generated videos; a conditional
        task's continue the run's fixed real batch, ``Task.sample_for_display``)."""
        path = path or os.path.join(self.config.model_dir, "samples.gif")
        num = num or self.config.num_samples
        batch = self.summary_batch
        if batch is None and self.task.context_length(self.task.default_num_frames):
            # No step ran in this process (a finished run resumed): the current phase's batch.
            batch = self.strategy.experimental_local_results(
                next(iter(self.dataset(self.current_step))))[0]
        with self.task.sampling_weights():
            videos = self.task.sample_for_display(StatelessNoise(self.config.seed), num,
                                                  batch=batch)
        summaries.write_gif(path, videos.numpy())
        return path
