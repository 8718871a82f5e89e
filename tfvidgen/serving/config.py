"""TF Serving's configuration files: ``models.config`` and batching parameters.

``models.config`` is a ``tensorflow.serving.ModelServerConfig`` in protobuf
text format (``tensorflow_model_server --model_config_file=...``)::

    model_config_list {
      config {
        name: "rjgan"
        base_path: "/models/rjgan"
        model_platform: "tensorflow"
        model_version_policy { latest { num_versions: 1 } }
        version_labels { key: "stable" value: 1500 }
      }
    }

The batching parameters file is a ``BatchingParameters`` message in text
format (``--batching_parameters_file``); its proto is not part of the
tensorflow-serving-api wheel, so the handful of fields are parsed here.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

ModelServerConfig = model_server_config_pb2.ModelServerConfig
ModelConfig = model_server_config_pb2.ModelConfig


def read_model_config(path: str) -> ModelServerConfig:
    """Parses a models.config file; errors name the file and the problem."""
    with open(path) as f:
        text = f.read()
    config = ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a ModelServerConfig in text format: {e}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{path}: needs a model_config_list (custom_model_config is not "
                         "supported)")
    names = [c.name for c in config.model_config_list.config]
    for c in config.model_config_list.config:
        if not c.name or not c.base_path:
            raise ValueError(f"{path}: every config needs a name and a base_path")
        if c.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{path}: model {c.name!r} has model_platform "
                             f"{c.model_platform!r}; only 'tensorflow' is served")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path}: model names appear twice: {', '.join(duplicates)}")
    return config


def single_model_config(name: str, base_path: str) -> ModelServerConfig:
    """What ``--model_name=... --model_base_path=...`` mean: one model, latest version."""
    config = ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=base_path,
                                        model_platform="tensorflow")
    return config


def parse_version_policy(text: str, model: Optional[ModelConfig] = None) -> ModelConfig:
    """``latest``, ``latest:N``, ``all`` or ``specific:V1,V2`` -> ModelConfig.model_version_policy."""
    model = model or ModelConfig()
    policy = model.model_version_policy
    kind, _, arg = text.partition(":")
    if kind == "latest":
        n = int(arg) if arg else 1
        if n < 1:
            raise ValueError(f"version policy {text!r}: latest needs N >= 1")
        policy.latest.num_versions = n
    elif kind == "all" and not arg:
        policy.all.SetInParent()
    elif kind == "specific" and arg:
        policy.specific.versions[:] = [int(v) for v in arg.split(",")]
    else:
        raise ValueError(f"version policy {text!r}: expected latest, latest:N, all or "
                         "specific:V1,V2")
    return model


def parse_labels(text: str) -> Dict[str, int]:
    """``stable=1500,canary=1600`` -> {'stable': 1500, 'canary': 1600}."""
    labels = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_\-]+", key) or not value.isdigit():
            raise ValueError(f"version label {item!r}: expected name=version, e.g. stable=1500")
        labels[key] = int(value)
    return labels


def update_model_config(path: str, name: str, base_path: str, version_policy: str = "",
                        labels: Optional[Dict[str, int]] = None) -> ModelServerConfig:
    """Adds or updates one model's entry of a models.config (created if missing).

    An existing entry keeps its version policy and labels unless new ones are
    given; other models' entries are kept as they are.
    """
    if os.path.exists(path):
        config = read_model_config(path)
    else:
        config = ModelServerConfig()
        config.model_config_list.SetInParent()
    entry = next((c for c in config.model_config_list.config if c.name == name), None)
    if entry is None:
        entry = config.model_config_list.config.add(name=name)
        if not version_policy:
            version_policy = "latest:1"
    entry.base_path = base_path
    entry.model_platform = "tensorflow"
    if version_policy:
        entry.ClearField("model_version_policy")
        parse_version_policy(version_policy, entry)
    if labels is not None:
        entry.ClearField("version_labels")
        for key, value in labels.items():
            entry.version_labels[key] = value
    write_model_config(path, config)
    return config


HEADER = """\
# TF Serving model config (tensorflow.serving.ModelServerConfig, text format).
# Written by `bin/export --models_config=...`; read by
#   tensorflow_model_server --model_config_file=THIS --model_config_file_poll_wait_seconds=60
#   bin/serve --model_config_file=THIS
# See docs/serving.md.
"""


def write_model_config(path: str, config: ModelServerConfig) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(HEADER + text_format.MessageToString(config))
    os.replace(tmp, path)  # a polling server never reads half a file


# Batching parameters ----------------------------------------------------------------
@dataclasses.dataclass
class BatchingParameters:
    """The fields of TF Serving's BatchingParameters that bin/serve reads.

    tfvidgen's signatures take scalar inputs (a request is one seed and a
    count), so there is nothing to merge across requests: the package server
    uses ``max_batch_size`` as the largest ``num_videos`` (or ``num_images``,
    ``steps``) a request may ask for, ``num_batch_threads`` as the number of
    model runs at once and ``max_enqueued_batches`` as the number of requests
    that may wait for one; ``batch_timeout_micros`` and
    ``allowed_batch_sizes`` are accepted and have no effect. See
    docs/serving.md ("Batching").
    """
    max_batch_size: int = 32
    batch_timeout_micros: int = 0
    num_batch_threads: int = 0
    max_enqueued_batches: int = 0
    allowed_batch_sizes: List[int] = dataclasses.field(default_factory=list)
    pad_variable_length_inputs: bool = False


_WRAPPED = re.compile(r"^\s*(\w+)\s*\{\s*value\s*:\s*([^\s}]+)\s*\}\s*$")
_PLAIN = re.compile(r"^\s*(\w+)\s*:\s*([^\s#]+)\s*$")


def read_batching_parameters(path: str) -> BatchingParameters:
    params = BatchingParameters()
    fields = {f.name: f for f in dataclasses.fields(BatchingParameters)}
    with open(path) as f:
        lines = f.read().splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        match = _WRAPPED.match(line) or _PLAIN.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: cannot parse {raw.strip()!r}")
        key, value = match.group(1), match.group(2)
        if key not in fields:
            continue  # TF Serving fields bin/serve does not use (thread_pool_name, ...)
        if key == "allowed_batch_sizes":
            params.allowed_batch_sizes.append(int(value))
        elif key == "pad_variable_length_inputs":
            params.pad_variable_length_inputs = value.lower() == "true"
        else:
            setattr(params, key, int(value))
    if params.max_batch_size < 1:
        raise ValueError(f"{path}: max_batch_size must be >= 1")
    return params
