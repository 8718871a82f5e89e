"""--precision: every registered method trains under mixed_bfloat16, exports keep their
float32 / uint8 signatures, checkpoints are the same in every precision, and a resumed
run cannot change its precision."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY_GAN_FLAGS, train_run
from tfvidgen import experiment, precision, registry

CFG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
COMMON = ["--max_steps=2", "--summary_every=1", "--sample_every=100", "--checkpoint_every=100",
          "--num_samples=2", "--image_size=16"]
_SVG = ["--dataset=smmnist", "--encoder_width=4", "--g_dim=8", "--z_dim=2", "--rnn_size=8",
        "--n_past=2", "--n_future=2", "--n_eval=4", "--synthetic_video_length=6",
        "--batch_size=2"]
_SYN = ["--synthetic_identities=2", "--synthetic_takes=1"]
_DRNET = ["--flagfile=" + os.path.join(CFG, "drnet_moving_mnist_color.cfg"), "--encoder_width=4",
          "--content_dim=6", "--pose_dim=3", "--sd_width=8", "--synthetic_video_length=8",
          "--batch_size=4", "--max_step=4"]
_PG = ["--dataset=synthetic_expressions", *_SYN, "--synthetic_video_length=12", "--batch_size=2",
       "--latent_dim=8", "--fmap_base=16", "--fmap_max=8", "--ema_decay=0.5"]
_GROWTH = ["--training_kimg=0.004", "--transition_kimg=0.002"]
_VAE = ["--width=4", "--hidden=8", "--latent_dim=4", "--n_past=2", "--n_future=2", "--n_eval=4",
        *_SYN, "--synthetic_video_length=6", "--batch_size=2"]
_DSA = [*_SYN, "--hidden=8", "--conv_width=4", "--frames=4", "--synthetic_video_length=6",
        "--batch_size=2"]
_VGAN = ["--dataset=textured_shapes", "--synthetic_identities=1", "--synthetic_takes=1",
         "--synthetic_video_length=4", "--batch_size=2", "--num_frames=4", "--ndf=4"]

# Tiny bin/train arguments of every registered method (the same sizes as its own tests).
TINY = {
    "mocogan": ["--model=mocogan", *TINY_GAN_FLAGS],
    "rmocogan": ["--model=rmocogan", *TINY_GAN_FLAGS],
    "rjgan": ["--model=rjgan", *TINY_GAN_FLAGS],
    "image_gan": ["--model=image_gan", *TINY_GAN_FLAGS],
    "vgan": ["--model=vgan", *_VGAN, "--latent_dim=8", "--ngf=4"],
    "tgan": ["--model=tgan", *_VGAN, "--z0_dim=8", "--z1_dim=6", "--temporal_width=8",
             "--ngf=8"],
    "pgvgan": ["--model=pgvgan", *_PG, *_GROWTH],
    "pgswgan": ["--model=pgswgan", *_PG, *_GROWTH],
    "swgan": ["--model=swgan", *_PG, "--n_critic=2"],
    "swgan_image": ["--model=swgan_image", "--dataset=synthetic_expressions", *_SYN,
                    "--synthetic_video_length=4", "--batch_size=2", "--latent_dim=8",
                    "--features=8", "--dim=2", "--n_critic=2", "--swgan_blocks=2"],
    "lapgan": ["--model=lapgan", "--dataset=synthetic_expressions", *_SYN,
               "--synthetic_video_length=2", "--pyramid_sizes=8,16", "--batch_size=2",
               "--z_dim=4", "--coarse_g_hidden=8", "--coarse_d_hidden=8", "--g_features=4",
               "--d_features=4"],
    "svg_lp": ["--model=svg_lp", *_SVG],
    "svg_fp": ["--model=svg_fp", *_SVG],
    "svg_det": ["--model=svg_det", *_SVG],
    "mvae": ["--flagfile=" + os.path.join(CFG, "mvae_video_synthetic_expressions.cfg"), *_VAE],
    "vaegan": ["--flagfile=" + os.path.join(CFG, "vaegan_synthetic_attributes.cfg"), *_VAE,
               "--disc_width=4"],
    "drnet": _DRNET,
    "drnet_lstm": ["--flagfile=" + os.path.join(CFG, "drnet_lstm_moving_mnist_color.cfg"),
                   *_DRNET[1:], "--rnn_size=8", "--n_past=2", "--n_future=2", "--n_eval=5"],
    "dsa": ["--flagfile=" + os.path.join(CFG, "dsa_synthetic_expressions.cfg"), *_DSA,
            "--static_dim=6", "--dynamic_dim=3"],
    "rjvae": ["--flagfile=" + os.path.join(CFG, "rjvae_synthetic_expressions.cfg"), *_DSA,
              "--latent_dim=4"],
}
TEST_ONLY = {"toy_mean_clip", "toy_progressive"}  # registered by other test modules


def _finite_losses(trainer_metrics):
    return trainer_metrics and all(np.isfinite(v) for v in trainer_metrics.values())


def _train(name, run_dir, precision_name="mixed_bfloat16", extra=(), strategy=None):
    from tfvidgen.train.loop import Trainer
    args = [*TINY[name], *COMMON, f"--precision={precision_name}", *extra]
    try:
        values, config = experiment.parse_command([*args, f"--model_dir={run_dir}"])
    finally:
        experiment.parse_command([])
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]), config)
    trainer = Trainer(task, data, experiment.train_config(values, config),
                      strategy or tf.distribute.get_strategy())
    metrics = trainer.train()
    from tfvidgen.train.checkpoints import atomic_write
    atomic_write(experiment.flags_file(str(run_dir)), experiment.run_file_text(values, config))
    return trainer, metrics


def test_every_registered_method_has_a_tiny_config():
    assert set(registry.TASKS.names()) - TEST_ONLY == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_trains_two_steps_under_mixed_bfloat16(name, tmp_path):
    extra = ()
    if name == "drnet_lstm":  # on a float32 DRNet: its checkpoint restores into a bf16 build
        train_run([*TINY["drnet"], *COMMON], tmp_path / "drnet")
        extra = (f"--drnet_dir={tmp_path / 'drnet'}",)
    trainer, metrics = _train(name, tmp_path / "run", extra=extra)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after building
    assert trainer.current_step == 2 and _finite_losses(metrics), metrics
    task = trainer.task
    assert task.precision == "mixed_bfloat16"
    for network in task.networks().values():
        assert all(v.dtype == "float32" for v in network.weights)  # float32 variables
    assert any(getattr(layer, "compute_dtype", None) == "bfloat16"
               for network in task.networks().values() for layer in network._flatten_layers())


def test_flag_is_recorded_and_fixed_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    train_run(["--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=1",
               "--precision=mixed_bfloat16"], run_dir)
    assert "--precision=mixed_bfloat16" in (run_dir / "flags.txt").read_text()
    saved = experiment.read_run(str(run_dir))
    assert saved["precision"] == "mixed_bfloat16"
    for changed in ("float32", "mixed_float16"):
        values = dict(saved, precision=changed)
        with pytest.raises(ValueError, match="--precision: the run has 'mixed_bfloat16'"):
            experiment.check_resume(saved, values)
    experiment.check_resume(saved, dict(saved, max_steps=5))  # the same precision resumes


def test_float32_checkpoint_restores_into_a_bfloat16_build_and_back(tmp_path):
    from tfvidgen import runs
    run_dir = tmp_path / "run"
    train_run(["--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=1"], run_dir)
    values = experiment.read_run(str(run_dir))
    f32, _, _, _ = runs.load_run(str(run_dir), values)
    bf16, _, step, _ = runs.load_run(str(run_dir), dict(values, precision="mixed_bfloat16"))
    assert step == 1 and bf16.precision == "mixed_bfloat16"
    for a, b in zip(f32.image_generator.weights, bf16.image_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = tf.random.stateless_normal([2, f32.image_generator.inputs[0].shape[-1]]
                                   if getattr(f32.image_generator, "inputs", None)
                                   else [2, 6], [1, 2])
    out32, out16 = f32.image_generator(z), bf16.image_generator(z)
    assert out16.dtype == tf.float32  # cast at the network boundary
    np.testing.assert_allclose(out16.numpy(), out32.numpy(), atol=0.1)


def test_bfloat16_export_keeps_the_float32_signatures(tmp_path):
    from tfvidgen import export, runs
    run_dir = tmp_path / "run"
    train_run(["--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=1",
               "--precision=mixed_bfloat16"], run_dir)
    task, _, step, values = runs.load_run(str(run_dir))
    assert task.precision == "mixed_bfloat16"
    path = export.export(task, str(tmp_path / "export"), "mocogan", step,
                         warmup_batch_sizes=[])
    run_32 = tmp_path / "run32"
    train_run(["--model=mocogan", *TINY_GAN_FLAGS, "--max_steps=1"], run_32)
    task32, _, _, _ = runs.load_run(str(run_32))
    path32 = export.export(task32, str(tmp_path / "export32"), "mocogan", step,
                           warmup_batch_sizes=[])
    loaded, loaded32 = tf.saved_model.load(path), tf.saved_model.load(path32)
    assert set(loaded.signatures) == set(loaded32.signatures)
    for key, fn in loaded.signatures.items():
        ref = loaded32.signatures[key]
        assert fn.structured_input_signature == ref.structured_input_signature, key
        assert {k: (v.dtype, v.shape.rank) for k, v in fn.structured_outputs.items()} == \
            {k: (v.dtype, v.shape.rank) for k, v in ref.structured_outputs.items()}, key
    out = loaded.signatures["serving_default"](
        **{k: tf.constant(1 if "num" in k else 3, v.dtype)
           for k, v in loaded.signatures["serving_default"].structured_input_signature[1].items()})
    assert all(np.all(np.isfinite(v.numpy())) if v.dtype.is_floating else True
               for v in out.values())


@pytest.mark.parametrize("replicas", [1, 2])
def test_mixed_float16_trains_with_loss_scaling(replicas, tmp_path, cpu_strategy):
    trainer, metrics = _train("mocogan", tmp_path / "run", "mixed_float16",
                              strategy=cpu_strategy(replicas))
    assert trainer.current_step == 2 and _finite_losses(metrics), metrics
    scales = [precision.loss_scale_of(o) for o in trainer.task.optimizers().values()]
    assert scales and all(s is not None for s in scales)


def test_cpu_report_and_the_one_line_warning(monkeypatch, capsys):
    info = precision.cpu_info()
    assert set(info["instruction_sets"]) == {"AVX-512F", "AVX512_BF16", "AMX-BF16", "AMX-TILE"}
    monkeypatch.setattr(precision, "bf16_hardware", lambda: False)
    monkeypatch.setattr(precision, "_warned", set())
    assert precision.warn_if_emulated("mixed_bfloat16")
    assert not precision.warn_if_emulated("mixed_bfloat16")  # once
    assert not precision.warn_if_emulated("float32")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AVX512_BF16" in err


def test_loss_scale_unscales_and_skips_non_finite_steps():
    from tfvidgen.models import base
    w = tf.Variable([1.0, 2.0])
    optimizer = keras.optimizers.SGD(0.1)
    optimizer.build([w])
    scale = precision.attach_loss_scale(optimizer)
    assert precision.loss_scale_of(optimizer) is scale
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w)
    base.apply_gradients(optimizer, tape, loss, [w])
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-6)  # the unscaled step
    assert float(scale.scale) == 2.0 ** 15
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * w) * np.inf
    base.apply_gradients(optimizer, tape, loss, [w])
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-6)  # skipped
    assert float(scale.scale) == 2.0 ** 14
