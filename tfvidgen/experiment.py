"""Builds a run (task, data, trainer settings) from parsed flags.

Kept apart from the CLI so that tests and notebooks can build the same
objects from a flag dictionary.
"""
from __future__ import annotations

import dataclasses
import os

from tfvidgen import registry
from tfvidgen.data import pipeline, sampling
from tfvidgen.data.config import DataConfig
from tfvidgen.models.base import DataSpec, Task
from tfvidgen.models.config import GANConfig
from tfvidgen.train.loop import TrainConfig


def _load_registries():
    import tfvidgen.data.datasets  # noqa: F401  (registers every dataset)
    import tfvidgen.models  # noqa: F401  (registers every method)


def _lookup(reg, flag, name):
    try:
        return reg.get(name)
    except KeyError as e:
        raise ValueError(f"--{flag}: {e.args[0]}") from None


def _fields(cls, values: dict) -> dict:
    return {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}


def data_config(values: dict, data_dir=None) -> DataConfig:
    return DataConfig(data_dir=data_dir if data_dir is not None else values.get("data_dir"),
                      image_size=values["image_size"], split=values["split"],
                      seed=values["seed"], num_identities=values["synthetic_identities"],
                      num_takes=values["synthetic_takes"],
                      video_length=values["synthetic_video_length"])


def build_source(values: dict):
    _load_registries()
    return _lookup(registry.DATASETS, "dataset", values["dataset"])(data_config(values))


def build_training_data(values: dict) -> pipeline.TrainingData:
    source = build_source(values)
    image_source = None
    if values.get("image_dataset"):
        image_source = _lookup(registry.DATASETS, "image_dataset", values["image_dataset"])(
            data_config(values, values.get("image_data_dir")))
    return pipeline.split_sources(source, image_source=image_source,
                                  broken_fraction=values.get("broken_video_fraction", 0.0),
                                  seed=values["seed"])


def data_spec(data: pipeline.TrainingData, image_size: int) -> DataSpec:
    videos = data.videos
    lengths = videos.lengths() if videos is not None else []
    return DataSpec(image_size=image_size, channels=3,
                    class_names=tuple(data.sources[0].class_names),
                    length_probs=tuple(float(p) for p in sampling.length_probs(lengths)))


def build_task(values: dict, spec: DataSpec) -> Task:
    """The registered task ``--model``, with its config filled from the flags.

    A task class names its hyperparameter dataclass in ``config_class``
    (default ``GANConfig``); each field takes the flag of the same name, and
    fields without a flag keep their defaults.
    """
    _load_registries()
    factory = _lookup(registry.TASKS, "model", values["model"])
    config_class = getattr(factory, "config_class", GANConfig)
    config = config_class(**_fields(config_class, {
        **values, "init_image_generator": values.get("init_image_generator") or ""}))
    if not isinstance(config, GANConfig):
        return factory(config, spec)
    if config.num_categories and spec.num_classes and config.num_categories != spec.num_classes:
        raise ValueError(f"--num_categories={config.num_categories} but the dataset has "
                         f"{spec.num_classes} classes ({', '.join(spec.class_names)}).")
    return factory(config, spec)


def train_config(values: dict) -> TrainConfig:
    if not values.get("model_dir"):
        raise ValueError("--model_dir is required: the run directory (new or to resume).")
    return TrainConfig(**_fields(TrainConfig, values))


def flag_values(flags_obj) -> dict:
    """Parsed absl flags -> plain dict of every flag's value."""
    return {name: flags_obj[name].value for name in flags_obj}


def flags_file(model_dir: str) -> str:
    return os.path.join(model_dir, "flags.txt")
