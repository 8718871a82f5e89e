"""tf.distribute strategies by name (--strategy)."""
from __future__ import annotations

import json
import os
import signal

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


# Bounds of a multi-worker run's waits, in seconds (environment variables).
# TFVIDGEN_PEER_TIMEOUT: for every peer to start (default 300 s).
# TFVIDGEN_COLLECTIVE_TIMEOUT: for one collective operation (default: none). TensorFlow
# implements it with one thread per collective alive for the whole timeout, so it is
# off by default; a worker that dies while training is detected by TensorFlow's
# coordination service (missed heartbeats), which fails the other workers' step.
PEER_TIMEOUT_ENV = "TFVIDGEN_PEER_TIMEOUT"
COLLECTIVE_TIMEOUT_ENV = "TFVIDGEN_COLLECTIVE_TIMEOUT"
DEFAULT_PEER_TIMEOUT = 300.0
_HELLO = b"tfvidgen-peer "


def _seconds(env: str, default):
    raw = os.environ.get(env)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{env} must be a number of seconds > 0, got {raw!r}")
    return value


def _split_address(address: str):
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"TF_CONFIG: {address!r} is not host:port")
    return host.strip("[]"), int(port)


def cluster_peers(config: dict):
    """(this task's (job, index, address), the other chief/worker tasks) of TF_CONFIG."""
    try:
        cluster, task = config["cluster"], config["task"]
        me = (task["type"], int(task["index"]))
        tasks = [(job, i, address) for job in ("chief", "worker")
                 for i, address in enumerate(cluster.get(job, ()))]
        mine = [t for t in tasks if t[:2] == me]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"TF_CONFIG needs cluster.worker (and/or cluster.chief) addresses "
                         f"and task.type/task.index ({type(e).__name__}: {e})") from None
    if len(mine) != 1:
        raise ValueError(f"TF_CONFIG: task {me[0]} {me[1]} is not in its cluster "
                         f"{config['cluster']}")
    return mine[0], [t for t in tasks if t[:2] != me]


def wait_for_peers(me, peers, timeout: float, poll: float = 0.2) -> None:
    """Waits until this task and every peer have reached each other over TCP.

    Before TensorFlow starts its server, each task listens on its own
    address from TF_CONFIG, connects to every peer's address and sends its
    name; it stops listening once it has reached every peer and heard from
    every peer (so a peer still probing always finds it listening). Then
    TensorFlow binds the same ports. Without this, a task whose peer never
    starts waits forever inside MultiWorkerMirroredStrategy.

    Raises:
      ClusterError: a peer was not reached within ``timeout`` seconds (the
        message names it), or this task's own port is taken.
    """
    import select
    import socket
    import time

    from tfvidgen.train.errors import ClusterError
    job, index, address = me
    name = f"{job} {index}"
    _, port = _split_address(address)
    try:
        if socket.has_dualstack_ipv6():
            listener = socket.create_server(("", port), family=socket.AF_INET6,
                                            dualstack_ipv6=True, reuse_port=False)
        else:
            listener = socket.create_server(("", port))
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise ClusterError(f"this {name} cannot listen on its TF_CONFIG address {address} "
                           f"({reason}): another process holds the port; stop it or "
                           "give this task a free port in TF_CONFIG.") from None
    listener.setblocking(False)
    reached, heard, failure = set(), set(), {}
    wanted = {f"{j} {i}": a for j, i, a in peers}
    deadline = time.monotonic() + timeout
    next_try = 0.0
    try:
        while reached != set(wanted) or heard != set(wanted):
            now = time.monotonic()
            if now > deadline:
                missing = sorted(set(wanted) - (reached & heard))
                detail = "; ".join(
                    f"{peer} at {wanted[peer]}: " + (
                        failure.get(peer, "no answer") if peer not in reached
                        else "reachable but it never connected back (not a tfvidgen worker "
                             "of this cluster?)")
                    for peer in missing)
                raise ClusterError(
                    f"multi-worker: after {timeout:g} s this {name} ({address}) has not "
                    f"reached {', '.join(missing)} ({detail}). Start every task of TF_CONFIG "
                    f"with its own task index, check the addresses and firewalls, or raise "
                    f"{PEER_TIMEOUT_ENV} (seconds).")
            readable, _, _ = select.select([listener], [], [], poll)
            if readable:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    conn = None
                if conn is not None:
                    with conn:
                        conn.settimeout(2.0)
                        try:
                            data = conn.recv(256)
                        except OSError:
                            data = b""
                    if data.startswith(_HELLO):
                        heard.add(data[len(_HELLO):].decode(errors="replace").strip())
            if now >= next_try:
                next_try = now + 0.5
                for peer in set(wanted) - reached:
                    host, peer_port = _split_address(wanted[peer])
                    try:
                        with socket.create_connection((host, peer_port), timeout=1.0) as conn:
                            conn.sendall(_HELLO + name.encode() + b"\n")
                        reached.add(peer)
                    except OSError as e:
                        failure[peer] = e.strerror or type(e).__name__
    finally:
        listener.close()


def _multi_worker():
    config = os.environ.get("TF_CONFIG")
    if not config:
        raise ValueError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable on every "
            "worker, e.g. TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", "
            "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' (see "
            "docs/training.md).")
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {config!r}") from None
    peer_timeout = _seconds(PEER_TIMEOUT_ENV, DEFAULT_PEER_TIMEOUT)
    collective_timeout = _seconds(COLLECTIVE_TIMEOUT_ENV, None)
    me, peers = cluster_peers(parsed)
    if peers:
        wait_for_peers(me, peers, peer_timeout)
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=collective_timeout)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    # TensorFlow's coordination service installs a SIGTERM handler of its own that
    # only records a "preemption": give SIGTERM back its default action (the trainer
    # installs its handler, which saves and stops, while it trains).
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread
        pass
    return strategy


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """How many workers (processes) run ``strategy`` together (1 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(job, ())) for job in ("chief", "worker")))


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
