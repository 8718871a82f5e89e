"""Sequential VAEs: the Disentangled Sequential Autoencoder and RJVAE, as Tasks.

DSA (Li & Mandt 2018, "Disentangled Sequential Autoencoder", ICML; seed 003,
section 3): a static code f (256) drawn once per video and dynamic codes
z_t (32) from an LSTM prior; frame t is decoded from [z_t, f]::

    p(x_1:T, f, z_1:T) = p(f) prod_t p(z_t | z_<t) p(x_t | z_t, f)
    p(f) = N(0, I),  p(z_t | z_<t) = N(mu_psi(h_t), sigma_psi(h_t)),  h_t = LSTM(z_t-1)
    q(f | x_1:T)     bidirectional LSTM over the frame features
    q(z_t | x_t)     factorized (default), or
    q(z_1:T | f, x_1:T)  full: bidirectional LSTM then an RNN over [features, f]

RJVAE (seed 003, section 4.1, Fig. 2 b-d): a summary vector mu and residuals
delta_t, frame t decoded from z_t = mu + delta_t::

    p(mu) = N(0, sigma^2 I),  p(delta_t | delta_<t, mu) from an LSTM on [mu, delta_t-1]
    q(mu | x_1:T)    bidirectional LSTM over the frame features
    q(delta_t | x_t, mu)   per frame, from [features_t, mu]

The summary frame is Dec(mu). The networks are DSA's (``nets/dsa_nets.py``)
so that the comparison is like for like; RJVAE's latent is 288 = 256 + 32
wide, the size of DSA's decoder input.

Both maximise the ELBO with one reparameterised sample (Kingma & Welling
2014)::

    ELBO = sum_t E_q[log p(x_t | .)] - KL(q(g | x) || p(g))
           - sum_t E_q[KL(q(l_t | .) || p(l_t | l_<t, .))]

with g the global code (f, mu) and l_t the local one (z_t, delta_t). Both
KL terms are closed forms between diagonal Gaussians (``losses.py``); the
prior of l_t is evaluated at the posterior samples l_<t (as TFP's official
``disentangled_vae.py``, which estimates all terms by sampling). The
likelihood is TFP's: Normal(mean, ``likelihood_std``) per pixel on [0, 1]
pixels (scale 1 by default). The loss is -ELBO per video, in nats.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict

import keras
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import base
from tfvidgen.models.prediction import merge_time, side_by_side, split_time
from tfvidgen.nets import dsa_nets, svg_nets
from tfvidgen.settings import Settings, setting


@dataclasses.dataclass(frozen=True)
class SequentialVAEConfig(Settings):
    """Settings shared by DSA and RJVAE (TFP's disentangled_vae.py flags)."""
    batch_size: int = setting(32, "Clips per step (TFP: 32).", min=1)
    frames: int = setting(8, "Frames per training clip (Sprites: 8).", min=1)
    every_nth: int = setting(1, "Temporal stride of training clips.", min=1)
    hidden: int = setting(512, "Units of the LSTMs, dense layers and frame features.", min=1)
    conv_width: int = setting(256, "Filters of the frame encoder/decoder convolutions.", min=1)
    likelihood_std: float = setting(1.0, "Scale of the Gaussian p(x_t | .) on [0, 1] pixels "
                                    "(TFP: 1).", min=0.0, min_exclusive=True)
    learning_rate: float = setting(1e-4, "Adam learning rate.", min=0.0, min_exclusive=True)
    decay_steps: int = setting(10000, "Cosine decay of the learning rate to 0 over this many "
                               "steps (TFP: max_steps 10000); 0: constant.", min=0)


@dataclasses.dataclass(frozen=True)
class DSAConfig(SequentialVAEConfig):
    """DSA (Li & Mandt 2018): f 256, z_t 32, factorized or full q(z)."""
    static_dim: int = setting(256, "Size of the static code f.", min=1)
    dynamic_dim: int = setting(32, "Size of the dynamic codes z_t.", min=1)
    posterior: str = setting("factorized", "q(z): factorized q(z_t | x_t) or full "
                             "q(z_1:T | f, x_1:T).", choices=("factorized", "full"))


@dataclasses.dataclass(frozen=True)
class RJVAEConfig(SequentialVAEConfig):
    """RJVAE (seed 003, section 4.1)."""
    latent_dim: int = setting(288, "Size of mu, delta_t and z_t = mu + delta_t (288: DSA's "
                              "decoder input, f 256 + z 32).", min=1)
    summary_std: float = setting(1.0, "sigma of the prior p(mu) = N(0, sigma^2 I).", min=0.0,
                                 min_exclusive=True)


def to01(videos):
    return (tf.convert_to_tensor(videos, tf.float32) + 1.0) * 0.5


def from01(frames):
    return tf.clip_by_value(frames, 0.0, 1.0) * 2.0 - 1.0


class SequentialVAE(base.Task):
    """A global code g and local codes l_t (see the module docstring).

    Subclasses set the names and sizes and say how l_t's posterior, the
    prior's input and the decoder's input are formed from g.
    """

    global_name, local_name = "static", "dynamic"

    # Sizes and the pieces that differ -------------------------------------------------
    @property
    def global_dim(self) -> int:
        raise NotImplementedError

    @property
    def local_dim(self) -> int:
        raise NotImplementedError

    @property
    def global_std(self) -> float:
        return 1.0

    def prior_condition(self, g):
        """What the prior of l_t sees besides l_t-1 ([B, 0] or [B, G])."""
        raise NotImplementedError

    def local_posterior(self, features, g):
        """(mean, log-variance) [B, T, L] of q(l_t | .)."""
        raise NotImplementedError

    def decoder_input(self, g, l):
        """g [B, G], l [B, T, L] -> [B, T, D]."""
        raise NotImplementedError

    def make_local_posterior(self):
        raise NotImplementedError

    # Task contract -------------------------------------------------------------------
    def data_requirements(self):
        return base.DataRequirements(clip_length=self.config.frames,
                                     every_nth=self.config.every_nth)

    def build(self):
        c, size, channels = self.config, self.data_spec.image_size, self.data_spec.channels
        self.encoder = dsa_nets.FrameEncoder(size, c.conv_width, c.hidden)
        self.decoder = dsa_nets.FrameDecoder(size, c.conv_width, c.hidden, channels)
        self.posterior_global = dsa_nets.SequenceGaussian(
            self.global_dim, c.hidden, name=f"posterior_{self.global_name}")
        self.posterior_local = self.make_local_posterior()
        self.prior = svg_nets.GaussianLSTM(self.local_dim, c.hidden, 1, name="prior")
        x = tf.zeros([1, 2, size, size, channels])
        out = self.infer(x, tf.zeros([1, self.global_dim]), tf.zeros([1, 2, self.local_dim]))
        self.decode(out["g"], out["l"])
        rate = c.learning_rate
        if c.decay_steps:
            rate = keras.optimizers.schedules.CosineDecay(c.learning_rate, c.decay_steps)
        self.optimizer = keras.optimizers.Adam(rate)
        self.optimizer.build(self.trainable_variables)

    def networks(self) -> Dict[str, keras.Model]:
        return {"encoder": self.encoder, "decoder": self.decoder,
                f"posterior_{self.global_name}": self.posterior_global,
                f"posterior_{self.local_name}": self.posterior_local, "prior": self.prior}

    def optimizers(self):
        return {"vae": self.optimizer}

    @property
    def trainable_variables(self):
        return [v for net in self.networks().values() for v in net.trainable_variables]

    # Inference and generation ---------------------------------------------------------
    def features(self, x01):
        """Frames [B, T, S, S, C] in [0, 1] -> features [B, T, hidden] (one batched call)."""
        return split_time(self.encoder(merge_time(x01)), tf.shape(x01)[0])

    def infer(self, x01, eps_global, eps_local):
        """Posterior samples and the prior of l_t at them.

        Args:
          x01: clips [B, T, S, S, C] in [0, 1].
          eps_global: N(0, I) [B, G]; zeros give the posterior mean.
          eps_local: N(0, I) [B, T, L]; zeros give the posterior means.
        Returns:
          dict: g [B, G], l [B, T, L], q_g (mean, logvar), q_l (mean, logvar),
          p_l (mean, logvar) [B, T, L].
        """
        h = self.features(x01)
        mu_g, logvar_g = self.posterior_global(h)
        g = losses.reparameterize(mu_g, logvar_g, eps_global)
        mu_l, logvar_l = self.local_posterior(h, g)
        l = losses.reparameterize(mu_l, logvar_l, eps_local)
        previous = tf.concat([tf.zeros_like(l[:, :1]), l[:, :-1]], axis=1)
        cond = self.prior_condition(g)
        cond = tf.broadcast_to(cond[:, None], tf.concat([tf.shape(l)[:2], tf.shape(cond)[1:]], 0))
        mu_p, logvar_p, _ = self.prior(tf.concat([cond, previous], -1))
        return {"g": g, "l": l, "q_g": (mu_g, logvar_g), "q_l": (mu_l, logvar_l),
                "p_l": (mu_p, logvar_p)}

    def kl_terms(self, out):
        """Per-example KL(q(g) || p(g)) [B] and sum_t KL(q(l_t) || p(l_t | .)) [B]."""
        mu_g, logvar_g = out["q_g"]
        prior_logvar = tf.fill(tf.shape(mu_g), 2.0 * math.log(self.global_std))
        kl_g = losses.kl_normal_normal(mu_g, logvar_g, tf.zeros_like(mu_g), prior_logvar)
        kl_l = losses.kl_normal_normal(*out["q_l"], *out["p_l"])
        return tf.reduce_sum(kl_g, axis=1), tf.reduce_sum(kl_l, axis=[1, 2])

    def decode(self, g, l):
        """Frame means [B, T, S, S, C] (on [0, 1] pixels) of codes g [B, G], l [B, T, L]."""
        return split_time(self.decoder(merge_time(self.decoder_input(g, l))), tf.shape(l)[0])

    def prior_rollout(self, g, eps):
        """l_1..l_T from the LSTM prior given g, with noise eps [B, T, L]."""
        batch, steps = tf.shape(eps)[0], tf.shape(eps)[1]
        cond = self.prior_condition(g)
        dim = self.local_dim

        def body(t, previous, state, out):
            mu, logvar, state = self.prior.step(tf.concat([cond, previous], -1), state)
            l = losses.reparameterize(mu, logvar, eps[:, t])
            return t + 1, l, state, out.write(t, l)

        out = tf.TensorArray(tf.float32, size=steps, element_shape=tf.TensorShape([None, dim]))
        _, _, _, out = tf.while_loop(
            lambda t, *_: t < steps, body,
            (tf.constant(0), tf.zeros(tf.stack([batch, dim])), self.prior.zero_state(batch), out))
        codes = tf.cond(steps > 0, lambda: tf.transpose(out.stack(), [1, 0, 2]),
                        lambda: tf.zeros(tf.stack([batch, 0, dim])))
        return tf.ensure_shape(codes, [None, None, dim])

    def sample_codes(self, noise, num_videos, num_frames):
        g = self.global_std * noise.normal(tf.stack([num_videos, self.global_dim]))
        eps = noise.normal(tf.stack([num_videos, num_frames, self.local_dim]))
        return g, self.prior_rollout(g, eps)

    def sample(self, noise, num_videos, num_frames, context=None):
        """Videos from the prior: g ~ p(g), l_t ~ p(l_t | l_<t, .), x_t = Dec(.) (means)."""
        del context
        return from01(self.decode(*self.sample_codes(noise, num_videos, num_frames)))

    def encode_means(self, videos):
        """Posterior means (g [B, G], l [B, T, L]) of clips in [-1, 1]."""
        x = to01(videos)
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        out = self.infer(x, tf.zeros(tf.stack([batch, self.global_dim])),
                         tf.zeros(tf.stack([batch, steps, self.local_dim])))
        return out["g"], out["l"]

    def reconstruct(self, videos):
        """Clips [B, T, S, S, C] in [-1, 1] decoded from their posterior means."""
        return from01(self.decode(*self.encode_means(videos)))

    def swap(self, videos_a, videos_b):
        """(Dec(g_b, l_a), Dec(g_a, l_b)): a's motion with b's global code, and back."""
        g_a, l_a = self.encode_means(videos_a)
        g_b, l_b = self.encode_means(videos_b)
        return from01(self.decode(g_b, l_a)), from01(self.decode(g_a, l_b))

    # Training ----------------------------------------------------------------------------
    def negative_elbo(self, x01, eps_global, eps_local):
        """Per-example terms of -ELBO: dict nll, kl_global, kl_local, loss [B], and mse [B]."""
        out = self.infer(x01, eps_global, eps_local)
        mean = self.decode(out["g"], out["l"])
        std = self.config.likelihood_std
        sq = tf.square(x01 - mean)
        size = tf.cast(tf.reduce_prod(tf.shape(x01)[1:]), tf.float32)
        nll = (0.5 * tf.reduce_sum(sq, axis=[1, 2, 3, 4]) / std ** 2
               + size * (math.log(std) + 0.5 * math.log(2.0 * math.pi)))
        kl_g, kl_l = self.kl_terms(out)
        return {"loss": nll + kl_g + kl_l, "nll": nll, "kl_global": kl_g, "kl_local": kl_l,
                "mse": tf.reduce_mean(sq, axis=[1, 2, 3, 4])}

    def train_step(self, batch, step, rng, global_batch_size):
        x = to01(batch["video"])
        b = tf.shape(x)[0]
        eps_g = rng.normal(tf.stack([b, self.global_dim]))
        eps_l = rng.normal(tf.stack([b, x.shape[1], self.local_dim]))
        with tf.GradientTape() as tape:
            terms = self.negative_elbo(x, eps_g, eps_l)
            loss = base.average(terms["loss"], global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.trainable_variables)
        names = {"nll": "nll", "mse": "mse", "kl_global": f"kl_{self.global_name}",
                 "kl_local": f"kl_{self.local_name}"}
        metrics = {"loss": loss}
        metrics.update({new: base.average(terms[old], global_batch_size)
                        for old, new in names.items()})
        return metrics

    # Summaries and serving --------------------------------------------------------------
    def sample_summaries(self, noise, batch=None):
        """samples (prior); with a real batch: reconstruction (truth | reconstruction) and
        swap (a | b | b's global code with a's local codes | a's global with b's local)."""
        named = {"samples": self.sample(noise, 8, self.default_num_frames)}
        if batch is not None and "video" in batch:
            truth = tf.convert_to_tensor(batch["video"], tf.float32)[:8]
            named["reconstruction"] = side_by_side([truth, self.reconstruct(truth)])
            other = tf.roll(truth, 1, axis=0)
            swapped = self.swap(truth, other)
            named["swap"] = side_by_side([truth, other, *swapped])
        return named

    def serving_signatures(self):
        sigs = dict(super().serving_signatures())
        task, size, channels = self, self.data_spec.image_size, self.data_spec.channels
        video = tf.TensorSpec([None, None, size, size, channels], tf.uint8)

        def real(v):
            return tf.cast(v, tf.float32) / 127.5 - 1.0

        @tf.function(input_signature=[tf.TensorSpec(video.shape, tf.uint8, name="video")])
        def reconstruct(video):
            return task.reconstruct_outputs(real(video))

        @tf.function(input_signature=[tf.TensorSpec(video.shape, tf.uint8, name="video_a"),
                                      tf.TensorSpec(video.shape, tf.uint8, name="video_b")])
        def swap(video_a, video_b):
            a, b = task.swap(real(video_a), real(video_b))
            return {f"{task.global_name}_from_b": base.to_uint8(a),
                    f"{task.local_name}_from_b": base.to_uint8(b)}

        sigs.update(reconstruct=reconstruct, swap=swap)
        return sigs

    def reconstruct_outputs(self, videos):
        return {"video": base.to_uint8(self.reconstruct(videos))}


@registry.register_task("dsa")
class DSA(SequentialVAE):
    """Disentangled Sequential Autoencoder (Li & Mandt 2018); ``--posterior`` picks
    the factorized (default) or full inference model."""

    config_class = DSAConfig
    global_name, local_name = "static", "dynamic"

    @property
    def global_dim(self):
        return self.config.static_dim

    @property
    def local_dim(self):
        return self.config.dynamic_dim

    def make_local_posterior(self):
        c = self.config
        if c.posterior == "full":
            return dsa_nets.FullPosterior(c.dynamic_dim, c.hidden, name="posterior_dynamic")
        return dsa_nets.GaussianHead(c.dynamic_dim, c.hidden, name="posterior_dynamic")

    def prior_condition(self, g):
        return tf.zeros(tf.stack([tf.shape(g)[0], 0]))  # p(z_t | z_<t): no f

    def local_posterior(self, features, g):
        if self.config.posterior == "full":
            return self.posterior_local((features, g))
        return self.posterior_local(features)

    def decoder_input(self, g, l):
        g = tf.broadcast_to(g[:, None], tf.concat([tf.shape(l)[:2], tf.shape(g)[1:]], 0))
        return tf.concat([l, g], axis=-1)


@registry.register_task("rjvae")
class RJVAE(SequentialVAE):
    """Residual Joint VAE (seed 003, section 4.1): z_t = mu + delta_t."""

    config_class = RJVAEConfig
    global_name, local_name = "summary", "residual"

    @property
    def global_dim(self):
        return self.config.latent_dim

    @property
    def local_dim(self):
        return self.config.latent_dim

    @property
    def global_std(self):
        return self.config.summary_std

    def make_local_posterior(self):
        return dsa_nets.GaussianHead(self.config.latent_dim, self.config.hidden,
                                     name="posterior_residual")

    def prior_condition(self, g):
        return g  # p(delta_t | delta_t-1, mu)

    def local_posterior(self, features, g):
        g = tf.broadcast_to(g[:, None], tf.concat([tf.shape(features)[:2], tf.shape(g)[1:]], 0))
        return self.posterior_local(tf.concat([features, g], axis=-1))

    def decoder_input(self, g, l):
        return g[:, None] + l

    def summary_frames(self, g):
        """Dec(mu): the summary frames [B, S, S, C] in [-1, 1] of summary vectors [B, G]."""
        return from01(self.decoder(g))

    def sample_images(self, noise, num_images, context=None):
        """Image generation as in the paper: Dec(mu) with mu ~ p(mu)."""
        del context
        return self.summary_frames(
            self.global_std * noise.normal(tf.stack([num_images, self.global_dim])))

    def reconstruct_outputs(self, videos):
        g, l = self.encode_means(videos)
        return {"video": base.to_uint8(from01(self.decode(g, l))),
                "summary": base.to_uint8(self.summary_frames(g))}

    def sample_summaries(self, noise, batch=None):
        """DSA's, plus summary frames Dec(mu) with mu from the prior and, with a batch,
        from q(mu | x_1:T) (Fig. 7 of seed 003)."""
        named = super().sample_summaries(noise, batch)
        named["summary_prior"] = self.sample_images(noise, 8)
        if batch is not None and "video" in batch:
            truth = tf.convert_to_tensor(batch["video"], tf.float32)[:8]
            named["summary_posterior"] = self.summary_frames(self.posterior_summary(truth, noise))
        return named

    def posterior_summary(self, videos, noise):
        """mu ~ q(mu | x_1:T) [B, G] for clips in [-1, 1] (one reparameterised draw)."""
        mu, logvar = self.posterior_global(self.features(to01(videos)))
        return losses.reparameterize(mu, logvar, noise.normal(tf.shape(mu)))
