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


# SVG family ----------------------------------------------------------------------------

def test_presets_are_per_model_family():
    from tfvidgen.models.config import GANConfig
    from tfvidgen.models.svg import SVGConfig

    assert benchmark.family("mocogan") is GANConfig and benchmark.family("rjgan") is GANConfig
    for model in ("svg_lp", "svg_fp", "svg_det"):
        assert benchmark.family(model) is SVGConfig
    assert isinstance(benchmark.task_config("svg_lp", "tiny"), SVGConfig)
    assert benchmark.task_config("mocogan", "reference") == benchmark.gan_config("reference")
    assert benchmark.get_preset("svg_lp", "reference").torch_baseline == "svg_torch"
    assert benchmark.get_preset("rjgan", "reference").torch_baseline == "mocogan_torch"
    with pytest.raises(ValueError, match="unknown preset"):
        benchmark.get_preset("svg_lp", "huge")


def test_svg_reference_preset_is_the_official_smmnist_configuration():
    preset = benchmark.get_preset("svg_lp", "reference")
    c = benchmark.task_config("svg_lp", "reference", share_fakes=True)  # GAN-only field ignored
    assert (preset.image_size, preset.channels, preset.batch_size) == (64, 1, 16)
    assert (c.encoder_arch, c.encoder_width, c.frame_channels) == ("dcgan", 64, 1)
    assert (c.g_dim, c.z_dim, c.rnn_size) == (128, 10, 256)
    assert (c.predictor_rnn_layers, c.posterior_rnn_layers, c.prior_rnn_layers) == (2, 1, 1)
    assert (c.n_past, c.n_future, c.beta, c.last_frame_skip) == (5, 10, 1e-4, False)
    assert (c.learning_rate, c.beta1, c.beta2) == (2e-3, 0.9, 0.999)
    assert preset.video_length >= c.n_past + c.n_future
    args = preset.torch_args(c, preset)
    assert (args["image_size"], args["channels"], args["nf"], args["batch_size"]) == \
        (64, 1, 64, 16)
    assert (args["n_past"], args["n_future"], args["g_dim"], args["z_dim"]) == (5, 10, 128, 10)


def test_svg_tiny_reports_json(tmp_path):
    out = tmp_path / "result.json"
    cli.run(["benchmark", "--model=svg_lp", "--preset=tiny", "--warmup=1", "--iterations=2",
             f"--output={out}"])
    result = json.loads(out.read_text())
    assert result["model"] == "svg_lp" and result["preset"] == "tiny"
    assert result["iterations"] == 2 and len(result["times"]) == 2
    assert result["videos_per_s"] > 0 and result["video_batch"] == 2
    assert result["clip_length"] == 5 and result["image_size"] == 16
    assert result["channels"] == 1 and result["image_batch"] == 0
    assert "torch" not in result


def test_svg_torch_baseline_tiny_iteration():
    pytest.importorskip("torch")
    preset = benchmark.get_preset("svg_lp", "tiny")
    module = benchmark.load_torch_baseline(preset.torch_baseline)
    baseline = module.Baseline(model="svg_lp", threads=1,
                               **preset.torch_args(benchmark.task_config("svg_lp", "tiny"),
                                                   preset))
    assert baseline.iteration() > 0
    assert baseline.describe()["framework"] == "torch"
    assert baseline.video_batch == 2
    # The official iteration encodes x[i-1] and x[i] at every step: 2 (T - 1) encoder calls.
    calls = []
    baseline.encoder.register_forward_hook(lambda *args: calls.append(1))
    baseline.iteration()
    assert len(calls) == 2 * (5 - 1)
    mse, kld = baseline.train(baseline.x)
    assert mse > 0 and kld >= 0
    with pytest.raises(ValueError, match="no PyTorch baseline"):
        module.Baseline(model="svg_fp", threads=1)


def test_torch_baseline_in_its_own_process(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "result.json"
    cli.run(["benchmark", "--model=svg_lp", "--preset=tiny", "--warmup=0", "--iterations=2",
             "--input=constant", "--baseline=torch", "--torch_process",
             f"--output={out}"])
    result = json.loads(out.read_text())
    assert result["torch"]["framework"] == "torch" and result["torch"]["iterations"] == 2
    assert result["torch"]["process"].startswith("separate")
    assert result["torch"]["cpu_sec_per_iter_median"] > 0 and result["speedup_vs_torch"] > 0


# Precision, machine report, FLOPs, the input pipeline alone ----------------------------

def test_bfloat16_reports_machine_precision_and_fraction_of_peak(tmp_path):
    out = tmp_path / "result.json"
    cli.run(["benchmark", "--model=mocogan", "--preset=tiny", "--warmup=1", "--iterations=1",
             "--steps_per_loop=2", "--input=pipeline", "--noinput_only",
             "--precision=mixed_bfloat16", "--peak_seconds=0.2", f"--output={out}"])
    result = json.loads(out.read_text())
    assert result["steps_per_loop"] == 2 and result["videos_per_s"] > 0
    assert result["precision"] == "mixed_bfloat16" and result["device"]
    assert result["cpu_model"] and set(result["instruction_sets"]) == \
        {"AVX-512F", "AVX512_BF16", "AMX-BF16", "AMX-TILE"}
    assert result["peak_matmul"]["dtype"] == "bfloat16" and result["peak_matmul"]["gflops"] > 0
    assert result["flops_per_iteration"] > 0 and result["fraction_of_peak"] > 0


def test_count_flops_of_convolutions_and_matmuls_with_their_gradients():
    import tensorflow as tf
    x = tf.zeros([2, 8, 8, 3])
    k = tf.Variable(tf.zeros([3, 3, 3, 5]))
    w = tf.Variable(tf.zeros([5, 7]))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            h = tf.nn.conv2d(x, k, 1, "SAME")          # [2, 8, 8, 5]
            y = tf.matmul(tf.reshape(h, [-1, 5]), w)   # [128, 7]
            loss = tf.reduce_sum(y)
        return loss, tape.gradient(loss, [k, w])

    graph = step.get_concrete_function(x).graph
    conv = 2 * (2 * 8 * 8) * (3 * 3 * 3 * 5)
    matmul = 2 * 128 * 7 * 5
    # forward conv + its filter gradient (the input gradient is traced but unused, so
    # pruned); matmul + both gradients
    assert benchmark.count_flops(graph) == 2 * conv + 3 * matmul


def test_input_only_reports_videos_per_second(tmp_path):
    out = tmp_path / "result.json"
    cli.run(["benchmark", "--model=mocogan", "--preset=tiny", "--warmup=1", "--iterations=2",
             "--input_only", "--input=pipeline", "--steps_per_loop=1", "--precision=float32",
             f"--output={out}"])
    result = json.loads(out.read_text())
    assert result["input_only"] is True and result["videos_per_s"] > 0
    assert result["iterations"] >= 20 and result["video_batch"] == 2
    assert "flops_per_iteration" not in result
