"""Builds a run (settings, task, data, trainer settings) from flags and a run directory.

A run's values are one flat dict: the run-level flags (``tfvidgen.flags``)
and the method's settings (``Task.config_class``, ``tfvidgen.settings``).
They come from the command line (flags and flagfiles: ``resolve``), or from
a run directory's resolved ``flags.txt`` (``read_run``), which a resumed run
and every tool that loads a run (export, evaluate, benchmarks of a run)
use; ``check_resume`` refuses a resume that would change what the run is.

Kept apart from the CLI so that tests and notebooks can build the same
objects from a dict.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
from typing import Iterable, List, Optional, Tuple

from tfvidgen import registry
from tfvidgen.data import pipeline, sampling
from tfvidgen.data.config import DataConfig
from tfvidgen.models.base import DataSpec, Task
from tfvidgen.settings import ConfigError, Settings
from tfvidgen.train.loop import TrainConfig

FLAGS_FILE = "flags.txt"


def _load_registries():
    import tfvidgen.data.datasets  # noqa: F401  (registers every dataset)
    import tfvidgen.models  # noqa: F401  (registers every method)


def import_user_modules(names: Iterable[str]) -> None:
    """Imports ``--user_module`` values: dotted module names or paths to .py files.

    Their ``registry.register_task`` / ``register_dataset`` decorators add
    methods and datasets without any edit to tfvidgen (fairseq's --user-dir).
    """
    for name in names or ():
        try:
            if name.endswith(".py") or os.sep in name:
                path = os.path.abspath(name)
                module_name = os.path.splitext(os.path.basename(path))[0]
                if module_name in sys.modules:
                    continue
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or not os.path.exists(path):
                    raise ImportError(f"no such file {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except ImportError as e:
            raise ValueError(f"--user_module={name}: {e}") from None


def _lookup(reg, flag, name):
    try:
        return reg.get(name)
    except KeyError as e:
        raise ValueError(f"--{flag}: {e.args[0]}") from None


def task_class(model: str):
    """The registered Task factory of ``--model``."""
    _load_registries()
    factory = _lookup(registry.TASKS, "model", model)
    if not (isinstance(getattr(factory, "config_class", None), type)
            and issubclass(factory.config_class, Settings)):
        raise ValueError(f"--model={model}: its Task names no config_class (a "
                         "tfvidgen.settings.Settings dataclass)")
    return factory


def config_class(model: str):
    return task_class(model).config_class


def settings_help(model: str) -> str:
    """``--helpfull`` text of a model's settings."""
    cls = config_class(model)
    return cls.help_text(f"Settings of --model={model} ({cls.__module__}.{cls.__name__}); "
                         "give them as --name=value:")


# Values -------------------------------------------------------------------------------
def run_flag_values(flags_obj, present_only: bool = False) -> dict:
    """The run-level flags' values (only those given when ``present_only``)."""
    from tfvidgen import flags as tfv_flags
    return {name: flags_obj[name].value for name in tfv_flags.run_flag_names(flags_obj)
            if not present_only or flags_obj[name].present}


def resolve(flags_obj, setting_args: List[str],
            use_run: bool = True) -> Tuple[dict, Settings, Optional[dict]]:
    """The values of a command: flags, settings and, for a run directory, its saved ones.

    Args:
      flags_obj: parsed absl flags (``--flagfile`` expanded; parsed with
        ``known_only`` so that method settings are left in ``setting_args``).
      setting_args: the ``--name=value`` arguments absl did not know.
      use_run: start from the saved values of an existing ``--model_dir``.
    Returns:
      (values, config, saved): ``values`` holds every run-level flag and
      every field of ``config`` (the resolved settings); ``saved`` is the
      run directory's own values when ``--model_dir`` names an existing
      run (its flags.txt), else None. Values given on this command line
      (or in a flagfile) override the run's; nothing else does.
    """
    model_dir = flags_obj["model_dir"].value if "model_dir" in flags_obj else None
    saved = read_run(model_dir) if use_run and model_dir and has_run(model_dir) else None
    if saved is None:
        values = run_flag_values(flags_obj)
        base_settings = {}
    else:
        values = {**saved, **run_flag_values(flags_obj, present_only=True)}
        base_settings = saved
    import_user_modules(values.get("user_module"))
    cls = config_class(values["model"])
    given = cls.parse_args(setting_args, known=list(flags_obj), method=values["model"])
    config = cls.from_values({**{k: v for k, v in base_settings.items() if k in cls.fields()},
                              **given})
    values.update(dataclasses.asdict(config))
    return values, config, saved


def parse_command(argv, flags_obj=None) -> Tuple[dict, Settings]:
    """``argv`` (flags, flagfiles and settings, as bin/train takes them) ->
    (values, config), exactly as bin/train resolves them. Resets ``flags_obj``
    (default: the global FLAGS) first; for tests and notebooks."""
    from tfvidgen import flags as tfv_flags
    fv = flags_obj if flags_obj is not None else tfv_flags.FLAGS
    fv.unparse_flags()
    rest = fv(["prog", *argv], known_only=True)
    values, config, _ = resolve(fv, rest[1:], use_run=False)
    return values, config


def run_values(flags_obj) -> dict:
    """The values of a tool that reads a run (export, evaluate): the run's saved
    values, with the run-level flags given to this command on top."""
    model_dir = flags_obj["model_dir"].value
    if not model_dir or not has_run(model_dir):
        return run_flag_values(flags_obj)
    return {**read_run(model_dir), **run_flag_values(flags_obj, present_only=True)}


def has_run(model_dir: str) -> bool:
    return os.path.exists(flags_file(model_dir))


def has_checkpoint(model_dir: str) -> bool:
    import tensorflow as tf
    return bool(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")))


def flags_file(model_dir: str) -> str:
    return os.path.join(model_dir, FLAGS_FILE)


def run_file_text(values: dict, config: Settings) -> str:
    """A run's resolved ``flags.txt``: run-level flags, then every setting."""
    from tfvidgen import flags as tfv_flags
    lines = ["# The resolved settings of this run (written by bin/train). A resume reads",
             "# them; a command may change only the run-level flags listed as mutable in",
             "# tfvidgen/flags.py (max_steps, cadences, export and data paths, ...).",
             *tfv_flags.serialize_values(values),
             f"# settings of --model={values['model']} "
             f"({type(config).__module__}.{type(config).__name__})",
             *config.to_args()]
    return "\n".join(lines) + "\n"


def read_run(model_dir: str) -> dict:
    """A run directory's values: its flags.txt, run-level flags and settings.

    Leaves the global FLAGS untouched (for reading other runs, e.g. the two
    models of a 2AFC kit). Settings of runs written before per-method
    settings (every method's flags in one file) are read leniently: names
    the method does not have are ignored.
    """
    from tfvidgen import flags as tfv_flags
    fv = tfv_flags.FLAGS
    run_names = set(tfv_flags.run_flag_names())
    path = flags_file(model_dir)
    try:
        with open(path) as f:
            lines = [line.strip() for line in f]
    except OSError as e:
        raise FileNotFoundError(f"{model_dir} has no readable {FLAGS_FILE} ({e.strerror}): "
                                "is it a bin/train run directory?") from None
    values = {name: fv[name].default for name in run_names}
    values["user_module"] = []
    setting_args = []
    for line in lines:
        if not line.startswith("--"):
            continue
        body = line[2:]
        name, has_value, raw = body.partition("=")
        bare = name[2:] if name.startswith("no") and not has_value else None
        if name in run_names:
            if not has_value:
                values[name] = True
            elif name == "user_module":
                values[name].append(raw)
            else:
                try:
                    values[name] = fv[name].parser.parse(raw) if raw != "" else None
                except ValueError as e:
                    raise ValueError(f"{path}: --{name}={raw}: {e}") from None
        elif bare in run_names:
            values[bare] = False
        else:
            setting_args.append(line)
    import_user_modules(values["user_module"])
    cls = config_class(values["model"])
    known = []
    for arg in setting_args:
        name = arg[2:].split("=", 1)[0]
        if name in cls.fields() or (name.startswith("no") and name[2:] in cls.fields()):
            known.append(arg)
    try:
        given = cls.parse_args(known, method=values["model"])
        config = cls.from_values(given)
    except ConfigError as e:
        raise ValueError(f"{path}: {e}") from None
    values.update(dataclasses.asdict(config))
    return values


def check_resume(saved: dict, values: dict) -> None:
    """Refuses a command that would change a fixed setting of an existing run.

    Every run-level flag outside ``tfvidgen.flags.MUTABLE`` and every setting
    not declared ``mutable`` must equal the run's; the error names each
    (old and new value) and what to do instead.
    """
    from tfvidgen import flags as tfv_flags
    cls = config_class(saved["model"])
    changed = []
    if values["model"] != saved["model"]:
        changed.append(("model", saved["model"], values["model"]))
    else:
        for name, f in cls.fields().items():
            if not f.metadata.get("mutable") and values.get(name) != saved.get(name):
                changed.append((name, saved.get(name), values.get(name)))
    for name in tfv_flags.run_flag_names():
        if name in tfv_flags.MUTABLE or name == "model":
            continue
        if values.get(name) != saved.get(name):
            changed.append((name, saved.get(name), values.get(name)))
    if changed:
        listing = "; ".join(f"--{n}: the run has {a!r}, this command gives {b!r}"
                            for n, a, b in changed)
        raise ValueError(f"{values['model_dir']} is an existing run and this command changes "
                         f"what it is ({listing}). Resume it without these settings, or train "
                         "into a new --model_dir.")


# Building ------------------------------------------------------------------------------
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


def make_config(values: dict) -> Settings:
    """The method's config from ``values`` (fields absent from it keep their defaults)."""
    import_user_modules(values.get("user_module"))
    return config_class(values["model"]).from_values(values)


def build_task(values: dict, spec: DataSpec, config: Optional[Settings] = None) -> Task:
    """The registered task ``values["model"]`` with its settings (``config`` or from
    ``values``: fields not in it keep the paper's defaults)."""
    from tfvidgen import precision
    import_user_modules(values.get("user_module"))
    factory = task_class(values["model"])
    name = values.get("precision") or precision.DEFAULT
    with precision.policy(name):  # --precision: the networks' Keras dtype policy
        task = factory(config if config is not None else make_config(values), spec)
    precision.bind(task, name)  # Task.build runs under it too
    return task


def train_config(values: dict, config: Settings) -> TrainConfig:
    if not values.get("model_dir"):
        raise ValueError("--model_dir is required: the run directory (new or to resume).")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train_values = {k: v for k, v in values.items() if k in fields}
    train_values["batch_size"] = config.batch_size
    return TrainConfig(**train_values)


def flag_values(flags_obj) -> dict:
    """Parsed absl flags -> plain dict of every flag's value."""
    return {name: flags_obj[name].value for name in flags_obj}
