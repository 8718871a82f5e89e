"""Tiny experiments shared by the model, trainer and export tests."""
import dataclasses
import os
import subprocess
import sys

import keras
import numpy as np

from conftest import make_videos
from tfvidgen import registry
from tfvidgen.data import pipeline, sampling
from tfvidgen.data.sources import ArraySource
from tfvidgen.models.base import DataSpec
from tfvidgen.models.config import GANConfig
from tfvidgen.train.loop import TrainConfig, Trainer
import tfvidgen.models  # noqa: F401

SIZE = 16


def tiny_config(**overrides) -> GANConfig:
    values = dict(ngf=4, ndf=4, content_dim=6, motion_dim=3, latent_dim=8, noise_dim=3,
                  residual_hidden=8, clip_length=10, batch_size=2, image_batch_size=4)
    values.update(overrides)
    return GANConfig(**values)


def tiny_data(num_videos=6, frames=12):
    videos, labels = make_videos(num_videos, frames, SIZE)
    source = ArraySource(videos, labels, class_names=("a", "b", "c"))
    return pipeline.split_sources(source, seed=0)


def tiny_task(name, data=None, **overrides):
    data = data or tiny_data()
    config = tiny_config(**overrides)
    if name == "image_gan":
        config = dataclasses.replace(config, batch_size=config.image_batch_size)
    spec = DataSpec(image_size=SIZE, class_names=("a", "b", "c"),
                    length_probs=tuple(sampling.length_probs(data.videos.lengths())))
    return registry.TASKS.get(name)(config, spec), data


def tiny_trainer(name, model_dir, strategy, max_steps=3, seed=0, **overrides):
    task, data = tiny_task(name, **overrides)
    config = TrainConfig(model_dir=str(model_dir), max_steps=max_steps,
                         batch_size=task.config.batch_size, seed=seed, summary_every=1,
                         sample_every=2, checkpoint_every=100, num_samples=2)
    return Trainer(task, data, config, strategy)


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def square_digits(size, count=10, margin=2, base=25, step=20):
    """SM-MNIST digits that never need fonts: solid squares, digit k of intensity
    base + step * k (labels k % 10)."""
    from tfvidgen.data import moving_mnist
    images = np.zeros([count, size, size], np.uint8)
    for k in range(count):
        images[k, margin:-margin, margin:-margin] = base + step * k
    return moving_mnist.Digits(images, np.arange(count) % 10, size, "squares")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# bin/train flags of a tiny GAN run on the built-in dataset (seconds on a CPU).
TINY_GAN_FLAGS = ["--dataset=synthetic_expressions", "--synthetic_identities=2",
                  "--synthetic_takes=1", "--synthetic_video_length=12", "--image_size=16",
                  "--clip_length=10", "--ngf=4", "--ndf=4", "--batch_size=2",
                  "--image_batch_size=4", "--summary_every=1", "--sample_every=2",
                  "--checkpoint_every=100", "--num_samples=2", "--content_dim=4",
                  "--motion_dim=2", "--latent_dim=6", "--noise_dim=2"]


def run_bin(tool, *args, check=True):
    """Runs bin/<tool> in a subprocess from the source tree; raises with its stderr
    when ``check`` and it fails."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", tool), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def train_run(args, model_dir, strategy=None):
    """A bin/train run directory made in process: ``args`` (bin/train's flags and
    settings) resolved as bin/train resolves them, trained to --max_steps, its
    flags.txt written. Leaves the global flags at their defaults. Returns the
    trained task."""
    import tensorflow as tf

    from tfvidgen import experiment
    from tfvidgen.train.checkpoints import atomic_write
    try:
        values, config = experiment.parse_command([*args, f"--model_dir={model_dir}"])
    finally:
        experiment.parse_command([])
    data = experiment.build_training_data(values)
    task = experiment.build_task(values, experiment.data_spec(data, values["image_size"]),
                                 config)
    trainer = Trainer(task, data, experiment.train_config(values, config),
                      strategy or tf.distribute.get_strategy())
    trainer.train()
    atomic_write(experiment.flags_file(str(model_dir)), experiment.run_file_text(values, config))
    return task


def run_python(*args):
    """Runs ``python <args>`` from the source tree in a subprocess (fresh flags and
    registries); raises with its stderr when it fails."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
