"""Stochastic video generation (SVG; seed 002, chapter 6): SVG-LP, SVG-FP and the
deterministic baseline, as Tasks of the one trainer.

Symbols of sections 6.2 / 6.3.1 and where they live (networks in
``tfvidgen/nets/svg_nets.py``):

| symbol | code |
| --- | --- |
| h_t = Enc(x_t), skips | ``encoder`` (``FrameEncoder``, dcgan or vgg) |
| mu_phi, sigma_phi = LSTM_phi(h_t) | ``posterior`` (``GaussianLSTM``), q(z_t / x_1:t) |
| mu_psi, sigma_psi = LSTM_psi(h_t-1) | ``prior`` (SVG-LP only), p_psi(z_t / x_1:t-1) |
| g_t = LSTM_theta(h_t-1, z_t) | ``frame_predictor`` (``PredictorLSTM``) |
| x^_t = mu_theta = Dec(g_t, skip) | ``decoder`` (``FrameDecoder``, sigmoid output) |

Objective, Eq. (6.5) (SVG-FP, prior N(0, I)) and Eq. (6.6) (SVG-LP, learned
prior), per video::

    sum_t  ||x^_t - x_t||^2 / (H W C)  +  beta * KL(q(z_t / x_1:t) || p(z_t))

with one reparameterised sample of z_t per step. The reconstruction is the
official code's ``MSELoss`` (mean over pixels) summed over steps and the KL
is summed over z's dimensions and the steps (``kl_criterion``). The
deterministic baseline (``svg_det``) is the same predictor without z, trained
on the reconstruction term alone.

One training iteration (``SVG.train_step``) on a clip x_1..x_T (T = n_past +
n_future) in teacher-forcing mode: every frame is encoded once in one
batched call (the official code encodes each frame twice per step, as input
and as target), the three LSTMs run over whole sequences, and the decoder
decodes all T - 1 predictions in one batched call. Step t (t = 2..T)
predicts x_t from the real x_t-1 and z_t ~ q(z_t / x_1:t); its skip
connections come from x_t-1 while t <= n_past and from the last context
frame x_n_past afterwards (``--last_frame_skip``: always from x_t-1).
The decoder gets the skips of the n_past source frames only and runs the
skip half of each level's first convolution once per source frame
(``FrameDecoder`` with an index; the same function, about 20% less work
per iteration, docs/benchmarks.md).

Generation (``SVG.predict``, section 6.2 and Figure 6.2c): the context
x_1..x_n_past is encoded in one call and warms up the LSTMs (with z from
the posterior, which may look at the observed context, as the official
generation code does); then each new frame is decoded from z_t drawn from
the prior (N(0, I) for SVG-FP, p_psi for SVG-LP), fed back through the
encoder into the predictor and, for SVG-LP, into the prior, for any number
of future frames (a ``tf.while_loop``).

Pixels: the pipeline gives frames in [-1, 1]; the networks work in [0, 1]
(x01 = (x + 1) / 2, the decoder's sigmoid) and the loss is measured there
as in the official code; predictions are returned in [-1, 1] (2 y - 1) like
every Task's samples. ``--frame_channels=1`` makes the model see and
predict grey frames (the mean of the RGB channels: SM-MNIST, KTH) while the
pipeline, the summaries and the exports stay 3-channel (the grey prediction
is repeated on the channels of the input).
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.settings import ConfigError, Settings, setting
from tfvidgen.models import base, prediction
from tfvidgen.nets import svg_nets


@dataclasses.dataclass(frozen=True)
class SVGConfig(Settings):
    """Hyperparameters of SVG (section 6.3.1).

    Defaults are the paper's SM-MNIST settings (and the official code's):
    5 context frames, 10 predicted, z 10, g 128, LSTMs of 256 cells, beta
    1e-4, Adam 2e-3 with beta1 0.9, batch 100. KTH: z 32, beta 1e-6, 10 + 10
    frames, VGG encoder; BAIR: z 64, beta 1e-4, 2 + 10 frames, VGG encoder.
    """
    batch_size: int = setting(100, "Global batch of clips per step.", min=1)
    n_past: int = setting(5, "Context frames a prediction is conditioned on.", min=1)
    n_future: int = setting(10, "Frames predicted after the context in training (clips are "
                            "n_past + n_future frames).", min=1)
    n_eval: int = setting(30, "Frames, context included, of the TensorBoard predictions and "
                          "of serving_default's default length.", min=2)
    z_dim: int = setting(10, "Size of the latent z_t (SM-MNIST 10, KTH 32, BAIR 64).", min=1)
    g_dim: int = setting(128, "Size of the frame encoding h_t and of g_t.", min=1)
    rnn_size: int = setting(256, "Cells per LSTM layer.", min=1)
    predictor_rnn_layers: int = setting(2, "LSTM layers of the frame predictor.", min=1)
    posterior_rnn_layers: int = setting(1, "LSTM layers of the posterior q_phi.", min=1)
    prior_rnn_layers: int = setting(1, "LSTM layers of the learned prior p_psi (SVG-LP).",
                                    min=1)
    beta: float = setting(1e-4, "Weight of the KL term (SM-MNIST, BAIR 1e-4; KTH 1e-6).",
                          min=0.0)
    last_frame_skip: bool = setting(
        False, "Skip connections from the previous frame at every step (default: from the "
        "last context frame once the context is over).")
    encoder_arch: str = setting("dcgan", "Frame encoder/decoder (dcgan: SM-MNIST; vgg: KTH, "
                                "BAIR).", choices=("dcgan", "vgg"))
    encoder_width: int = setting(64, "Filters of the encoder's first level.", min=1)
    frame_channels: int = setting(
        3, "Channels the model sees and predicts: 1 (grey, the mean of RGB: SM-MNIST, KTH) "
        "or 3; outputs keep the input's channels.", choices=(1, 3))
    every_nth: int = setting(1, "Temporal stride of training clips.", min=1)
    learning_rate: float = setting(2e-3, "Adam learning rate.", min=0.0, min_exclusive=True)
    beta1: float = setting(0.9, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.999, "Adam beta2.", min=0.0, max=0.999999)

    def check(self):
        check_horizon(self)


def check_horizon(config) -> None:
    """n_eval counts the context frames too, so it must exceed n_past."""
    if config.n_eval <= config.n_past:
        raise ConfigError(f"--n_eval={config.n_eval} must exceed --n_past={config.n_past} "
                          "(it counts the context frames too)")


class SVG(prediction.PredictionTask):
    """Shared by the three variants; ``variant`` is "lp", "fp" or "det"."""

    config_class = SVGConfig
    variant = "lp"

    @property
    def stochastic(self) -> bool:
        return self.variant != "det"

    @property
    def z_size(self) -> int:
        return self.config.z_dim if self.stochastic else 0

    # Data ------------------------------------------------------------------------
    def data_requirements(self):
        c = self.config
        return base.DataRequirements(clip_length=c.n_past + c.n_future, every_nth=c.every_nth)

    # Networks ----------------------------------------------------------------------
    def build(self):
        c, size = self.config, self.data_spec.image_size
        self.check_prediction_config()
        self.encoder = svg_nets.FrameEncoder(c.encoder_arch, size, c.g_dim, c.encoder_width)
        self.decoder = svg_nets.FrameDecoder(c.encoder_arch, size, c.g_dim, c.encoder_width,
                                             c.frame_channels)
        self.frame_predictor = svg_nets.PredictorLSTM(c.g_dim, c.rnn_size,
                                                      c.predictor_rnn_layers)
        frame = tf.zeros([1, size, size, c.frame_channels])
        h, skips = self.encoder(frame)
        self.decoder((h, skips))
        self.frame_predictor(tf.zeros([1, 1, c.g_dim + self.z_size]))
        if self.stochastic:
            self.posterior = svg_nets.GaussianLSTM(c.z_dim, c.rnn_size, c.posterior_rnn_layers,
                                                   name="posterior")
            self.posterior(tf.zeros([1, 1, c.g_dim]))
        if self.variant == "lp":
            self.prior = svg_nets.GaussianLSTM(c.z_dim, c.rnn_size, c.prior_rnn_layers,
                                               name="prior")
            self.prior(tf.zeros([1, 1, c.g_dim]))
        self.optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1, beta_2=c.beta2)
        self.optimizer.build(self.trainable_variables)
        self._rollouts = {}

    def networks(self) -> Dict[str, keras.Model]:
        nets = {"encoder": self.encoder, "decoder": self.decoder,
                "frame_predictor": self.frame_predictor}
        if self.stochastic:
            nets["posterior"] = self.posterior
        if self.variant == "lp":
            nets["prior"] = self.prior
        return nets

    def optimizers(self):
        return {"svg": self.optimizer}

    @property
    def trainable_variables(self):
        return [v for net in self.networks().values() for v in net.trainable_variables]

    def _encode(self, frames, training):
        """[B, T, S, S, C] -> h [B, T, g], skips (each [B, T, s, s, c]); one batched call."""
        batch = tf.shape(frames)[0]
        h, skips = self.encoder(prediction.merge_time(frames), training=training)
        return prediction.split_time(h, batch), [prediction.split_time(s, batch) for s in skips]

    def _decode(self, g, skips, sources, training):
        """g [B, T', g_dim], skips [B, T, ...] -> frames [B, T', S, S, C]; one batched call.

        Step t decodes with the skips of frame ``sources[t]`` (a static
        numpy index into T). The decoder gets the skips of the distinct
        source frames only (with the row of each step), so the skip half of
        its convolutions runs once per source frame, not once per step.
        """
        batch = tf.shape(g)[0]
        used, where = np.unique(sources, return_inverse=True)
        if np.array_equal(used, np.arange(len(used))):  # the first frames: a slice
            picked = [s[:, :len(used)] for s in skips]
        else:
            picked = [tf.gather(s, used, axis=1) for s in skips]
        where = where.astype(np.int32).reshape(-1)
        # Row of step t of video b in the merged [B * len(used), ...] skips.
        index = tf.reshape(tf.range(batch)[:, None] * len(used) + where[None, :], [-1])
        frames = self.decoder((prediction.merge_time(g), [prediction.merge_time(s) for s in picked], index),
                              training=training)
        return prediction.split_time(frames, batch)

    def skip_sources(self, num_frames: int) -> np.ndarray:
        """For targets t = 1..num_frames-1 (0-based): the frame whose skips Dec sees."""
        c = self.config
        t = np.arange(1, num_frames)
        return t - 1 if c.last_frame_skip else np.minimum(t - 1, c.n_past - 1)

    # Training ---------------------------------------------------------------------
    def reconstruct(self, frames01, eps, training=False):
        """Teacher-forced pass over a clip (the training graph), x^_2..x^_T.

        Args:
          frames01: real clip [B, T, S, S, C] in [0, 1] (model channels).
          eps: N(0, I) noise [B, T - 1, z] for the posterior samples (unused
            by the deterministic baseline).
          training: BatchNorm mode.
        Returns:
          dict with ``frames`` [B, T - 1, S, S, C] in [0, 1] and, for the
          stochastic variants, the per-step ``kl`` [B, T - 1, z] and
          ``posterior_logvar`` (and ``prior_logvar`` for SVG-LP) [B, T - 1, z].
        """
        num_frames = frames01.shape[1]
        h, skips = self._encode(frames01, training)
        h_in = h[:, :-1]
        inputs, out = h_in, {}
        if self.stochastic:
            mu, logvar, _ = self.posterior(h[:, 1:])
            inputs = tf.concat([h_in, losses.reparameterize(mu, logvar, eps)], axis=-1)
            out["posterior_logvar"] = logvar
            if self.variant == "lp":
                mu_p, logvar_p, _ = self.prior(h_in)
                out["prior_logvar"] = logvar_p
                out["kl"] = losses.kl_normal_normal(mu, logvar, mu_p, logvar_p)
            else:
                out["kl"] = losses.kl_standard_normal(mu, logvar)
        g, _ = self.frame_predictor(inputs)
        out["frames"] = self._decode(g, skips, self.skip_sources(num_frames), training)
        return out

    def train_step(self, batch, step, rng, global_batch_size):
        c = self.config
        x = self.to_model(batch["video"])
        steps = x.shape[1] - 1
        eps = (rng.normal(tf.stack([tf.shape(x)[0], steps, self.z_size]))
               if self.stochastic else None)
        with tf.GradientTape() as tape:
            out = self.reconstruct(x, eps, training=True)
            # Official MSELoss: mean over pixels, summed over the predicted steps.
            mse = tf.reduce_sum(tf.reduce_mean(tf.square(out["frames"] - x[:, 1:]),
                                               axis=[2, 3, 4]), axis=1)
            per_example = mse
            if self.stochastic:
                kl = tf.reduce_sum(out["kl"], axis=[1, 2])
                per_example = mse + c.beta * kl
            loss = base.average(per_example, global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.trainable_variables)
        metrics = {"loss": loss, "mse": base.average(mse / steps, global_batch_size)}
        if self.stochastic:
            metrics["kl"] = base.average(kl / steps, global_batch_size)
            # Mean sigma over z's dimensions and the steps (sigma = exp(logvar / 2)).
            for name in ("posterior", "prior"):
                if f"{name}_logvar" in out:
                    sigma = tf.reduce_mean(tf.exp(0.5 * out[f"{name}_logvar"]), axis=[1, 2])
                    metrics[f"{name}_sigma"] = base.average(sigma, global_batch_size)
        return metrics

    # Prediction --------------------------------------------------------------------
    def _draw(self, noise, batch, num_context, num_future):
        """eps for the context's posterior samples and the future's prior samples."""
        if not self.stochastic:
            return (tf.zeros(tf.stack([batch, num_context - 1, 0])),
                    tf.zeros(tf.stack([batch, num_future, 0])))
        return (noise.normal(tf.stack([batch, num_context - 1, self.z_size])),
                noise.normal(tf.stack([batch, num_future, self.z_size])))

    def _rollout(self, context01, eps_context, eps_future):
        """Context [B, n, S, S, C] in [0, 1] -> predicted frames [B, F, S, S, C] in [0, 1]."""
        num_context = context01.shape[1]
        batch = tf.shape(context01)[0]
        num_future = tf.shape(eps_future)[1]
        h, skips = self._encode(context01, training=False)
        predictor_state = self.frame_predictor.zero_state(batch)
        prior_state = self.prior.zero_state(batch) if self.variant == "lp" else ()
        if num_context > 1:  # warm the LSTMs up on the context, as the official generation
            inputs = h[:, :-1]
            if self.stochastic:
                mu, logvar, _ = self.posterior(h[:, 1:])
                inputs = tf.concat([inputs, losses.reparameterize(mu, logvar, eps_context)], -1)
            _, predictor_state = self.frame_predictor(inputs)
            if self.variant == "lp":
                _, _, prior_state = self.prior(h[:, :-1])
        h_prev = h[:, -1]
        skip = [s[:, -1] for s in skips]
        size, channels = context01.shape[2], context01.shape[-1]
        frames = tf.TensorArray(tf.float32, size=num_future,
                                element_shape=tf.TensorShape([None, size, size, channels]))
        for t in tf.range(num_future):
            if self.variant == "lp":
                mu_t, logvar_t, prior_state = self.prior.step(h_prev, prior_state)
                z = losses.reparameterize(mu_t, logvar_t, eps_future[:, t])
            else:
                z = eps_future[:, t]  # N(0, I) for SVG-FP; empty for the baseline
            g, predictor_state = self.frame_predictor.step(tf.concat([h_prev, z], -1),
                                                           predictor_state)
            x = self.decoder((g, skip), training=False)
            frames = frames.write(t, x)
            h_prev, new_skip = self.encoder(x, training=False)
            if self.config.last_frame_skip:
                skip = new_skip
        # An empty TensorArray cannot stack with an unknown batch size.
        out = tf.cond(num_future > 0, lambda: tf.transpose(frames.stack(), [1, 0, 2, 3, 4]),
                      lambda: tf.zeros([batch, 0, size, size, channels]))
        return tf.ensure_shape(out, [None, None, size, size, channels])

    def _rollout_fn(self, num_context: int):
        """The compiled rollout for ``num_context`` context frames (one trace each)."""
        if num_context not in self._rollouts:
            size, c = self.data_spec.image_size, self.config.frame_channels
            self._rollouts[num_context] = tf.function(self._rollout, input_signature=[
                tf.TensorSpec([None, num_context, size, size, c], tf.float32),
                tf.TensorSpec([None, num_context - 1, self.z_size], tf.float32),
                tf.TensorSpec([None, None, self.z_size], tf.float32)])
        return self._rollouts[num_context]

    def predict(self, context_frames, num_future, noise):
        """See ``PredictionTask.predict``: the context's posterior samples warm the
        LSTMs up, then each future step draws z from the prior (``noise``)."""
        context, num_context, channels = self.prepared_context(context_frames)
        batch = tf.shape(context)[0]
        eps_context, eps_future = self._draw(noise, batch, num_context, num_future)
        future = self._rollout_fn(num_context)(self.to_model(context), eps_context, eps_future)
        return self.from_model(future, channels)

    # Sampling and summaries ---------------------------------------------------------
    def sample_summaries(self, noise, batch=None) -> Dict[str, tf.Tensor]:
        """``prediction``: each row is the ground truth then prior samples; predicted
        frames have a red border. ``reconstruction`` (stochastic variants): truth
        beside the teacher-forced reconstruction with posterior z (what training sees).
        """
        named, truth = self.prediction_summaries(noise, batch)
        k, channels = truth.shape[0], truth.shape[-1]
        if self.stochastic and batch is not None and truth.shape[1] > 1:
            x = self.to_model(truth)
            eps = noise.normal([k, truth.shape[1] - 1, self.z_size])
            rec = self.from_model(self.reconstruct(x, eps)["frames"], channels)
            rec = tf.concat([truth[:, :1], prediction.mark_predicted(rec)], axis=1)
            named["reconstruction"] = prediction.side_by_side([truth, rec])
        return named


@registry.register_task("svg_lp")
class SVGLP(SVG):
    """SVG with a learned prior p_psi(z_t / x_1:t-1) (Eq. 6.6)."""
    variant = "lp"


@registry.register_task("svg_fp")
class SVGFP(SVG):
    """SVG with the fixed prior N(0, I) (Eq. 6.5)."""
    variant = "fp"


@registry.register_task("svg_det")
class SVGDeterministic(SVG):
    """The deterministic baseline: SVG's encoder, LSTM_theta and decoder without z."""
    variant = "det"
