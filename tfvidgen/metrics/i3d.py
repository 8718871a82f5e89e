"""I3D (Inception-v1 inflated to 3D, Kinetics-400) as a Keras model, for FVD.

The network is DeepMind's ``InceptionI3d`` (Carreira & Zisserman 2017,
github.com/deepmind/kinetics-i3d ``i3d.py``), RGB stream, laid out as the
``deepmind/i3d-kinetics-400`` TF Hub module that the public FVD code
(Unterthiner et al. 2018, google-research/frechet_video_distance) loads:

    Conv3d_1a_7x7 (64, stride 2) - MaxPool3d_2a_3x3 (1x3x3, stride 1x2x2)
    - Conv3d_2b_1x1 (64) - Conv3d_2c_3x3 (192) - MaxPool3d_3a_3x3
    - Mixed_3b, Mixed_3c - MaxPool3d_4a_3x3 (3x3x3, stride 2)
    - Mixed_4b .. Mixed_4f - MaxPool3d_5a_2x2 (stride 2) - Mixed_5b, Mixed_5c
    - Logits: AvgPool 2x7x7 (valid), Conv3d_0c_1x1 (400, with bias),
      mean over time.

Every unit is Conv3D (SAME padding, no bias) + BatchNorm without scale
(Sonnet's default: offset ``beta`` only, epsilon 1e-3) + ReLU; Mixed blocks
have four branches (1x1; 1x1-3x3; 1x1-3x3; 3x3x3 max-pool-1x1) concatenated.
The final average pool's window is clipped to the feature map, which is the
reference 2x7x7 window for 224x224 frames and 16 frames, and a global
average for the small inputs of tests.

Preprocessing follows the FVD reference: uint8 frames resized to 224x224
with TF1's ``resize_bilinear`` (``align_corners=False``,
``half_pixel_centers=False``) and scaled to [-1, 1]. FVD uses the 400
Kinetics logits as features (``activations`` of the ``i3d`` extractor);
``i3d-pool`` gives the 1024-d average-pooled Mixed_5c features instead.

Weights: ``load_i3d(path)`` takes a local copy of the TF Hub module (a
folder holding ``saved_model.pb`` and ``variables/``) and maps its
variables by name onto the Keras model (``convert_hub_variables``), then
writes a ``.weights.h5`` (in ``cache_dir()``) that later calls load
directly; or it takes such a ``.weights.h5`` itself.
"""
from __future__ import annotations

import hashlib
import logging
import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfvidgen.metrics.extractors import (Extractor, WeightsMissingError, cache_dir,
                                         register_extractor)

NUM_CLASSES = 400
IMAGE_SIZE = 224
HUB_HANDLE = "deepmind/i3d-kinetics-400"
DOWNLOAD_HELP = (
    "Download the deepmind/i3d-kinetics-400 TF Hub model (TF1 Hub format, version 1): "
    "https://www.kaggle.com/models/deepmind/i3d-kinetics/tensorFlow1/400/1 "
    "(formerly https://tfhub.dev/deepmind/i3d-kinetics-400/1; the compressed archive is "
    "https://tfhub.dev/deepmind/i3d-kinetics-400/1?tf-hub-format=compressed), extract it "
    "(e.g. mkdir i3d-kinetics-400_1 && tar -xzf 1.tar.gz -C i3d-kinetics-400_1) and pass "
    "--i3d_path=/path/to/i3d-kinetics-400_1 (the folder holding saved_model.pb and "
    "variables/), or a .weights.h5 that tfvidgen wrote after converting it once.")

# (name, branch_0, branch_1 (1x1, 3x3), branch_2 (1x1, 3x3), branch_3)
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# (endpoint, kind, arguments) in order; "pool": (window, strides).
LAYOUT = (
    ("Conv3d_1a_7x7", "unit", (64, 7, 2)),
    ("MaxPool3d_2a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", "unit", (64, 1, 1)),
    ("Conv3d_2c_3x3", "unit", (192, 3, 1)),
    ("MaxPool3d_3a_3x3", "pool", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", "mixed", None),
    ("Mixed_3c", "mixed", None),
    ("MaxPool3d_4a_3x3", "pool", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", "mixed", None),
    ("Mixed_4c", "mixed", None),
    ("Mixed_4d", "mixed", None),
    ("Mixed_4e", "mixed", None),
    ("Mixed_4f", "mixed", None),
    ("MaxPool3d_5a_2x2", "pool", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", "mixed", None),
    ("Mixed_5c", "mixed", None),
)
LOGITS_SCOPE = "Logits/Conv3d_0c_1x1"
FEATURE_DIM = 1024


def _layer_name(scope: str) -> str:
    return scope.replace("/", "__")


class Unit3D(layers.Layer):
    """Conv3D (SAME) + BatchNorm (offset only, eps 1e-3) + ReLU, as Sonnet's Unit3D."""

    def __init__(self, filters, kernel_size=1, strides=1, use_batch_norm=True, use_bias=False,
                 activation=True, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv3D(filters, kernel_size, strides=strides, padding="same",
                                  use_bias=use_bias, name="conv_3d")
        self.bn = (layers.BatchNormalization(scale=False, center=True, epsilon=1e-3,
                                             momentum=0.999, name="batch_norm")
                   if use_batch_norm else None)
        self.activation = activation

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.bn is not None:
            self.bn.build(self.conv.compute_output_shape(input_shape))
        self.built = True

    def call(self, x, training=False):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        return tf.nn.relu(x) if self.activation else x

    def named_weights(self, scope: str) -> dict:
        """TF Hub variable name (without the module prefix) -> Keras variable."""
        out = {f"{scope}/conv_3d/w": self.conv.kernel}
        if self.conv.use_bias:
            out[f"{scope}/conv_3d/b"] = self.conv.bias
        if self.bn is not None:
            out[f"{scope}/batch_norm/beta"] = self.bn.beta
            out[f"{scope}/batch_norm/moving_mean"] = self.bn.moving_mean
            out[f"{scope}/batch_norm/moving_variance"] = self.bn.moving_variance
        return out


def _mixed_units(name):
    b0, b1a, b1b, b2a, b2b, b3 = MIXED[name]
    # The reference names Mixed_5b's second branch-2 unit Conv3d_0a_3x3 (sic).
    b2b_name = "Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"
    return [(f"{name}/Branch_0/Conv3d_0a_1x1", b0, 1),
            (f"{name}/Branch_1/Conv3d_0a_1x1", b1a, 1),
            (f"{name}/Branch_1/Conv3d_0b_3x3", b1b, 3),
            (f"{name}/Branch_2/Conv3d_0a_1x1", b2a, 1),
            (f"{name}/Branch_2/{b2b_name}", b2b, 3),
            (f"{name}/Branch_3/Conv3d_0b_1x1", b3, 1)]


class InceptionI3d(keras.Model):
    """RGB I3D: float clips [N, T, H, W, 3] in [-1, 1] -> (features [N, 1024], logits [N, C]).

    ``features`` is Mixed_5c average-pooled as the logits layer sees it
    (final window, then mean over the remaining positions); ``logits`` the
    time-averaged Kinetics logits, as the reference.
    """

    def __init__(self, num_classes=NUM_CLASSES, name="inception_i3d", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.scopes = []
        for endpoint, kind, args in LAYOUT:
            if kind == "unit":
                filters, k, s = args
                self._add_unit(endpoint, Unit3D(filters, k, s, name=_layer_name(endpoint)))
            elif kind == "mixed":
                for scope, filters, k in _mixed_units(endpoint):
                    self._add_unit(scope, Unit3D(filters, k, name=_layer_name(scope)))
        self._add_unit(LOGITS_SCOPE, Unit3D(num_classes, 1, use_batch_norm=False, use_bias=True,
                                            activation=False, name=_layer_name(LOGITS_SCOPE)))

    def _add_unit(self, scope, unit):
        setattr(self, _layer_name(scope), unit)
        self.scopes.append(scope)

    def unit(self, scope) -> Unit3D:
        return getattr(self, _layer_name(scope))

    def call(self, x, training=False):
        for endpoint, kind, args in LAYOUT:
            if kind == "unit":
                x = self.unit(endpoint)(x, training=training)
            elif kind == "pool":
                window, strides = args
                x = tf.nn.max_pool3d(x, [1, *window, 1], [1, *strides, 1], "SAME")
            else:
                units = [self.unit(scope) for scope, _, _ in _mixed_units(endpoint)]
                b0 = units[0](x, training=training)
                b1 = units[2](units[1](x, training=training), training=training)
                b2 = units[4](units[3](x, training=training), training=training)
                b3 = units[5](tf.nn.max_pool3d(x, [1, 3, 3, 3, 1], [1, 1, 1, 1, 1], "SAME"),
                              training=training)
                x = tf.concat([b0, b1, b2, b3], axis=4)
        # Logits: 2x7x7 valid average pool (clipped to the map), 1x1x1 conv, mean.
        t, h, w = x.shape[1], x.shape[2], x.shape[3]
        window = [1, min(2, t), min(7, h), min(7, w), 1]
        pooled = tf.nn.avg_pool3d(x, window, [1, 1, 1, 1, 1], "VALID")
        logits = self.unit(LOGITS_SCOPE)(pooled, training=training)
        return tf.reduce_mean(pooled, axis=[1, 2, 3]), tf.reduce_mean(logits, axis=[1, 2, 3])

    def named_weights(self) -> dict:
        """Every weight by its TF Hub variable name (without the module prefix)."""
        out = {}
        for scope in self.scopes:
            out.update(self.unit(scope).named_weights(scope))
        return out


def build_i3d(num_classes=NUM_CLASSES, input_shape=(16, IMAGE_SIZE, IMAGE_SIZE, 3)):
    """An InceptionI3d with its variables created (random weights)."""
    model = InceptionI3d(num_classes)
    model(tf.zeros([1, *input_shape]), training=False)
    return model


def preprocess(videos, image_size=IMAGE_SIZE):
    """uint8 [N, T, H, W, 3] -> float32 [N, T, S, S, 3] in [-1, 1], as the FVD reference.

    Frames are resized with TF1's bilinear resize (no half-pixel centres),
    then scaled by 2 / 255 - 1.
    """
    videos = tf.convert_to_tensor(videos)
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0))
    frames = tf.cast(frames, tf.float32)
    if frames.shape[1] != image_size or frames.shape[2] != image_size:
        frames = tf.raw_ops.ResizeBilinear(images=frames, size=[image_size, image_size],
                                           align_corners=False, half_pixel_centers=False)
    frames = 2.0 * frames / 255.0 - 1.0
    return tf.reshape(frames, tf.concat([shape[:2], [image_size, image_size, 3]], axis=0))


# Weights ----------------------------------------------------------------------------
def read_saved_model_variables(path: str) -> dict:
    """Variable name -> value of a SavedModel / TF1 Hub module folder.

    TF1 SavedModels and Hub modules store a name-keyed checkpoint under
    ``variables/``; TF2 SavedModels are loaded and their variables named.
    """
    prefix = os.path.join(path, "variables", "variables")
    if not tf.io.gfile.exists(prefix + ".index"):
        raise WeightsMissingError(f"No variables/variables.index under {path!r}. "
                                  + DOWNLOAD_HELP)
    reader = tf.train.load_checkpoint(prefix)
    names = list(reader.get_variable_to_shape_map())
    if any(n.endswith("conv_3d/w") for n in names):
        return {n: reader.get_tensor(n) for n in names}
    loaded = tf.saved_model.load(path)
    return {v.name.split(":")[0]: v.numpy() for v in loaded.variables}


def _module_prefix(names) -> str:
    """The scope in front of ``Conv3d_1a_7x7`` (e.g. "RGB/inception_i3d/")."""
    anchor = "Conv3d_1a_7x7/conv_3d/w"
    prefixes = sorted(n[:-len(anchor)] for n in names if n.endswith(anchor))
    if not prefixes:
        raise ValueError(f"no variable ending in {anchor!r}: not an I3D SavedModel")
    rgb = [p for p in prefixes if "RGB" in p]
    return (rgb or prefixes)[0]


def convert_hub_variables(model: InceptionI3d, variables: dict) -> int:
    """Assigns TF Hub I3D variables (name -> array) to ``model``'s weights.

    Names are matched after the module's prefix; Sonnet's [1, 1, 1, 1, C]
    batch-norm vectors are flattened. Returns the number assigned.

    Raises:
      ValueError: a weight is missing or has the wrong shape (all listed).
    """
    prefix = _module_prefix(variables)
    problems, assignments = [], []
    for name, weight in model.named_weights().items():
        key = prefix + name
        if key not in variables:
            problems.append(f"missing {key}")
            continue
        value = np.asarray(variables[key])
        target = tuple(weight.shape)
        if value.shape != target:
            if value.size == int(np.prod(target)) and "batch_norm" in name:
                value = value.reshape(target)
            else:
                problems.append(f"{key}: shape {value.shape}, expected {target}")
                continue
        assignments.append((weight, value))
    if problems:
        raise ValueError("The SavedModel does not match I3D's layout:\n  " +
                         "\n  ".join(problems[:20]) +
                         (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))
    for weight, value in assignments:
        weight.assign(value.astype(np.float32))
    return len(assignments)


def converted_weights_path(saved_model_dir: str) -> str:
    """Where the .weights.h5 converted from ``saved_model_dir`` is cached."""
    key = hashlib.sha1(os.path.realpath(saved_model_dir).encode()).hexdigest()[:12]
    return os.path.join(cache_dir(), f"i3d-kinetics-400-{key}.weights.h5")


def load_i3d(path, num_classes=NUM_CLASSES, write_cache=True) -> InceptionI3d:
    """I3D with pretrained weights from a TF Hub folder or a .weights.h5.

    From a Hub folder the variables are converted once and written to
    ``converted_weights_path(path)``; later calls read that file.

    Raises:
      WeightsMissingError: ``path`` is empty or does not exist (the message
        says what to download and the flag to pass).
    """
    if not path or not os.path.exists(path):
        where = f" at {path!r}" if path else " (no --i3d_path given)"
        raise WeightsMissingError(f"I3D weights not found{where}. " + DOWNLOAD_HELP)
    model = build_i3d(num_classes, input_shape=(8, 64, 64, 3))
    if os.path.isfile(path):
        if not path.endswith(".h5"):
            raise WeightsMissingError(f"{path!r} is a file but not a .weights.h5. "
                                      + DOWNLOAD_HELP)
        model.load_weights(path)
        return model
    cached = converted_weights_path(path)
    if os.path.exists(cached):
        model.load_weights(cached)
        return model
    count = convert_hub_variables(model, read_saved_model_variables(path))
    logging.info("I3D: converted %d variables from %s", count, path)
    if write_cache:
        try:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            model.save_weights(cached)
            logging.info("I3D: wrote %s (pass it as --i3d_path next time)", cached)
        except OSError as e:
            logging.warning("I3D: could not write %s: %s", cached, e)
    return model


class I3DExtractor(Extractor):
    """FVD's I3D: ``activations`` are the 400 logits (``features="logits"``,
    name "i3d") or the 1024-d pooled features (``features="pool"``, "i3d-pool")."""

    def __init__(self, model: InceptionI3d, features="logits", image_size=IMAGE_SIZE,
                 batch_size=16):
        if features not in ("logits", "pool"):
            raise ValueError(f"features must be 'logits' or 'pool', got {features!r}")
        self.image_size = image_size

        def network(x, training=False):
            pooled, logits = model(x, training=training)
            return (logits if features == "logits" else pooled), logits

        super().__init__(network, lambda v: preprocess(v, image_size),
                         name="i3d" if features == "logits" else "i3d-pool", kind="video",
                         batch_size=batch_size,
                         feature_dim=model.num_classes if features == "logits" else FEATURE_DIM,
                         num_classes=model.num_classes)
        self.network = model


@register_extractor("i3d")
def i3d_extractor(path=None, **kwargs) -> I3DExtractor:
    return I3DExtractor(load_i3d(path), features="logits", **kwargs)


@register_extractor("i3d-pool")
def i3d_pool_extractor(path=None, **kwargs) -> I3DExtractor:
    return I3DExtractor(load_i3d(path), features="pool", **kwargs)
