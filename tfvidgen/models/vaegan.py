"""The multimodal VAE-GAN with a learned similarity metric (seed 000, Method II).

Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity
metric" (ICML), as used by seed 000 (sections III.C-D): the VAE's
reconstruction term is a Gaussian observation model on the l-th layer of a
GAN discriminator, p(Dis_l(x) | z) = N(Dis_l(x) | Dis_l(x~), I), and the
multimodal version has one discriminator per modality and the MVAE's
sub-sampled objective (``tfvidgen.models.mvae``)::

    L_llike^Dis_l(X) = sum_{x_i in X} lambda_i 1/2 ||Dis_l,i(x~_i) - Dis_l,i(x_i)||^2
    L_prior(X)       = beta KL(q(z | X) || p(z))            (product of experts)
    L_GAN,i          = log D_i(x_i) + log(1 - D_i(Dec_i(z_p)))  [+ log(1 - D_i(x~_i))]

summed over the joint, single and k random subsets X. Which network takes
which term (Larsen et al., Algorithm 1; official ``model/aegan.py``):

* encoder (experts): L_prior + L_llike;
* decoders: gamma L_llike - L_GAN (the ``--gan_loss`` generator loss; minimax
  is the paper's log(1 - D(Dec(z))), gamma = 1e-6 the official CelebA value);
* discriminators: L_GAN only (the llike path does not update them).

Fakes are decoded prior draws z_p ~ N(0, I) (the official CelebA setting)
and, with ``--discriminate_reconstructions`` (Larsen et al.'s L_GAN and
seed 000's Method II ELBO), the reconstructions x~ of every subset that
decodes the modality. All three updates use one forward pass (simultaneous
updates, as Algorithm 1); the official equilibrium heuristic (skipping D or
Dec updates by cost margins) is not used. ``--modality=video`` trains on
Method I's pairs (x_t-1, x_t) with a discriminator per frame modality; the
pixels the discriminators see are in [-1, 1] (2 sigmoid - 1 of the decoder's
logits), attributes are probabilities in [0, 1].
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from tfvidgen import losses, registry
from tfvidgen.models import base
from tfvidgen.models.mvae import MVAE, MVAEConfig, kl_weight, subset_names
from tfvidgen.nets import mvae_nets
from tfvidgen.settings import setting


@dataclasses.dataclass(frozen=True)
class VAEGANConfig(MVAEConfig):
    """VAE-GAN (Larsen et al. 2016: z 128, batch 64, RMSProp 3e-4; official CelebA gamma 1e-6).

    Sizes default to CPU size as MVAE's (``bin/train --model=vaegan`` with no other flag
    trains on the built-in data); Larsen et al.'s are in configs/vaegan_celeba.cfg.
    """
    batch_size: int = setting(8, "Clips (video) or images per step (CPU size; Larsen et al.: "
                              "64, configs/vaegan_celeba.cfg).", min=1)
    latent_dim: int = setting(64, "Size of z (CPU size; Larsen et al.: 128).", min=1)
    disc_width: int = setting(16, "Filters of the discriminators' first convolution "
                              "(w, 4w, 8w, 8w; CPU size; Larsen et al.: 32).", min=1)
    gamma: float = setting(1e-6, "Weight of L_llike against L_GAN in the decoders' loss "
                           "(official CelebA: 1e-6).", min=0.0)
    gan_loss: str = setting("minimax", "The decoders' and discriminators' GAN losses "
                            "(minimax: Larsen et al.'s log(1 - D(Dec(z))).",
                            choices=("minimax", "non_saturating"))
    discriminate_reconstructions: bool = setting(
        False, "Also show the discriminators the reconstructions (Larsen et al.'s L_GAN); "
        "default: prior samples only (official CelebA).")
    learning_rate: float = setting(3e-4, "RMSProp learning rate of the three networks "
                                   "(Larsen et al.: 3e-4).", min=0.0, min_exclusive=True)


@registry.register_task("vaegan")
class VAEGAN(MVAE):
    """Multimodal VAE-GAN (Method II of seed 000); see the module docstring."""

    config_class = VAEGANConfig

    def build(self):
        c = self.config
        self.discriminators = {}
        for name in self.modalities:
            if name == "attributes":
                self.discriminators[name] = mvae_nets.VectorDiscriminator(
                    c.hidden, name="attributes_discriminator")
            else:
                self.discriminators[name] = mvae_nets.ImageDiscriminator(
                    c.disc_width, name=f"{name}_discriminator")
        for name, d in self.discriminators.items():
            shape = [1, c.num_attributes] if name == "attributes" else \
                [1, self.data_spec.image_size, self.data_spec.image_size, self.channels]
            d(tf.zeros(shape), training=False)
        super().build()  # the experts, decoders and (build_optimizers) the optimizers

    def build_optimizers(self):
        rate = self.config.learning_rate
        self.encoder_optimizer = keras.optimizers.RMSprop(rate)
        self.decoder_optimizer = keras.optimizers.RMSprop(rate)
        self.discriminator_optimizer = keras.optimizers.RMSprop(rate)
        self.encoder_optimizer.build(self.encoder_variables)
        self.decoder_optimizer.build(self.decoder_variables)
        self.discriminator_optimizer.build(self.discriminator_variables)

    def networks(self):
        nets = dict(self.vae_networks())
        nets.update({f"{n}_discriminator": d for n, d in self.discriminators.items()})
        return nets

    def exported_networks(self):
        return self.vae_networks()

    def optimizers(self):
        return {"encoder": self.encoder_optimizer, "decoder": self.decoder_optimizer,
                "discriminator": self.discriminator_optimizer}

    @property
    def encoder_variables(self):
        return [v for k, n in self.vae_networks().items() if not k.endswith("_decoder")
                for v in n.trainable_variables]

    @property
    def decoder_variables(self):
        return [v for n in self.decoders.values() for v in n.trainable_variables]

    @property
    def discriminator_variables(self):
        return [v for n in self.discriminators.values() for v in n.trainable_variables]

    def discriminator_input(self, name, x01_or_attrs):
        """The model's [0, 1] pixels -> the discriminators' [-1, 1]; attributes as they are."""
        return x01_or_attrs if name == "attributes" else x01_or_attrs * 2.0 - 1.0

    def fake_input(self, name, logits):
        probs = tf.sigmoid(logits)
        return probs if name == "attributes" else probs * 2.0 - 1.0

    def train_step(self, batch, step, rng, global_batch_size):
        c = self.config
        gan = losses.gan_loss(c.gan_loss)
        inputs = self.batch_inputs(batch)
        targets = self.targets(inputs)
        rows = tf.shape(next(iter(targets.values())))[0]
        b = tf.shape(batch["video"])[0]
        masks = self.draw_subsets(rng)
        eps = rng.normal(tf.stack([masks.shape[0], rows, c.latent_dim]))
        z_prior = rng.normal(tf.stack([rows, c.latent_dim]))
        weight = kl_weight(step, c.kl_anneal_steps, c.beta)
        pairs = tf.cast(rows // b, tf.float32)  # rows per batch element (video: T - 1)

        def avg(values):
            return base.average(self.per_example(values, b), global_batch_size)
        with tf.GradientTape(persistent=True) as tape:
            real = {}
            for name in self.modalities:
                real[name] = self.discriminators[name](
                    self.discriminator_input(name, targets[name]), training=True)
            recon_fakes = {name: [] for name in self.modalities}

            def llike(name, target, logits):
                fake = self.fake_input(name, logits)
                if c.discriminate_reconstructions:
                    recon_fakes[name].append(fake)
                features = self.discriminators[name](fake, training=True)[1]
                sq = tf.square(features - real[name][1])
                return 0.5 * tf.reduce_sum(tf.reshape(sq, [tf.shape(sq)[0], -1]), axis=1)

            mu, logvar = self.experts(inputs, training=True)
            terms = self.subsampled_elbo(targets, mu, logvar, masks, eps, weight, True, llike)
            llike_total = tf.add_n([t["loss"] - weight * t["kl"] for t in terms])
            encoder_loss = avg(tf.add_n([t["loss"] for t in terms]))
            decoder_loss = c.gamma * avg(llike_total)
            d_loss, metrics = 0.0, {}
            for name in self.modalities:
                prior_fake = self.fake_input(name, self.decode(name, z_prior, True))
                fakes = [prior_fake] + recon_fakes[name]
                fake_logits = tf.stack([self.discriminators[name](f, training=True)[0]
                                        for f in fakes], axis=1)
                d_i = avg(gan.discriminator_loss(real[name][0], fake_logits))
                g_i = avg(gan.generator_loss(fake_logits))
                d_loss += d_i
                decoder_loss += g_i
                metrics.update({f"d_{name}_loss": d_i, f"g_{name}_loss": g_i,
                                f"d_{name}_real": avg(tf.sigmoid(real[name][0])) / pairs,
                                f"d_{name}_fake": avg(tf.reduce_mean(tf.sigmoid(fake_logits),
                                                                     axis=1)) / pairs})
        base.apply_gradients(self.encoder_optimizer, tape, encoder_loss, self.encoder_variables)
        base.apply_gradients(self.decoder_optimizer, tape, decoder_loss, self.decoder_variables)
        base.apply_gradients(self.discriminator_optimizer, tape, d_loss,
                             self.discriminator_variables)
        del tape
        metrics.update({"encoder_loss": encoder_loss, "decoder_loss": decoder_loss})
        names = subset_names(self.modalities, c.random_subsets)
        metrics.update({f"kl_{n}": avg(t["kl"]) for n, t in zip(names, terms)})
        for key, value in terms[0].items():
            if key.startswith("nll_"):
                metrics["llike_" + key[4:]] = avg(value)
        metrics["kl_weight"] = base.average(tf.fill(tf.reshape(b, [1]), weight),
                                            global_batch_size)
        return metrics
