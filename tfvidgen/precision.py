"""Mixed precision: ``--precision=float32 | mixed_bfloat16 | mixed_float16``.

A run's precision is the Keras dtype policy its Task's networks are built
under (``experiment.build_task`` binds it to the Task: the policy is set
while the Task is constructed and while ``Task.build`` runs, then restored,
so runs of different precisions can be built in one process). Under a
mixed policy layers compute in bfloat16 / float16 and keep float32
variables, so checkpoints are the same in every precision (a float32 run's
checkpoint restores into a bfloat16 build and back).

What stays float32:
  * the outputs of every network called from outside another network
    (``_install_float32_boundary``): cast to float32 at the network
    boundary, so the Task's losses, gradient penalties, KL terms, classifier softmaxes, sampling code and the
    exported uint8 conversion see float32 whatever the policy;
  * BatchNorm statistics and the variables (Keras);
  * the gradient step (``base.apply_gradients``): under mixed_float16 the
    loss is scaled (dynamic loss scaling, ``LossScale``) and updates with
    non-finite gradients are skipped.
"""
from __future__ import annotations

import contextlib
import functools
import sys
from typing import Dict, Optional

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
DEFAULT = "float32"
# /proc/cpuinfo flag -> name in the benchmark's report
CPU_FLAGS = {"avx512f": "AVX-512F", "avx512_bf16": "AVX512_BF16", "amx_bf16": "AMX-BF16",
             "amx_tile": "AMX-TILE"}


def check(name: str) -> str:
    if name not in PRECISIONS:
        raise ValueError(f"--precision={name}: expected one of {', '.join(PRECISIONS)}")
    return name


def compute_dtype(name: str) -> str:
    return {"float32": "float32", "mixed_bfloat16": "bfloat16",
            "mixed_float16": "float16"}[check(name)]


@contextlib.contextmanager
def policy(name: Optional[str]):
    """Sets Keras' global dtype policy to ``name`` (None: float32) for the block."""
    import keras
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(check(name or DEFAULT))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


# The CPU ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def cpu_info() -> Dict[str, object]:
    """The CPU's model name and the instruction sets that matter for matmuls.

    From /proc/cpuinfo on Linux; "unknown" elsewhere (or if it cannot be read).
    Returns {"cpu_model": str, "instruction_sets": {name: True/False/"unknown"}}.
    """
    model, flags = "unknown", None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown":
                    model = value.strip()
                elif key == "flags" and flags is None:
                    flags = set(value.split())
    except OSError:
        pass
    sets = {label: (flag in flags if flags is not None else "unknown")
            for flag, label in CPU_FLAGS.items()}
    return {"cpu_model": model, "instruction_sets": sets}


def has_gpu() -> bool:
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def bf16_hardware() -> Optional[bool]:
    """Whether bfloat16 math has hardware here: a GPU, or AVX512_BF16 / AMX-BF16.
    None when the CPU's instruction sets are unknown (not Linux)."""
    if has_gpu():
        return True
    sets = cpu_info()["instruction_sets"]
    if sets["AVX512_BF16"] == "unknown":
        return None
    return bool(sets["AVX512_BF16"] or sets["AMX-BF16"])


_warned = set()


def warn_if_emulated(name: str, stream=None) -> bool:
    """One line on stderr (once per process) when ``mixed_bfloat16`` runs on a CPU
    without bf16 instructions and no GPU, where it is emulated and slower."""
    if name != "mixed_bfloat16" or name in _warned or bf16_hardware() is not False:
        return False
    _warned.add(name)
    print("warning: --precision=mixed_bfloat16 on a CPU without AVX512_BF16 or AMX-BF16 "
          "and no GPU: bfloat16 is emulated here and likely slower than float32.",
          file=stream or sys.stderr)
    return True


# Binding a Task to a precision -------------------------------------------------------------
def to_float32(structure):
    """Floating tensors of a (nested) structure cast to float32."""
    import tensorflow as tf

    def cast(x):
        if isinstance(x, (tf.Tensor, tf.Variable)) and x.dtype.is_floating \
                and x.dtype != tf.float32:
            return tf.cast(x, tf.float32)
        return x
    return tf.nest.map_structure(cast, structure)


_INSTALLED = []


def _install_float32_boundary() -> None:
    """Makes every Keras layer or network that computes in a mixed policy return
    float32 when called from outside any other layer (the network boundary: a
    Task's code, a serving function); calls nested inside a network keep the
    compute dtype. Installed once, by the first mixed-precision Task; float32
    layers are untouched."""
    if _INSTALLED:
        return
    import keras
    from keras.src.backend.common import global_state

    original = keras.Layer.__call__

    @functools.wraps(original)
    def __call__(self, *args, **kwargs):
        outermost = global_state.get_global_attribute("current_call_ctx") is None
        outputs = original(self, *args, **kwargs)
        if outermost and getattr(self, "compute_dtype", "float32") != "float32":
            outputs = to_float32(outputs)
        return outputs
    keras.Layer.__call__ = __call__
    _INSTALLED.append(original)


def bind(task, name: Optional[str]) -> None:
    """Binds ``task`` (constructed under ``policy(name)``) to the precision: its
    ``build`` runs under the policy (with a one-line warning where bfloat16 is
    emulated) and, for mixed_float16, gives each optimizer a dynamic loss scale.
    A mixed precision also installs the float32 network boundary (once per
    process). ``task.precision`` names the precision."""
    name = check(name or DEFAULT)
    task.precision = name
    if name == DEFAULT:
        return
    _install_float32_boundary()
    build = task.build

    @functools.wraps(build)
    def build_under_policy(*args, **kwargs):
        warn_if_emulated(name)
        with policy(name):
            result = build(*args, **kwargs)
        if name == "mixed_float16":
            for optimizer in task.optimizers().values():
                attach_loss_scale(optimizer)
        return result
    task.build = build_under_policy


# Loss scaling (mixed_float16) ---------------------------------------------------------------
_LOSS_SCALES: Dict[int, "LossScale"] = {}


class LossScale:
    """Dynamic loss scaling of one optimizer (Keras' LossScaleOptimizer's rule):
    gradients of ``loss * scale`` are unscaled; a step whose gradients are not
    finite is skipped and halves the scale; ``growth_steps`` finite steps in a
    row double it. Its variables are not checkpointed (the scale re-adapts in a
    few steps), so checkpoints do not depend on the precision."""

    def __init__(self, initial=2.0 ** 15, growth_steps=2000):
        import tensorflow as tf
        kwargs = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_WRITE,
                      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.scale = tf.Variable(initial, dtype=tf.float32, name="loss_scale", **kwargs)
        self.good_steps = tf.Variable(0, dtype=tf.int64, name="loss_scale_good_steps",
                                      **kwargs)
        self.growth_steps = growth_steps

    def apply(self, optimizer, tape, loss, variables, transform=None):
        """Scaled gradients -> unscaled, finite check (agreed across replicas),
        ``transform`` (e.g. weight decay), the optimizer's update or a skip."""
        import tensorflow as tf
        scale = self.scale.read_value()
        grads = tape.gradient(loss, variables, output_gradients=tf.cast(scale, loss.dtype))
        grads = [g / tf.cast(scale, g.dtype) if g is not None else None for g in grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g))
                                for g in grads if g is not None])
        bad = tf.cast(tf.logical_not(finite), tf.int32)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            bad = context.all_reduce(tf.distribute.ReduceOp.SUM, bad)
        finite = tf.equal(bad, 0)
        if transform is not None:
            grads = transform(grads)

        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        live = [v for _, v in pairs]

        def update(gradients):
            optimizer.apply_gradients(zip(gradients, live))

        def skip():
            return tf.constant(False)

        if tf.__internal__.distribute.strategy_supports_no_merge_call():
            tf.cond(finite, lambda: (update([g for g, _ in pairs]), tf.constant(True))[1],
                    skip)
        else:
            # As Keras' LossScaleOptimizer: the cond runs in cross-replica context (a
            # branch that calls merge_call, as apply_gradients does, cannot be a cond
            # in replica context), the update in each replica.
            def cross_replica(distribution, finite, gradients):
                finite = distribution.experimental_local_results(finite)[0]

                def apply():
                    distribution.extended.call_for_each_replica(update, args=(gradients,))
                    return tf.constant(True)
                tf.cond(finite, apply, skip)
            tf.distribute.get_replica_context().merge_call(
                cross_replica, args=(finite, [g for g, _ in pairs]))
        grow = tf.logical_and(finite, self.good_steps >= self.growth_steps - 1)
        self.scale.assign(tf.where(finite, tf.where(grow, scale * 2.0, scale), scale * 0.5))
        self.good_steps.assign(tf.where(finite, tf.where(grow, tf.constant(0, tf.int64),
                                                         self.good_steps + 1),
                                        tf.constant(0, tf.int64)))
        return finite


def attach_loss_scale(optimizer) -> "LossScale":
    """Gives ``optimizer`` a dynamic loss scale (kept outside its tracked state)."""
    if id(optimizer) not in _LOSS_SCALES:
        _LOSS_SCALES[id(optimizer)] = (optimizer, LossScale())
    return _LOSS_SCALES[id(optimizer)][1]


def loss_scale_of(optimizer) -> Optional["LossScale"]:
    entry = _LOSS_SCALES.get(id(optimizer))
    return entry[1] if entry is not None and entry[0] is optimizer else None
