"""SavedModel exports in TF Serving's layout: <export_dir>/<model_name>/<version>/.

The signatures come from the Task (``serving_signatures``): every model has
``serving_default`` (seed int64, num_videos int32 -> ``video`` uint8
[N, T, H, W, 3]) and ``sample_frames`` (adds num_frames); video GANs add
``sample_images``, ``sample_with_content`` and ``sample_with_motion``;
RJGAN adds ``summary_frame`` and ``interpolate``. Same seed, same output.

An export is written to a hidden temporary folder and renamed into place,
because TF Serving loads any new numeric version folder it sees and must
never see a half-written one.
"""
from __future__ import annotations

import os
import shutil

import tensorflow as tf

from tfvidgen.models.base import Task


class ExportModule(tf.Module):
    """Root object of the SavedModel: tracks the networks the signatures use."""

    def __init__(self, task: Task):
        super().__init__(name="tfvidgen_export")
        self.networks = dict(task.exported_networks())


def export(task: Task, export_dir: str, model_name: str, version: int) -> str:
    """Writes the SavedModel and returns its version folder."""
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
    module = ExportModule(task)
    signatures = {name: fn.get_concrete_function()
                  for name, fn in task.serving_signatures().items()}
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return final


def describe(path: str) -> str:
    """Signature names, inputs and outputs of a SavedModel (as saved_model_cli shows)."""
    loaded = tf.saved_model.load(path)
    lines = []
    for name, fn in sorted(loaded.signatures.items()):
        lines.append(f"signature {name}:")
        args = fn.structured_input_signature[1]
        for key, spec in sorted(args.items()):
            lines.append(f"  input  {key}: {spec.dtype.name} {spec.shape}")
        for key, spec in sorted(fn.structured_outputs.items()):
            lines.append(f"  output {key}: {spec.dtype.name} {spec.shape}")
    return "\n".join(lines)
