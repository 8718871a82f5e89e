"""Quiet by default: bin/ tools hide TensorFlow's INFO lines unless --verbosity is given."""
import os
import subprocess
import sys

from helpers import ROOT, TINY_GAN_FLAGS
from tfvidgen.cli import quiet


def test_keep_line_drops_cpp_info_warnings_and_known_harmless_errors():
    drop = [b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
            b"I0000 00:00:1796221114.714447   12168 port.cc:153] oneDNN custom operations are on.",
            b"W0000 00:00:1796221091.077653   11907 dataset.cc:997] Input of GeneratorDatasetOp",
            b"E0000 00:00:1796221089.975197   11907 cuda_platform.cc:52] failed call to cuInit: X",
            b"E0000 00:00:1796221095.008858   11907 meta_optimizer.cc:967] remapper failed: Y"]
    keep = [b"E1202 14:17:22.904763 140381 some_op.cc:12] OOM when allocating tensor",
            b"F0000 00:00:1796221095.008858   11907 check.cc:1] Check failed: x",
            b"2/2 [####] 0.4 steps/s", b"error: --ngf must be >= 1, got 0", b""]
    assert not any(quiet.keep_line(line) for line in drop)
    assert all(quiet.keep_line(line) for line in keep)


def test_wants_detail_reads_absls_verbosity_flag():
    assert quiet.wants_detail(["bin/train", "--verbosity=1"])
    assert quiet.wants_detail(["bin/train", "-v", "1"])
    assert not quiet.wants_detail(["bin/train", "--model=rjgan"])


def _train(tmp_path, *extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "train"), "--model=rjgan",
                           *TINY_GAN_FLAGS, "--max_steps=1", "--checkpoint_every=1",
                           f"--model_dir={tmp_path}", *extra],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def test_bin_train_is_quiet_and_verbosity_brings_detail_back(tmp_path):
    proc = _train(tmp_path / "quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    noise = [line for line in proc.stderr.splitlines()
             if line.startswith(("I0000", "W0000", "INFO:tensorflow", "I1", "WARNING: All log"))]
    assert noise == []
    assert "rjgan on synthetic_expressions" in proc.stderr and "samples:" in proc.stderr
    loud = _train(tmp_path / "loud", "--verbosity=0")
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert any(line.startswith("I0000") for line in loud.stderr.splitlines())
