"""tf.distribute strategies by name (--strategy)."""
from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("mirrored", "one_device", "multi_worker")


def split_cpu(num_replicas: int) -> None:
    """Splits the CPU into ``num_replicas`` logical devices (before TF initialises).

    Lets MirroredStrategy really run several replicas on a machine without
    GPUs: used by the tests and by --cpu_replicas.
    """
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current and len(current) == num_replicas:
        return
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * num_replicas)


def make_strategy(name: str, cpu_replicas: int = 1) -> tf.distribute.Strategy:
    """Builds the strategy named by --strategy.

    mirrored: all local GPUs, else the CPU (``cpu_replicas`` logical CPUs).
    one_device: the first GPU, else the CPU.
    multi_worker: MultiWorkerMirroredStrategy configured by TF_CONFIG.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "multi_worker":
        # Must come before anything initialises TensorFlow's context.
        return _multi_worker()
    if cpu_replicas > 1:
        split_cpu(cpu_replicas)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([d.name for d in cpus[:max(cpu_replicas, 1)]])


def _multi_worker():
    config = os.environ.get("TF_CONFIG")
    if not config:
        raise ValueError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable on every "
            "worker, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
            "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' (see "
            "docs/training.md).")
    try:
        json.loads(config)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {config!r}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_role(strategy: tf.distribute.Strategy):
    """(is_chief, worker index): the chief writes checkpoints, summaries and samples."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or not task_type:
        return True, 0
    task_id = int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return is_chief, task_id
