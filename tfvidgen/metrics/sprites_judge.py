"""The attribute and action classifier of Sprites and DSA's disentanglement protocol.

Li & Mandt 2018 (section 4.1) judge a sequential VAE on Sprites with a
classifier trained on real clips to predict a character's four attributes
(body/skin, bottom, top, hair) and the action-view (9 classes):

* fix the static code (DSA's f, RJVAE's summary mu) of a real test clip and
  resample the dynamics from the prior: the generated clip should keep the
  clip's attributes (``fixed_static/<attribute>`` accuracies);
* fix the dynamic codes (z_1:T, delta_1:T) and resample the static code from
  its prior: the clip should keep its action (``fixed_dynamic/action``).

TFP's ``disentangled_vae.py`` leaves this out; this is the protocol as the
paper and its follow-ups describe it. Use::

    from tfvidgen.data.sprites import Sprites
    from tfvidgen.metrics import sprites_judge
    train, test = Sprites(split="train", image_size=64), Sprites(split="test", image_size=64)
    judge = sprites_judge.train_classifier(train, steps=2000)
    sprites_judge.accuracy(judge, test)                    # the judge on real clips
    from tfvidgen import runs
    task = runs.load_run("runs/dsa_sprites")[0]  # or any built dsa / rjvae Task
    sprites_judge.protocol(task, judge, test, num_videos=1000)

or ``python -m tfvidgen.metrics.sprites_judge --model_dir=RUN`` (``main``).
"""
from __future__ import annotations

from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from tfvidgen.data import sprites as sprites_lib
from tfvidgen.models.base import StatelessNoise

HEADS = sprites_lib.ATTRIBUTES + ("action",)


class SpritesClassifier(keras.Model):
    """Clips [B, T, S, S, 3] in [-1, 1] -> logits per head (4 attributes, action-view).

    A per-frame CNN (stride-2 convolutions to 4x4), its features over the
    clip's frames flattened, one dense layer, then one linear head per label.
    """

    def __init__(self, num_variants=sprites_lib.NUM_VARIANTS, width=32, hidden=128,
                 image_size=64, name="sprites_classifier", **kwargs):
        super().__init__(name=name, **kwargs)
        # Layers are attributes (tf.train.Checkpoint does not follow a Keras 3 model's lists).
        self.levels = max(1, int(np.log2(image_size // 4)))
        for i in range(self.levels):
            setattr(self, f"conv_{i}", keras.layers.Conv2D(
                min(width * 2 ** i, 256), 3, 2, "same", activation="relu", name=f"conv_{i}"))
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(hidden, activation="relu", name="hidden")
        classes = [num_variants] * len(sprites_lib.ATTRIBUTES) + [len(sprites_lib.CLASS_NAMES)]
        for n, head in zip(classes, HEADS):
            setattr(self, f"head_{head}", keras.layers.Dense(n, name=f"head_{head}"))

    def call(self, videos):
        batch = tf.shape(videos)[0]
        x = tf.reshape(videos, tf.concat([[-1], tf.shape(videos)[2:]], 0))
        for i in range(self.levels):
            x = getattr(self, f"conv_{i}")(x)
        x = tf.reshape(self.flatten(x), tf.stack([batch, -1]))
        x = self.hidden(x)
        return {name: getattr(self, f"head_{name}")(x) for name in HEADS}


def labels_of(source, indices) -> Dict[str, np.ndarray]:
    """{attribute: variant, action: action-view class} of some clips."""
    extras = [source.extras(int(i)) for i in indices]
    out = {name: np.array([e["attributes"][k] for e in extras], np.int64)
           for k, name in enumerate(sprites_lib.ATTRIBUTES)}
    out["action"] = np.array([source.label(int(i)) for i in indices], np.int64)
    return out


def clips_of(source, indices) -> np.ndarray:
    """float32 [N, 8, S, S, 3] in [-1, 1]."""
    return np.stack([source.read(int(i)) for i in indices]).astype(np.float32) / 127.5 - 1.0


def train_classifier(source, steps=2000, batch_size=32, seed=0, learning_rate=1e-3,
                     num_variants=sprites_lib.NUM_VARIANTS) -> SpritesClassifier:
    """Trains the judge on real clips of ``source`` (a ``Sprites`` split) with Adam."""
    size = source.frame_shape[0]
    model = SpritesClassifier(num_variants, image_size=size)
    model(tf.zeros([1, sprites_lib.CLIP_FRAMES, size, size, 3]))
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(videos, labels):
        with tf.GradientTape() as tape:
            logits = model(videos)
            loss = tf.add_n([tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels[name], logits[name])) for name in HEADS])
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        indices = rng.integers(0, len(source), batch_size)
        step(tf.constant(clips_of(source, indices)),
             {k: tf.constant(v) for k, v in labels_of(source, indices).items()})
    return model


def predict(model, videos, batch_size=64) -> Dict[str, np.ndarray]:
    """Predicted classes per head of clips in [-1, 1]."""
    out = {name: [] for name in HEADS}
    for start in range(0, len(videos), batch_size):
        logits = model(tf.convert_to_tensor(videos[start:start + batch_size], tf.float32))
        for name in HEADS:
            out[name].append(np.argmax(logits[name].numpy(), axis=-1))
    return {name: np.concatenate(v) for name, v in out.items()}


def accuracy(model, source, num_videos=None, seed=0) -> Dict[str, float]:
    """The judge's accuracy per head on real clips of ``source``."""
    indices = _pick(source, num_videos, seed)
    got = predict(model, clips_of(source, indices))
    want = labels_of(source, indices)
    return {name: float(np.mean(got[name] == want[name])) for name in HEADS}


def _pick(source, num_videos, seed):
    if num_videos is None or num_videos >= len(source):
        return np.arange(len(source))
    return np.sort(np.random.default_rng(seed).choice(len(source), num_videos, replace=False))


def protocol(task, model, source, num_videos=None, seed=0,
             batch_size=64) -> Dict[str, float]:
    """DSA's disentanglement accuracies of a ``dsa`` or ``rjvae`` Task on ``source``.

    For each real clip: its posterior means (g, l_1:T); ``fixed_static``
    decodes g with l_1:T resampled from the prior p(l_t | l_<t, .) and scores
    the four attributes; ``fixed_dynamic`` decodes l_1:T with g resampled
    from p(g) and scores the action-view. Chance is 1/6 and 1/9.

    Returns:
      {"fixed_static/<attribute>": accuracy, "fixed_static/mean": mean of the
      four, "fixed_dynamic/action": accuracy}.
    """
    indices = _pick(source, num_videos, seed)
    want = labels_of(source, indices)
    noise = StatelessNoise(seed)
    static_videos, dynamic_videos = [], []
    for start in range(0, len(indices), batch_size):
        real = tf.constant(clips_of(source, indices[start:start + batch_size]))
        g, l = task.encode_means(real)
        n, steps = int(real.shape[0]), int(real.shape[1])
        eps = noise.normal([n, steps, task.local_dim])
        resampled_l = task.prior_rollout(g, eps)
        resampled_g = task.global_std * noise.normal([n, task.global_dim])
        static_videos.append(_to_real(task.decode(g, resampled_l)))
        dynamic_videos.append(_to_real(task.decode(resampled_g, l)))
    fixed_static = predict(model, np.concatenate(static_videos))
    fixed_dynamic = predict(model, np.concatenate(dynamic_videos))
    out = {f"fixed_static/{name}": float(np.mean(fixed_static[name] == want[name]))
           for name in sprites_lib.ATTRIBUTES}
    out["fixed_static/mean"] = float(np.mean([out[f"fixed_static/{n}"]
                                              for n in sprites_lib.ATTRIBUTES]))
    out["fixed_dynamic/action"] = float(np.mean(fixed_dynamic["action"] == want["action"]))
    return out


def _to_real(frames01):
    return (tf.clip_by_value(frames01, 0.0, 1.0) * 2.0 - 1.0).numpy()


def main(argv=None) -> Dict[str, float]:
    """``python -m tfvidgen.metrics.sprites_judge --model_dir=RUN``: the protocol as JSON.

    Trains the judge on the train split (or loads ``--judge_weights`` when the
    file exists, and saves it there otherwise), prints its accuracy on the
    test split and the protocol's accuracies of the run's model, one JSON
    object per line.
    """
    import argparse
    import json
    import os

    from tfvidgen import runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True, help="a dsa or rjvae run on sprites")
    parser.add_argument("--data_dir", default=None, help="the LPC sheets (default: the run's)")
    parser.add_argument("--judge_steps", type=int, default=2000)
    parser.add_argument("--judge_weights", default=None,
                        help="a .weights.h5 file: loaded if it exists, else written")
    parser.add_argument("--num_videos", type=int, default=None, help="test clips (all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task, _, step, values = runs.load_run(args.model_dir)
    data_dir = args.data_dir or values.get("data_dir")
    size = int(values["image_size"])
    train = sprites_lib.Sprites(data_dir, "train", size)
    test = sprites_lib.Sprites(data_dir, "test", size)
    if args.judge_weights and os.path.exists(args.judge_weights):
        judge = SpritesClassifier(image_size=size)
        judge(tf.zeros([1, sprites_lib.CLIP_FRAMES, size, size, 3]))
        judge.load_weights(args.judge_weights)
    else:
        judge = train_classifier(train, steps=args.judge_steps, seed=args.seed)
        if args.judge_weights:
            judge.save_weights(args.judge_weights)
    real = accuracy(judge, test, args.num_videos, args.seed)
    print(json.dumps({"judge_on_real_test": real}))
    scores = protocol(task, judge, test, args.num_videos, args.seed)
    print(json.dumps({"model_dir": args.model_dir, "step": int(step), **scores}))
    return scores


if __name__ == "__main__":
    main()
