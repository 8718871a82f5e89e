"""Exponential moving average of a network's weights, for sampling and export.

PGGAN (Karras et al. 2018, section 4.1 / ``train.py`` ``G_smoothing``)
samples and evaluates a copy of the generator whose weights are an
exponential moving average of the trained ones, Gs = lerp(G, Gs, 0.999),
updated at every iteration; Yazici et al. 2019 ("The Unusual Effectiveness
of Averaging in GAN Training") show the same for other GANs.
``ExponentialMovingAverage`` keeps such shadow weights for a list of
variables: create it inside ``strategy.scope()`` (in ``Task.build``),
call ``update()`` after the generator's update inside the train step,
checkpoint it with the task's other items, and sample or export inside
``with ema.swapped():``.

Only trainable variables are averaged; non-trainable ones (BatchNorm
statistics) stay those of the trained network, as StyleGAN2-ADA copies
buffers into G_ema.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable, Sequence

import keras
import tensorflow as tf


def _tf_variable(variable):
    """The tf.Variable behind a Keras 3 variable (a DistributedVariable under a strategy)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def update_in_place(variables: Sequence, fn: Callable, *args) -> None:
    """``v.assign(fn(v, *args_i))`` for each variable, on every replica's own copy.

    Inside ``strategy.run`` a mirrored variable can only be assigned from
    cross-replica context; this is the pattern Keras' optimizers use for
    their updates (``maybe_merge_call`` + ``extended.update``): each device
    updates its copy from values that are already equal on every replica
    (weights after a synchronous update), so nothing is communicated.

    Args:
      variables: Keras or tf variables.
      fn: (variable, *per-variable args) -> new value.
      *args: sequences parallel to ``variables`` (e.g. the shadow of each
        variable), passed to ``fn`` per variable.
    """
    variables = [_tf_variable(v) for v in variables]
    args = [[_tf_variable(a) for a in arg] for arg in args]

    def update_all(strategy, variables, *args):
        for i, variable in enumerate(variables):
            strategy.extended.update(variable, lambda v, *a: v.assign(fn(v, *a)),
                                     args=tuple(arg[i] for arg in args), group=False)

    if tf.distribute.in_cross_replica_context():
        update_all(tf.distribute.get_strategy(), variables, *args)
    else:
        tf.__internal__.distribute.interim.maybe_merge_call(
            update_all, tf.distribute.get_strategy(), variables, *args)


class _Untracked:
    """Holds objects out of sight of tf.Module's attribute tracking."""

    def __init__(self, items):
        self.items = items


class ExponentialMovingAverage(tf.Module):
    """Shadow copies of variables: shadow <- decay * shadow + (1 - decay) * variable.

    The first ``update()`` copies the variables (decay 0 for that one
    update), so that weights loaded after the shadows were created (a
    warm start from another run) are what the average starts from.
    ``num_updates`` (checkpointed with the shadows) is 0 until then;
    ``swapped()`` leaves the raw weights in place while it is 0, which
    covers a checkpoint read without the shadows.

    Args:
      variables: the variables to average (trainable weights of the generator).
      decay: beta in (0, 1), e.g. PGGAN's 0.999.
    """

    def __init__(self, variables: Sequence, decay: float, name: str = "ema"):
        super().__init__(name=name)
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        # Not a checkpoint dependency: the networks checkpoint their own weights.
        self._averaged = _Untracked(list(variables))
        self.shadows = [tf.Variable(tf.identity(_tf_variable(v)), trainable=False,
                                    name=_tf_variable(v).name.split(":")[0].replace("/", "_")
                                    + "_ema")
                        for v in self._averaged.items]
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")

    @property
    def averaged_variables(self):
        return list(self._averaged.items)

    def update(self) -> None:
        """One averaging step (inside the train step, after the generator's update)."""
        def average(shadow, variable, num_updates):
            # Decay 0 at the first update: the shadows start as a copy of the weights.
            decay = tf.where(tf.equal(num_updates, 0), 0.0, self.decay)
            return shadow - (1.0 - tf.cast(decay, shadow.dtype)) * (shadow - variable)

        update_in_place(self.shadows, average, self._averaged.items,
                        [self.num_updates] * len(self.shadows))
        update_in_place([self.num_updates], lambda n: n + 1)

    @contextlib.contextmanager
    def swapped(self):
        """Puts the averaged weights into the variables, and the trained ones back after.

        Eager only (sampling for users, summaries, export): the trained
        weights are copied to the host side for the duration.
        """
        if int(self.num_updates.numpy()) == 0:
            logging.warning("EMA of %d variables has no averaged weights yet (not updated "
                            "or not restored): using the trained weights.", len(self.shadows))
            yield
            return
        backup = [tf.identity(_tf_variable(v)) for v in self._averaged.items]
        for variable, shadow in zip(self._averaged.items, self.shadows):
            _tf_variable(variable).assign(shadow)
        try:
            yield
        finally:
            for variable, value in zip(self._averaged.items, backup):
                _tf_variable(variable).assign(value)
