import glob
import os

import pytest

from helpers import ROOT, TINY_GAN_FLAGS, run_bin

TINY = TINY_GAN_FLAGS
run = run_bin


def test_train_resume_and_export_end_to_end(tmp_path):
    run_dir = str(tmp_path / "run")
    run("train", "--model=rjgan", *TINY, "--max_steps=2", f"--model_dir={run_dir}")
    assert os.path.exists(os.path.join(run_dir, "samples.gif"))
    flags_txt = open(os.path.join(run_dir, "flags.txt")).read()
    assert "--model=rjgan" in flags_txt and "--ngf=4" in flags_txt
    # Resume with nothing but the run directory and a new step budget.
    proc = run("train", f"--model_dir={run_dir}", "--max_steps=3")
    assert "step 2/3" in proc.stderr
    assert sorted(os.path.basename(p) for p in glob.glob(run_dir + "/checkpoints/ckpt-*.index")) \
        == ["ckpt-2.index", "ckpt-3.index"]
    proc = run("export", f"--model_dir={run_dir}", f"--export_dir={tmp_path}/exports",
               "--describe")
    assert proc.stdout.splitlines()[0].endswith(os.path.join("exports", "rjgan", "3"))
    assert "signature serving_default:" in proc.stdout


@pytest.mark.parametrize("flag,message", [
    ("--image_size=48", "--image_size must be a power of two"),
    ("--batch_size=0", "--batch_size must be >= 1"),
    ("--image_batch_size=5", "--image_batch_size must be a multiple of --batch_size"),
    ("--broken_video_fraction=1.5", "--broken_video_fraction"),
    ("--strategy=tpu", "--strategy"),
])
def test_impossible_values_name_the_flag(tmp_path, flag, message):
    proc = run("train", "--model=mocogan", f"--model_dir={tmp_path}", flag, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_unknown_model_suggests_a_name(tmp_path):
    proc = run("train", "--model=rjgna", *TINY, f"--model_dir={tmp_path}", check=False)
    assert proc.returncode == 2
    assert "--model" in proc.stderr and "rjgan" in proc.stderr


def test_missing_mug_says_where_to_get_it(tmp_path):
    proc = run("train", "--flagfile=configs/rjgan_mug.cfg", f"--model_dir={tmp_path}",
               f"--data_dir={tmp_path}/nowhere", check=False)
    assert proc.returncode == 2
    assert "mug.ee.auth.gr" in proc.stderr and "--data_dir" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_config_parses():
    from absl import flags

    import tfvidgen.flags  # noqa: F401
    import tfvidgen.models  # noqa: F401  (registers every method)
    from tfvidgen import registry
    configs = sorted(glob.glob(os.path.join(ROOT, "configs", "*.cfg")))
    names = {os.path.basename(c) for c in configs}
    for model in ("rjgan", "rmocogan", "mocogan", "image_gan"):
        for dataset in ("mug", "synthetic_expressions"):
            assert f"{model}_{dataset}.cfg" in names
    assert {"quickstart.cfg", "quickstart_pretrain.cfg"} <= names
    from tfvidgen import experiment
    try:
        for config in configs:  # every flag validator and every setting's validation
            values, settings = experiment.parse_command([f"--flagfile={config}"])
            assert values["model"] in registry.TASKS, config
            assert isinstance(settings, registry.TASKS.get(values["model"]).config_class)
            assert values["model_dir"]
    finally:
        flags.FLAGS.unparse_flags()


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_strategy_from_tf_config(tmp_path, monkeypatch):
    """One worker of MultiWorkerMirroredStrategy, on loopback, trains and checkpoints."""
    import json
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{_free_port()}"]},
        "task": {"type": "worker", "index": 0}}))
    run_dir = str(tmp_path / "run")
    run("train", "--model=mocogan", *TINY, "--max_steps=2", "--strategy=multi_worker",
        f"--model_dir={run_dir}")
    assert os.path.exists(os.path.join(run_dir, "checkpoints", "ckpt-2.index"))


def test_a_second_parse_in_one_process_starts_from_the_defaults():
    from absl import flags
    from tfvidgen.cli.common import parse_flags_or_fail
    fv = flags.FlagValues()
    flags.DEFINE_string("baseline", "", "", flag_values=fv)
    flags.DEFINE_integer("iterations", 8, "", flag_values=fv)
    parse_flags_or_fail(fv, ["tool", "--baseline=torch", "--iterations=2"], "doc")
    assert fv.baseline == "torch" and fv.iterations == 2
    parse_flags_or_fail(fv, ["tool", "--iterations=3"], "doc")
    assert fv.baseline == "" and fv.iterations == 3  # not the first run's --baseline
