"""bin/benchmark on the tiny preset: JSON shape only (no test asserts a speed)."""
import json
import sys

import pytest

from tfvidgen import benchmark
from tfvidgen.cli import benchmark as cli


def test_tiny_constant_input_reports_positive_speed(tmp_path):
    out = tmp_path / "result.json"
    cli.run(["benchmark", "--model=mocogan", "--preset=tiny", "--warmup=1", "--iterations=2",
             "--input=constant", f"--output={out}"])
    result = json.loads(out.read_text())
    for key in ("model", "preset", "videos_per_s", "sec_per_iter_median", "sec_per_iter_p10",
                "sec_per_iter_p90", "iterations", "threads", "onednn", "tensorflow", "cpu",
                "share_fakes", "jit_compile", "input"):
        assert key in result, key
    assert result["model"] == "mocogan" and result["preset"] == "tiny"
    assert result["iterations"] == 2 and len(result["times"]) == 2
    assert result["videos_per_s"] > 0 and result["threads"] > 0
    assert 0 < result["sec_per_iter_p10"] <= result["sec_per_iter_median"] \
        <= result["sec_per_iter_p90"]
    assert result["share_fakes"] is True and result["jit_compile"] is False
    assert "torch" not in result


def test_presets_are_the_official_configuration():
    ref = benchmark.gan_config("reference")
    assert (ref.ngf, ref.ndf, ref.content_dim, ref.motion_dim, ref.num_categories) == \
        (64, 64, 50, 10, 6)
    assert (ref.clip_length, ref.batch_size, ref.image_batch_size) == (16, 16, 32)
    assert benchmark.PRESETS["reference"]["image_size"] == 64
    with pytest.raises(ValueError, match="unknown preset"):
        benchmark.gan_config("huge")


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(RuntimeError, match=r"pip install torch==2\.13\.0 for --baseline=torch"):
        benchmark.load_torch_baseline()


def test_torch_baseline_tiny_iteration():
    pytest.importorskip("torch")
    module = benchmark.load_torch_baseline()
    gan = benchmark.gan_config("tiny")
    for model in ("mocogan", "rjgan"):
        baseline = module.Baseline(
            model=model, image_size=benchmark.PRESETS["tiny"]["image_size"], ngf=gan.ngf,
            ndf=gan.ndf, num_categories=gan.num_categories, clip_length=gan.clip_length,
            video_batch=gan.batch_size, image_batch=gan.image_batch_size,
            content_dim=gan.content_dim, motion_dim=gan.motion_dim, latent_dim=gan.latent_dim,
            noise_dim=gan.noise_dim, threads=1)
        assert baseline.iteration() > 0
        assert baseline.describe()["framework"] == "torch"
