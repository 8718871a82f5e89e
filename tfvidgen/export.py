"""SavedModel exports in TF Serving's layout: <export_dir>/<model_name>/<version>/.

The signatures come from the Task (``serving_signatures``): every model has
``serving_default`` (seed int64, num_videos int32, optional num_frames
int32 -> ``video`` uint8 [N, T, H, W, 3]), ``sample_frames`` (num_frames
required) and ``sample_images``; video GANs add ``sample_with_content`` and
``sample_with_motion``; RJGAN adds ``summary_frame`` and ``interpolate``.
Same seed, same output. docs/serving.md lists every signature.

``num_frames`` is optional through ``SignatureDef.defaults``: the Task's
tf.function has a tensor default, which ``tf.saved_model.save`` records
when it is given the tf.function itself (not a concrete function).

Each export carries ``assets.extra/tf_serving_warmup_requests``: Predict
requests (a TFRecord of PredictionLog) that TF Serving, and bin/serve,
replay when they load the version, so that the first real request does not
pay for graph optimisation and kernel set-up.

A task with a moving average of its generator's weights (``ema_decay``)
is saved with the averaged weights (``Task.sampling_weights``).

An export is written to a hidden temporary folder and renamed into place,
because TF Serving loads any new numeric version folder it sees and must
never see a half-written one.
"""
from __future__ import annotations

import os
import shutil
from typing import List, Sequence

import tensorflow as tf

from tfvidgen.models.base import Task

DEFAULT_WARMUP_BATCH_SIZES = (1, 8)
COUNT_INPUTS = ("num_videos", "num_images")  # how many items a request asks for


class ExportModule(tf.Module):
    """Root object of the SavedModel: the networks, and the signatures as methods.

    The signature tf.functions are also attributes, so that in Python
    ``tf.saved_model.load(path).serving_default(seed=7, num_videos=4)`` works
    with the defaults (``loaded.signatures[...]`` wants every input).
    """

    def __init__(self, task: Task, functions=None):
        super().__init__(name="tfvidgen_export")
        self.networks = dict(task.exported_networks())
        for name, fn in (functions or {}).items():
            setattr(self, name, fn)


def export(task: Task, export_dir: str, model_name: str, version: int,
           warmup_batch_sizes: Sequence[int] = DEFAULT_WARMUP_BATCH_SIZES) -> str:
    """Writes the SavedModel (with warm-up requests) and returns its version folder.

    Args:
      warmup_batch_sizes: ``num_videos`` of the ``serving_default`` warm-up
        requests (every other signature is warmed up once with 1 item);
        empty for no warm-up file.
    """
    from tfvidgen.serving import savedmodel

    if version < 0:
        raise ValueError("export version must be >= 0")
    base = os.path.join(export_dir, model_name)
    final = os.path.join(base, str(int(version)))
    if tf.io.gfile.exists(final):
        raise FileExistsError(f"{final} exists: pass another --export_version or remove it.")
    os.makedirs(base, exist_ok=True)
    tmp = os.path.join(base, f".tmp-{int(version)}-{os.getpid()}")
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    # The tf.functions themselves, so that tensor defaults reach SignatureDef.defaults.
    signatures = dict(task.serving_signatures())
    module = ExportModule(task, signatures)
    try:
        # Under the averaged generator weights when the task keeps them (ema_decay).
        with task.sampling_weights():
            tf.saved_model.save(module, tmp, signatures=signatures)
        if warmup_batch_sizes:
            requests = warmup_requests(savedmodel.signature_defs(tmp), model_name, task,
                                       warmup_batch_sizes)
            if requests:
                savedmodel.write_warmup(tmp, requests)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return final


def warmup_requests(sigs, model_name: str, task: Task,
                    batch_sizes: Sequence[int] = DEFAULT_WARMUP_BATCH_SIZES) -> List:
    """One Predict request per signature, and ``serving_default`` at each batch size.

    Inputs are filled by name and dtype: int64 inputs are seeds (0, 1, ...),
    ``num_frames`` is left to its default (or the model's clip length when it
    has none), ``steps`` is 2, other int32 inputs are counts. A signature
    with a required input that is not an integer scalar (e.g. conditioning
    frames) gets no warm-up request: TF Serving refuses to load a version
    whose warm-up fails, so nothing is guessed.
    """
    from tfvidgen.serving import savedmodel

    requests = []
    for name in sorted(sigs):
        sig = sigs[name]
        required = [k for k in sorted(sig.inputs) if k not in sig.defaults]
        if any(sig.inputs[k].tensor_shape.unknown_rank or sig.inputs[k].tensor_shape.dim
               or not tf.dtypes.as_dtype(sig.inputs[k].dtype).is_integer for k in required):
            continue
        sizes = batch_sizes if name == savedmodel.DEFAULT_SIGNATURE else batch_sizes[:1]
        for n in sizes:
            inputs, seed = {}, 0
            for key in required:
                if tf.dtypes.as_dtype(sig.inputs[key].dtype) == tf.int64:
                    inputs[key], seed = seed, seed + 1
                elif key == "num_frames":
                    inputs[key] = task.default_num_frames
                elif key == "steps":
                    inputs[key] = 2
                else:
                    inputs[key] = n
            requests.append(savedmodel.predict_request(model_name, name, inputs, sig))
    return requests


def describe(path: str) -> str:
    """Signature names, inputs and outputs of a SavedModel (what saved_model_cli shows).

    Read from ``saved_model.pb``: dtype, shape ([?, ...] for dynamic
    dimensions) and tensor name of every input and output, which inputs are
    optional (``SignatureDef.defaults``) and the warm-up record count.
    """
    from tfvidgen.serving import savedmodel

    lines = savedmodel.describe_signatures(savedmodel.signature_defs(path))
    warmup = savedmodel.read_warmup(path)
    lines.append(f"warm-up requests: {len(warmup)} ({savedmodel.WARMUP_FILE})" if warmup
                 else "warm-up requests: none")
    return "\n".join(lines)


def exported_models(export_dir: str) -> dict:
    """{model_name: sorted versions} of the TF Serving layout under export_dir."""
    models = {}
    if not os.path.isdir(export_dir):
        return models
    for name in sorted(os.listdir(export_dir)):
        folder = os.path.join(export_dir, name)
        if not os.path.isdir(folder) or name.startswith("."):
            continue
        versions = sorted(int(v) for v in os.listdir(folder)
                          if v.isdigit() and os.path.exists(os.path.join(folder, v,
                                                                         "saved_model.pb")))
        if versions:
            models[name] = versions
    return models
