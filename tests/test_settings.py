"""Per-method settings: parsing, validation, defaults, resolved run files and resumes."""
import dataclasses
import os

import pytest

from helpers import ROOT, TINY_GAN_FLAGS, run_bin
from tfvidgen import experiment
from tfvidgen.models.config import GANConfig
from tfvidgen.models.drnet import DRNetConfig
from tfvidgen.models.svg import SVGConfig
from tfvidgen.settings import ConfigError

TOY = os.path.join(ROOT, "tests", "toy_method.py")
TINY_DATA = ["--dataset=synthetic_expressions", "--synthetic_identities=2",
             "--synthetic_takes=1", "--synthetic_video_length=6", "--image_size=16",
             "--summary_every=1", "--sample_every=100", "--checkpoint_every=100",
             "--num_samples=2"]


def test_parse_args_types_bools_last_wins_and_unknown_names():
    got = GANConfig.parse_args(["--ngf=8", "--noshare_fakes", "--learning_rate=1e-3",
                                "--ngf=16", "--init_image_generator=runs/x"])
    assert got == {"ngf": 16, "share_fakes": False, "learning_rate": 1e-3,
                   "init_image_generator": "runs/x"}
    assert GANConfig.parse_args(["--share_fakes"]) == {"share_fakes": True}
    assert GANConfig.parse_args(["--share_fakes=false"]) == {"share_fakes": False}
    with pytest.raises(ConfigError, match=r"--max_step is not .* rjgan\. Did you mean --max_steps"):
        GANConfig.parse_args(["--max_step=5"], known=["max_steps"], method="rjgan")
    with pytest.raises(ConfigError, match="--ngf=wide: expected int"):
        GANConfig.parse_args(["--ngf=wide"])
    with pytest.raises(ConfigError, match="--ngf needs a value"):
        GANConfig.parse_args(["--ngf"])
    with pytest.raises(ConfigError, match="unexpected argument 'stray'"):
        GANConfig.parse_args(["stray"])


@pytest.mark.parametrize("cls,values,message", [
    (SVGConfig, {"z_dim": 0}, "--z_dim must be >= 1, got 0"),
    (SVGConfig, {"encoder_arch": "resnet"}, "--encoder_arch must be one of dcgan, vgg"),
    (SVGConfig, {"n_past": 5, "n_eval": 5}, "--n_eval=5 must exceed --n_past=5"),
    (SVGConfig, {"learning_rate": 0.0}, "--learning_rate must be > 0.0"),
    (GANConfig, {"image_batch_size": 5, "batch_size": 2}, "--image_batch_size must be a multiple"),
    (DRNetConfig, {"frame_channels": 2}, "--frame_channels must be one of 1, 3"),
])
def test_validation_names_the_setting(cls, values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cls(**values)


def test_to_args_round_trips_every_field():
    config = dataclasses.replace(DRNetConfig(), content_skips=False, beta=1e-4,
                                 pose_arch="resnet", drnet_dir="runs/d")
    assert DRNetConfig.from_values(DRNetConfig.parse_args(config.to_args())) == config


def test_help_lists_every_setting_with_its_default():
    text = experiment.settings_help("svg_lp")
    for f in dataclasses.fields(SVGConfig):
        assert f"--{f.name}: " in text
    assert "(default: 0.002)" in text and "One of: dcgan, vgg" in text


@pytest.mark.parametrize("model,expected", [
    # The papers' settings with no flagfile: SVG's Adam is 2e-3 / 0.9, DRNet's |h_c| 128.
    ("svg_lp", {"learning_rate": 2e-3, "beta1": 0.9, "z_dim": 10, "beta": 1e-4,
                "batch_size": 100, "n_past": 5, "n_future": 10}),
    ("drnet", {"content_dim": 128, "pose_dim": 5, "beta": 0.1, "learning_rate": 2e-3,
               "batch_size": 100}),
    ("mocogan", {"content_dim": 50, "motion_dim": 10, "learning_rate": 2e-4, "beta1": 0.5,
                 "batch_size": 16, "image_batch_size": 32, "weight_decay": 1e-5}),
    ("image_gan", {"batch_size": 32, "latent_dim": 60}),
])
def test_defaults_are_the_papers_without_a_flagfile(model, expected):
    try:
        values, config = experiment.parse_command([f"--model={model}", "--model_dir=unused"])
    finally:
        experiment.parse_command([])  # leave the global flags at their defaults
    for name, value in expected.items():
        assert getattr(config, name) == value, name
        assert values[name] == value, name


def test_beta_means_each_methods_own_weight():
    try:
        _, svg = experiment.parse_command(["--model=svg_lp", "--beta=0.5"])
        _, drnet = experiment.parse_command(["--model=drnet"])
    finally:
        experiment.parse_command([])
    assert svg.beta == 0.5 and drnet.beta == 0.1


def test_a_setting_of_another_method_is_refused():
    try:
        with pytest.raises(ConfigError, match="--z_dim is not a flag nor a setting of rjgan"):
            experiment.parse_command(["--model=rjgan", "--z_dim=3"])
    finally:
        experiment.parse_command([])


def test_resume_refuses_conflicts_before_writing_and_accepts_mutable_flags(tmp_path):
    run_dir = str(tmp_path / "run")
    run_bin("train", "--model=rjgan", *TINY_GAN_FLAGS, "--max_steps=1", f"--model_dir={run_dir}")
    flags_txt = os.path.join(run_dir, "flags.txt")
    before = open(flags_txt).read()
    assert "--ngf=4" in before and "--model=rjgan" in before
    # Through bin/train: exit 2, one line naming each setting, nothing written.
    proc = run_bin("train", f"--model_dir={run_dir}", "--ngf=8", "--latent_dim=9", check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--ngf: the run has 4" in proc.stderr and "--latent_dim" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert open(flags_txt).read() == before
    # The same resolution in-process for other kinds of conflict.
    from tfvidgen import flags as tfv_flags
    fv = tfv_flags.FLAGS
    try:
        for args, name in ((["--model=image_gan"], "--model: the run has 'rjgan'"),
                           (["--image_size=32"], "--image_size: the run has 16")):
            fv.unparse_flags()
            rest = fv(["prog", f"--model_dir={run_dir}", *args], known_only=True)
            values, _, saved = experiment.resolve(fv, rest[1:])
            with pytest.raises(ValueError, match=name):
                experiment.check_resume(saved, values)
    finally:
        experiment.parse_command([])
    assert open(flags_txt).read() == before
    proc = run_bin("train", f"--model_dir={run_dir}", "--max_steps=2", "--summary_every=2")
    assert "step 1/2" in proc.stderr
    after = open(flags_txt).read()
    assert "--max_steps=2" in after and "--ngf=4" in after


def test_helpfull_lists_the_models_settings():
    proc = run_bin("train", "--model=drnet", "--helpfull")
    assert "Settings of --model=drnet" in proc.stdout
    assert "--pose_arch: " in proc.stdout and "(default: 'dcgan')" in proc.stdout
    assert "--model_dir" in proc.stdout  # and the run-level flags


def test_a_method_from_a_user_module_trains_exports_and_takes_its_settings(tmp_path):
    """The toy method lives in tests/, registers itself and edits nothing shared."""
    run_dir = str(tmp_path / "toy")
    proc = run_bin("train", f"--user_module={TOY}", "--model=toy_mean_clip", *TINY_DATA,
                   "--toy_frames=2", "--toy_noise=none", "--batch_size=3", "--max_steps=40",
                   f"--model_dir={run_dir}", "--export_after_training")
    text = open(os.path.join(run_dir, "flags.txt")).read()
    assert "--toy_frames=2" in text and "--toy_noise=none" in text and "--batch_size=3" in text
    assert "--toy_learning_rate=0.05" in text  # a default, resolved and saved
    export_line = [line for line in proc.stderr.splitlines() if line.startswith("export: ")]
    assert export_line and os.path.exists(os.path.join(export_line[0][8:], "saved_model.pb"))
    # Loss fell: the toy task learned the data's mean clip.
    import numpy as np
    from tfvidgen.serving import savedmodel  # noqa: F401
    import tensorflow as tf
    loaded = tf.saved_model.load(export_line[0][8:])
    video = loaded.serving_default(seed=tf.constant(1, tf.int64),
                                   num_videos=tf.constant(2))["video"].numpy()
    assert video.shape == (2, 2, 16, 16, 3)
    np.testing.assert_array_equal(video[0], video[1])  # --toy_noise=none: no noise
    assert video.std() > 0  # it learned something other than its zero init (grey)
    # Its settings are validated and listed like a built-in method's.
    bad = run_bin("train", f"--user_module={TOY}", "--model=toy_mean_clip",
                  "--toy_frames=100", f"--model_dir={tmp_path}/bad", check=False)
    assert bad.returncode == 2 and "--toy_frames must be <= 64" in bad.stderr
    helped = run_bin("train", f"--user_module={TOY}", "--model=toy_mean_clip", "--helpfull")
    assert "--toy_noise: Noise added when sampling. One of: gaussian, none" in helped.stdout
    # A resume needs nothing but the run directory (the module is in its flags.txt).
    resumed = run_bin("train", f"--model_dir={run_dir}", "--max_steps=41")
    assert "step 40/41" in resumed.stderr
