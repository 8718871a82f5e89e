"""The multimodal VAE with a product of experts (Wu & Goodman 2018) for video (seed 000).

Seed 000 (Mittal, "Video Generation using multimodal VAE"), section III.A:
modalities x_1..x_N are conditionally independent given z,
p(x_1..x_N, z) = p(z) prod_i p(x_i | z), and the posterior of any subset X
of the modalities is the product of the prior expert and one expert per
present modality (``product_of_experts``)::

    q(z | X) ~ p(z) prod_{x_i in X} q(z | x_i)      (Gaussian experts)
    ELBO(X) = E_q(z|X)[sum_{x_i in X} lambda_i log p(x_i | z)] - beta KL(q(z | X) || p(z))

trained with the sub-sampled objective (``subset_masks``)::

    ELBO(x_1..x_N) + sum_i ELBO(x_i) + sum_{j=1..k} ELBO(X_j),  X_j random subsets

and beta annealed linearly from 0 over ``kl_anneal_steps`` (``kl_weight``,
a pure function of the step, as the official code's per-mini-batch
annealing factor). Each ELBO reconstructs only the modalities it was given
(official ``celeba/train.py``). Pixels and attributes are Bernoulli
(BCE with logits, on [0, 1] pixels); lambda_image 1, lambda_attributes 10.

``--modality=video`` is Method I (section III.B): the modalities are the
previous frame x_t-1 and the current frame x_t, each through a CNN encoder
followed by an LSTM over the clip (``--recurrent``), trained with
ELBO(x_t, x_t-1) + ELBO(x_t) + ELBO(x_t-1) on every consecutive pair of a
clip. At test time x_t-1 alone is encoded (its expert times the prior) and
x_t decoded from the posterior mean (``--predict_from=sample``: a draw), fed
back as the next x_t-1: ``predict`` continues real context for any number of
frames. ``--modality=image_attributes`` is the CelebA test bed (section
III.B.2): images and 18 binary attributes, generating either from the other.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import base
from tfvidgen.models.prediction import (PredictionTask, merge_time, side_by_side,
                                        split_time)
from tfvidgen.nets import mvae_nets
from tfvidgen.settings import ConfigError, Settings, setting

MODALITIES = {"video": ("current", "previous"), "image_attributes": ("image", "attributes")}


# Pure functions ---------------------------------------------------------------------------

def product_of_experts(mu, logvar, mask=None, prior=True, eps=1e-8):
    """Product of Gaussian experts (Wu & Goodman 2018, section 2; official ``ProductOfExperts``).

    T_i = 1 / (sigma_i^2 + eps); mu = sum_i mu_i T_i / sum_i T_i; sigma^2 = 1 / sum_i T_i,
    over the present experts and, with ``prior``, the prior expert N(0, I).

    Args:
      mu, logvar: [E, ...] means and log-variances of E experts.
      mask: broadcastable to [E, ...]: 1 for a present expert, 0 for a missing one.
      prior: include the prior expert N(0, I).
    Returns:
      (mu, logvar) [...] of the product.
    """
    mu = tf.convert_to_tensor(mu, tf.float32)
    logvar = tf.convert_to_tensor(logvar, tf.float32)
    precision = 1.0 / (tf.exp(logvar) + eps)
    if mask is not None:
        precision = precision * tf.cast(mask, tf.float32)
    total = tf.reduce_sum(precision, axis=0)
    weighted = tf.reduce_sum(mu * precision, axis=0)
    if prior:
        total += 1.0 / (1.0 + eps)
    var = 1.0 / total
    return weighted * var, tf.math.log(var)


def subset_masks(num_modalities: int, codes=None):
    """The sub-sampled objective's subsets as masks [1 + N + k, N] (float32).

    Row 0 is the joint ELBO (every modality), rows 1..N the single-modality
    ELBOs, then one row per random subset: ``codes`` [k] integers in
    [1, 2^N - 1] whose bits name the modalities present.
    """
    n = num_modalities
    rows = tf.constant(np.concatenate([np.ones([1, n]), np.eye(n)]), tf.float32)
    if codes is None:
        return rows
    codes = tf.cast(tf.convert_to_tensor(codes), tf.int64)
    shifted = tf.bitwise.right_shift(codes[:, None], tf.range(n, dtype=tf.int64))
    bits = tf.bitwise.bitwise_and(shifted, 1)
    return tf.concat([rows, tf.cast(bits, tf.float32)], axis=0)


def subset_names(modalities: Sequence[str], num_random: int):
    """Names of the ELBO terms, in ``subset_masks`` order."""
    return ["joint", *modalities, *[f"random_{j}" for j in range(num_random)]]


def kl_weight(step, anneal_steps: int, beta: float = 1.0):
    """beta * min(1, step / anneal_steps): linear KL annealing from 0 (official MVAE);
    ``anneal_steps`` 0: beta from the first step. A pure function of the step."""
    step = tf.cast(step, tf.float32)
    if not anneal_steps:
        return tf.constant(beta, tf.float32) + 0.0 * step
    return beta * tf.minimum(1.0, step / float(anneal_steps))


# Settings ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MVAEConfig(Settings):
    """MVAE (official celeba/ code: n_latents 100, batch 100, Adam 1e-4, lambda_attrs 10).

    The sizes (batch, z, widths, clip lengths, KL annealing) default to CPU size, so that
    ``bin/train --model=mvae`` with no other flag trains on the built-in data; the
    official values are in configs/mvae_celeba.cfg and each help says them.
    """
    batch_size: int = setting(8, "Clips (video) or images per step (CPU size; official: 100, "
                              "configs/mvae_celeba.cfg).", min=1)
    modality: str = setting("video", "video: Method I, x_t-1 and x_t; image_attributes: images "
                            "and binary attributes (CelebA).", choices=tuple(MODALITIES))
    latent_dim: int = setting(64, "Size of z (CPU size; official: 100).", min=1)
    width: int = setting(16, "Filters of the first encoder convolution (doubling per level; "
                         "CPU size; official: 32).", min=1)
    hidden: int = setting(128, "Units of the experts' dense layers and LSTMs (CPU size; "
                          "official: 512).", min=1)
    num_attributes: int = setting(18, "Attributes per image (CelebA: 18 of 40).", min=1)
    recurrent: bool = setting(True, "video: an LSTM after each frame encoder (seed 000, III.B).")
    n_past: int = setting(2, "video: context frames of a prediction.", min=1)
    n_future: int = setting(8, "video: training clips are n_past + n_future frames.", min=1)
    n_eval: int = setting(16, "video: frames, context included, of summaries and serving.",
                          min=2)
    every_nth: int = setting(1, "video: temporal stride of training clips.", min=1)
    frame_channels: int = setting(3, "video: channels the model sees (1: grey).",
                                  choices=(1, 3))
    lambda_current: float = setting(1.0, "lambda of x_t.", min=0.0)
    lambda_previous: float = setting(1.0, "lambda of x_t-1.", min=0.0)
    lambda_image: float = setting(1.0, "lambda of the image (official: 1).", min=0.0)
    lambda_attributes: float = setting(10.0, "lambda of the attributes (official: 10).",
                                       min=0.0)
    beta: float = setting(1.0, "Weight of the KL term after annealing.", min=0.0)
    kl_anneal_steps: int = setting(500, "Steps of linear KL annealing from 0 (CPU size; "
                                   "official: 32560, 20 epochs of CelebA at batch 100); "
                                   "0: none.", min=0)
    random_subsets: int = setting(0, "k: random subsets of modalities per step besides the "
                                  "joint and single ELBOs.", min=0)
    predict_from: str = setting("mean", "z of a prediction: the posterior mean or a draw.",
                                choices=("mean", "sample"))
    learning_rate: float = setting(1e-4, "Adam learning rate.", min=0.0, min_exclusive=True)

    def check(self):
        if self.n_eval <= self.n_past:
            raise ConfigError(f"--n_eval={self.n_eval} must exceed --n_past={self.n_past}")


def to01(x):
    return (tf.convert_to_tensor(x, tf.float32) + 1.0) * 0.5


@registry.register_task("mvae")
class MVAE(PredictionTask):
    """Multimodal VAE with a product of experts; see the module docstring."""

    config_class = MVAEConfig

    @property
    def video(self) -> bool:
        return self.config.modality == "video"

    @property
    def modalities(self):
        return MODALITIES[self.config.modality]

    @property
    def lambdas(self) -> Dict[str, float]:
        c = self.config
        return {"current": c.lambda_current, "previous": c.lambda_previous,
                "image": c.lambda_image, "attributes": c.lambda_attributes}

    @property
    def channels(self) -> int:
        return self.config.frame_channels if self.video else self.data_spec.channels

    # Data ---------------------------------------------------------------------------
    def data_requirements(self):
        c = self.config
        if self.video:
            return base.DataRequirements(clip_length=c.n_past + c.n_future,
                                         every_nth=c.every_nth)
        return base.DataRequirements(clip_length=1, extras=("attributes",))

    def context_length(self, num_frames):
        return self.config.n_past if self.video else 0

    @property
    def default_num_frames(self):
        return self.config.n_eval if self.video else 1

    # Networks -----------------------------------------------------------------------
    def build(self):
        c, size = self.config, self.data_spec.image_size
        self.encoders, self.heads, self.decoders, self.lstms = {}, {}, {}, {}
        for name in self.modalities:
            if name == "attributes":
                self.encoders[name] = mvae_nets.VectorEncoder(c.hidden, name="attributes_encoder")
                self.decoders[name] = mvae_nets.VectorDecoder(c.num_attributes, c.hidden,
                                                              name="attributes_decoder")
            else:
                self.encoders[name] = mvae_nets.ImageEncoder(size, c.width, c.hidden,
                                                             name=f"{name}_encoder")
                self.decoders[name] = mvae_nets.ImageDecoder(size, c.width, self.channels,
                                                             name=f"{name}_decoder")
            self.heads[name] = mvae_nets.GaussianHead(c.latent_dim, name=f"{name}_head")
            if self.video and c.recurrent:
                self.lstms[name] = mvae_nets.ExpertLSTM(c.hidden, name=f"{name}_lstm")
        self.experts(self.dummy_inputs(), training=False)
        for decoder in self.decoders.values():
            decoder(tf.zeros([1, c.latent_dim]), training=False)
        self.build_optimizers()

    def dummy_inputs(self):
        size = self.data_spec.image_size
        if self.video:
            return tf.zeros([1, 2, size, size, self.channels])
        return {"image": tf.zeros([1, size, size, self.channels]),
                "attributes": tf.zeros([1, self.config.num_attributes])}

    def build_optimizers(self):
        self.optimizer = keras.optimizers.Adam(self.config.learning_rate)
        self.optimizer.build(self.vae_variables)

    def vae_networks(self) -> Dict[str, keras.Model]:
        nets = {}
        for name in self.modalities:
            nets[f"{name}_encoder"] = self.encoders[name]
            nets[f"{name}_head"] = self.heads[name]
            if name in self.lstms:
                nets[f"{name}_lstm"] = self.lstms[name]
            nets[f"{name}_decoder"] = self.decoders[name]
        return nets

    def networks(self):
        return self.vae_networks()

    def optimizers(self):
        return {"vae": self.optimizer}

    @property
    def vae_variables(self):
        return [v for n in self.vae_networks().values() for v in n.trainable_variables]

    # Experts ------------------------------------------------------------------------
    def frame_experts(self, name, frames01, training):
        """Expert of frame modality ``name`` at every step of clips [B, T, ...] -> [B, T, D]x2."""
        batch = tf.shape(frames01)[0]
        h = split_time(self.encoders[name](merge_time(frames01), training=training), batch)
        if name in self.lstms:
            h = self.lstms[name](h)[0]
        return self.heads[name](merge_time(h))

    def experts(self, inputs, training):
        """Experts of every modality: (mu, logvar) [N, M, D].

        ``inputs``: video clips [B, T, ...] on the model's [0, 1] pixels (pairs
        (x_t-1, x_t) -> M = B (T - 1) rows), or {image [B, ...] in [0, 1],
        attributes [B, A] in {0, 1}} (M = B).
        """
        mus, logvars = [], []
        for name in self.modalities:
            if self.video:
                frames = inputs[:, 1:] if name == "current" else inputs[:, :-1]
                mu, logvar = self.frame_experts(name, frames, training)
            else:
                mu, logvar = self.heads[name](self.encoders[name](inputs[name], training=training))
            mus.append(mu)
            logvars.append(logvar)
        return tf.stack(mus), tf.stack(logvars)

    def targets(self, inputs):
        """What each modality's decoder reconstructs, row-aligned with ``experts``."""
        if self.video:
            return {"current": merge_time(inputs[:, 1:]), "previous": merge_time(inputs[:, :-1])}
        return dict(inputs)

    def batch_inputs(self, batch):
        if self.video:
            return self.to_model(batch["video"])
        return {"image": to01(batch["video"][:, 0]),
                "attributes": tf.cast(batch["attributes"], tf.float32)}

    def decode(self, name, z, training=False):
        return self.decoders[name](z, training=training)

    def reconstruction_nll(self, name, target, logits):
        """-log p(x_i | z) per row: Bernoulli (BCE with logits), summed over the modality."""
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
        return tf.reduce_sum(tf.reshape(ce, [tf.shape(ce)[0], -1]), axis=1)

    # The sub-sampled objective ------------------------------------------------------
    def subsampled_elbo(self, targets, mu, logvar, masks, eps, weight, training, nll=None):
        """-ELBO of every subset: a list of dicts with loss, kl and nll_<modality> [M].

        Args:
          masks: [S, N] float (``subset_masks``); the first 1 + N rows are the
            joint and single subsets, whose absent modalities are not decoded.
          eps: N(0, I) [S, M, D].
          weight: the KL weight (``kl_weight``).
          nll: (name, target, decoder logits) -> [M]; default ``reconstruction_nll``.
        """
        nll = nll or self.reconstruction_nll
        n, terms = len(self.modalities), []
        static = np.concatenate([np.ones([1, n]), np.eye(n)])
        for s in range(masks.shape[0]):
            m, lv = product_of_experts(mu, logvar, masks[s][:, None, None])
            z = losses.reparameterize(m, lv, eps[s])
            kl = tf.reduce_sum(losses.kl_standard_normal(m, lv), axis=1)
            term = {"kl": kl, "loss": weight * kl}
            for i, name in enumerate(self.modalities):
                if s < len(static) and not static[s, i]:
                    continue
                value = self.lambdas[name] * nll(name, targets[name],
                                                 self.decode(name, z, training))
                if s >= len(static):
                    value *= masks[s, i]
                term[f"nll_{name}"] = value
                term["loss"] = term["loss"] + value
            terms.append(term)
        return terms

    def per_example(self, rows, batch):
        """Per-row values [M] -> per batch element [B] (summed over a clip's pairs)."""
        return tf.reduce_sum(tf.reshape(rows, tf.stack([batch, -1])), axis=1)

    def draw_subsets(self, rng):
        k = self.config.random_subsets
        codes = None
        if k:
            codes = rng.uniform([k], 1, 2 ** len(self.modalities), dtype=tf.int64)
        return subset_masks(len(self.modalities), codes)

    def train_step(self, batch, step, rng, global_batch_size):
        inputs = self.batch_inputs(batch)
        targets = self.targets(inputs)
        rows = tf.shape(next(iter(targets.values())))[0]
        b = tf.shape(batch["video"])[0]
        masks = self.draw_subsets(rng)
        eps = rng.normal(tf.stack([masks.shape[0], rows, self.config.latent_dim]))
        weight = kl_weight(step, self.config.kl_anneal_steps, self.config.beta)
        with tf.GradientTape() as tape:
            mu, logvar = self.experts(inputs, training=True)
            terms = self.subsampled_elbo(targets, mu, logvar, masks, eps, weight, True)
            loss = base.average(self.per_example(tf.add_n([t["loss"] for t in terms]), b),
                                global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.vae_variables)
        metrics = {"loss": loss}
        metrics.update(self.term_metrics(terms, b, global_batch_size))
        metrics["kl_weight"] = base.average(tf.fill(tf.reshape(b, [1]), weight),
                                            global_batch_size)
        return metrics

    def term_metrics(self, terms, b, global_batch_size):
        """kl_<term> of every ELBO term and nll_<modality> of the joint one."""
        names = subset_names(self.modalities, self.config.random_subsets)
        out = {f"kl_{name}": base.average(self.per_example(t["kl"], b), global_batch_size)
               for name, t in zip(names, terms)}
        for key, value in terms[0].items():
            if key.startswith("nll_"):
                out[key] = base.average(self.per_example(value, b), global_batch_size)
        return out

    # Inference ----------------------------------------------------------------------
    def output(self, name, logits):
        """Decoder logits -> [-1, 1] frames/images, or attribute probabilities."""
        if name == "attributes":
            return tf.sigmoid(logits)
        if self.video:
            return self.from_model(tf.sigmoid(logits), self.channels)
        return tf.sigmoid(logits) * 2.0 - 1.0

    def posterior(self, mu, logvar, present, noise=None):
        """z of the product of the present experts (index list) and the prior: its mean,
        or a draw with ``noise``."""
        mask = [[[1.0]] if i in present else [[0.0]] for i in range(len(self.modalities))]
        m, lv = product_of_experts(mu, logvar, tf.constant(mask))
        if noise is None:
            return m
        return losses.reparameterize(m, lv, noise.normal(tf.shape(m)))

    def single_posterior(self, mu, logvar, noise=None):
        """z of one expert times the prior: its mean, or a draw with ``noise``."""
        m, lv = product_of_experts(mu[None], logvar[None])
        return m if noise is None else losses.reparameterize(m, lv, noise.normal(tf.shape(m)))

    def prior_codes(self, noise, num):
        return noise.normal(tf.stack([num, self.config.latent_dim]))

    def predict(self, context_frames, num_future, noise):
        """Method I's rollout: x_t = Dec_current(z), z from q(z | x_t-1) p(z), x_t fed back."""
        if not self.video:
            raise ValueError("mvae --modality=image_attributes does not predict frames")
        context, _, channels = self.prepared_context(context_frames)
        x = self.to_model(context)
        batch = tf.shape(x)[0]
        name, enc, head = "previous", self.encoders["previous"], self.heads["previous"]
        lstm = self.lstms.get(name)
        h = split_time(enc(merge_time(x), training=False), batch)
        if lstm is not None:
            seq, state = lstm(h)
            h = seq[:, -1]
        else:
            state, h = [tf.zeros([batch, 1])] * 2, h[:, -1]
        draw = noise if self.config.predict_from == "sample" else None
        size, dim = self.data_spec.image_size, self.channels
        steps = tf.convert_to_tensor(num_future, tf.int32)

        def body(t, h, state, out):
            z = self.single_posterior(*head(h), draw)
            frame = tf.sigmoid(self.decode("current", z))
            feat = enc(frame, training=False)
            if lstm is not None:
                feat, state = lstm.step(feat, state)
            return t + 1, feat, state, out.write(t, frame)

        out = tf.TensorArray(tf.float32, size=steps,
                             element_shape=tf.TensorShape([None, size, size, dim]))
        _, _, _, out = tf.while_loop(lambda t, *_: t < steps, body,
                                     (tf.constant(0), h, state, out))
        frames = tf.cond(steps > 0, lambda: tf.transpose(out.stack(), [1, 0, 2, 3, 4]),
                         lambda: tf.zeros(tf.stack([batch, 0, size, size, dim])))
        frames = tf.ensure_shape(frames, [None, None, size, size, dim])
        return self.from_model(frames, channels)

    @property
    def stochastic(self):
        return self.config.predict_from == "sample"

    def reconstruct(self, videos):
        """Video: clips [B, T, ...] -> frame 0 from Dec_previous, frames t >= 1 from
        Dec_current, z the joint posterior mean of each pair (x_t-1, x_t)."""
        x = self.to_model(videos)
        batch = tf.shape(x)[0]
        mu, logvar = self.experts(x, training=False)
        z = split_time(self.posterior(mu, logvar, [0, 1]), batch)
        first = self.output("previous", self.decode("previous", z[:, 0]))[:, None]
        rest = split_time(self.output("current", self.decode("current", merge_time(z))), batch)
        return tf.concat([first, rest], axis=1)

    def generate(self, source, values, noise=None):
        """image_attributes: the other modality from ``values`` of ``source`` (decoded
        from q(z | x_source) p(z): its mean, or a draw with ``noise``)."""
        h = self.encoders[source](tf.convert_to_tensor(values, tf.float32), training=False)
        z = self.single_posterior(*self.heads[source](h), noise)
        other = "image" if source == "attributes" else "attributes"
        return self.output(other, self.decode(other, z))

    # Sampling -----------------------------------------------------------------------
    def prior_samples(self, noise, num):
        """Decoded prior draws: video pairs [N, 2, ...] (Dec_previous, Dec_current), or images."""
        z = self.prior_codes(noise, num)
        if self.video:
            return tf.stack([self.output("previous", self.decode("previous", z)),
                             self.output("current", self.decode("current", z))], axis=1)
        return self.output("image", self.decode("image", z))

    def sample(self, noise, num_videos, num_frames, context=None):
        if self.video:
            return PredictionTask.sample(self, noise, num_videos, num_frames, context)
        images = self.prior_samples(noise, num_videos)
        return tf.repeat(images[:, None], num_frames, axis=1)

    def sample_images(self, noise, num_images, context=None):
        if self.video:
            return PredictionTask.sample_images(self, noise, num_images, context)
        return self.prior_samples(noise, num_images)

    def sample_for_display(self, noise, num_videos, batch=None):
        if self.video:
            return PredictionTask.sample_for_display(self, noise, num_videos, batch)
        return self.sample(noise, num_videos, 1)

    def sample_summaries(self, noise, batch=None):
        """video: prediction, reconstruction (truth | reconstruction), prior_samples (pairs);
        image_attributes: prior_samples, reconstruction (image | joint | from the image
        alone | from the attributes alone)."""
        named = {"prior_samples": self.prior_samples(noise, 8)}
        if batch is None:
            return named
        if self.video:
            named.update(self.prediction_summaries(noise, batch)[0])
            truth = tf.convert_to_tensor(batch["video"], tf.float32)[:4]
            named["reconstruction"] = side_by_side([truth, self.reconstruct(truth)])
            return named
        inputs = self.batch_inputs({k: v[:8] for k, v in batch.items()})
        mu, logvar = self.experts(inputs, training=False)
        images = [self.output("image", self.decode("image", self.posterior(mu, logvar, p)))
                  for p in ([0, 1], [0], [1])]
        truth = inputs["image"] * 2.0 - 1.0
        named["reconstruction"] = tf.concat([truth, *images], axis=2)
        return named

    # Serving ------------------------------------------------------------------------
    def serving_signatures(self):
        task, size, channels = self, self.data_spec.image_size, self.data_spec.channels
        sigs = dict(PredictionTask.serving_signatures(self) if self.video
                    else base.Task.serving_signatures(self))

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_samples")])
        def serve_sample(seed, num_samples):
            return {"sample": base.to_uint8(task.prior_samples(base.StatelessNoise(seed),
                                                               num_samples))}

        sigs["sample"] = serve_sample
        if self.video:
            @tf.function(input_signature=[tf.TensorSpec([None, None, size, size, None],
                                                        tf.uint8, name="video")])
            def serve_reconstruct_video(video):
                return {"video": base.to_uint8(task.reconstruct(
                    tf.cast(video, tf.float32) / 127.5 - 1.0))}
            sigs["reconstruct"] = serve_reconstruct_video
            return sigs
        image = tf.TensorSpec([None, size, size, channels], tf.uint8, name="image")
        attrs = tf.TensorSpec([None, self.config.num_attributes], tf.float32, name="attributes")

        @tf.function(input_signature=[attrs, tf.TensorSpec([], tf.int64, name="seed")])
        def serve_image_from_attributes(attributes, seed):
            out = task.generate("attributes", attributes, base.StatelessNoise(seed))
            return {"image": base.to_uint8(out)}

        @tf.function(input_signature=[image])
        def serve_attributes_from_image(image):
            return {"attributes": task.generate("image", tf.cast(image, tf.float32) / 255.0)}

        @tf.function(input_signature=[image, attrs])
        def serve_reconstruct(image, attributes):
            inputs = {"image": tf.cast(image, tf.float32) / 255.0, "attributes": attributes}
            mu, logvar = task.experts(inputs, training=False)
            z = task.posterior(mu, logvar, [0, 1])
            return {"image": base.to_uint8(task.output("image", task.decode("image", z))),
                    "attributes": task.output("attributes", task.decode("attributes", z))}

        sigs.update(image_from_attributes=serve_image_from_attributes,
                    attributes_from_image=serve_attributes_from_image,
                    reconstruct=serve_reconstruct)
        return sigs
