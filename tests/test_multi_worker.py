"""Two real bin/train workers on loopback under MultiWorkerMirroredStrategy
(docs/reliability.md, "Multi-worker"): they agree on losses, the chief writes
the checkpoints, a resume continues; a stop on one worker stops both at one
step; a missing or killed peer ends the run with a one-line error."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from helpers import ROOT, TINY_GAN_FLAGS

FLAGS = ["--model=mocogan", *TINY_GAN_FLAGS, "--strategy=multi_worker"]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Cluster:
    """``workers`` bin/train processes sharing one TF_CONFIG cluster on loopback."""

    def __init__(self, tmp_path, args, workers=2, start=None, peer_timeout=60):
        addresses = [f"127.0.0.1:{p}" for p in _free_ports(workers)]
        self.procs, self.logs = [], []
        for index in (range(workers) if start is None else start):
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                       TFVIDGEN_PEER_TIMEOUT=str(peer_timeout),
                       TF_CONFIG=json.dumps({"cluster": {"worker": addresses},
                                             "task": {"type": "worker", "index": index}}))
            log = tmp_path / f"worker{index}-{time.monotonic_ns()}.log"
            with open(log, "w") as out:
                self.procs.append(subprocess.Popen(
                    [sys.executable, os.path.join(ROOT, "bin", "train"), *FLAGS, *args],
                    stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
            self.logs.append(log)
        self.addresses = addresses

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        try:
            for proc in self.procs:
                proc.wait(timeout=max(deadline - time.monotonic(), 1))
        finally:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return [p.returncode for p in self.procs]

    def output(self, i):
        return self.logs[i].read_text()

    def wait_for(self, i, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output(i):
                return
            if self.procs[i].poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker {i} never printed {text!r}:\n{self.output(i)[-3000:]}")


def final_losses(output, max_steps):
    lines = [line for line in output.splitlines() if line.startswith(f"{max_steps}/{max_steps} ")]
    assert lines, output[-3000:]
    return dict(re.findall(r"(\w+_loss)=(\S+)", lines[-1]))


def test_two_workers_agree_checkpoint_on_the_chief_and_resume(tmp_path):
    run_dir = tmp_path / "run"
    cluster = Cluster(tmp_path, ["--max_steps=3", f"--model_dir={run_dir}"])
    assert cluster.wait(timeout=400) == [0, 0], cluster.output(0)[-3000:] + cluster.output(1)[-3000:]
    losses = [final_losses(cluster.output(i), 3) for i in (0, 1)]
    assert losses[0] and losses[0] == losses[1]
    assert sorted(os.listdir(run_dir / "checkpoints")) == [
        "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index"]
    assert (run_dir / "samples.gif").exists()
    assert not os.listdir(run_dir / ".worker_tmp")  # the other worker's copy is gone
    resumed = Cluster(tmp_path, ["--max_steps=5", f"--model_dir={run_dir}"])
    assert resumed.wait(timeout=400) == [0, 0], resumed.output(0)[-3000:]
    for i in (0, 1):
        assert "step 3/5" in resumed.output(i)
    assert final_losses(resumed.output(0), 5) == final_losses(resumed.output(1), 5)
    assert "ckpt-5.index" in os.listdir(run_dir / "checkpoints")


def test_sigterm_to_the_other_worker_stops_both_with_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    cluster = Cluster(tmp_path, ["--max_steps=100000", f"--model_dir={run_dir}"])
    cluster.wait_for(1, "step 0/100000", timeout=300)
    time.sleep(3)  # training (its handler installed)
    cluster.procs[1].send_signal(signal.SIGTERM)
    assert cluster.wait(timeout=300) == [130, 130], cluster.output(0)[-3000:]
    names = os.listdir(run_dir / "checkpoints")
    steps = [int(n[5:-6]) for n in names if n.startswith("ckpt-") and n.endswith(".index")]
    assert len(steps) == 1 and 0 < steps[0] < 100000


def test_a_missing_worker_is_named_within_the_bound(tmp_path):
    started = time.monotonic()
    cluster = Cluster(tmp_path, ["--max_steps=2", f"--model_dir={tmp_path / 'run'}"],
                      start=[0], peer_timeout=3)
    assert cluster.wait(timeout=120) == [2]
    assert time.monotonic() - started < 120
    output = cluster.output(0)
    (line,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert "worker 1" in line and cluster.addresses[1] in line
    assert "TFVIDGEN_PEER_TIMEOUT" in line and "Traceback" not in output


def test_a_killed_worker_ends_the_run_without_a_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    cluster = Cluster(tmp_path, ["--max_steps=100000", f"--model_dir={run_dir}"])
    cluster.wait_for(1, "step 0/100000", timeout=300)
    time.sleep(3)
    cluster.procs[1].kill()
    codes = cluster.wait(timeout=300)
    assert codes[0] == 2, cluster.output(0)[-3000:]
    (line,) = [line for line in cluster.output(0).splitlines() if line.startswith("error:")]
    assert "other workers" in line and "Traceback" not in cluster.output(0)
    assert not os.path.exists(run_dir / "checkpoints") or not [
        n for n in os.listdir(run_dir / "checkpoints") if n.endswith(".index")]


@pytest.mark.parametrize("config,message", [
    ({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}},
     "not in its cluster"),
    ({"cluster": {"worker": ["nohostport"]}, "task": {"type": "worker", "index": 0}},
     "host:port"),
])
def test_bad_tf_config_is_refused(config, message):
    from tfvidgen.train import strategies
    with pytest.raises(ValueError, match=message):
        me, peers = strategies.cluster_peers(config)
        strategies._split_address(me[2])
