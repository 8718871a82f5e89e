"""Shared machinery of the MoCoGAN family: two discriminators, one G_I.

MoCoGAN, RMoCoGAN and RJGAN (seed 003, sections 3, 4.1, 4.2) differ only in
how the sequence of frame latents z(t) is drawn. This module implements
everything else once, as in the official MoCoGAN trainer:

* S_T / S_1 sampling of generated videos: the video discriminator D_V sees
  fixed-length clips, the image discriminator D_I single frames; a generated
  frame for D_I is taken at a random time t < kappa, with kappa drawn from
  the empirical distribution of training video lengths (capped at the clip
  length, as the official code generates its image batch from
  ``video_length``-frame videos).
* One iteration = D_I update, D_V update, generator (G_I + recurrent nets)
  update (``tfvidgen.models.adversarial``), with the non-saturating losses
  of ``tfvidgen.losses`` by default (``--gan_loss`` chooses another pair;
  ``--n_critic`` repeats the two discriminator updates on fresh real and
  generated batches before the generator's).
* ``share_fakes``: the official code draws a new batch of fakes for each of
  its three updates. By default one batch is drawn and used by the two
  discriminator updates (detached) and then by the generator update; the
  three fresh batches are i.i.d. draws from the same generator (its
  weights do not change between them), so this is the same stochastic
  gradient in expectation at a third of the generator's forward cost.
  ``--noshare_fakes`` restores the official schedule.

Subclasses implement ``draw_codes`` (the random inputs) and
``frame_latents`` (codes -> z(t)).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import keras
import tensorflow as tf

from tfvidgen import losses
from tfvidgen.models import adversarial, base
from tfvidgen.models.config import GANConfig
from tfvidgen.nets import dcgan


@dataclasses.dataclass
class Codes:
    """Random inputs of a batch of videos; any field may be shared (broadcast)."""
    content: tf.Tensor            # [B, content size]: z_C, mu, ...
    motion_state: tf.Tensor       # [B, hidden]: GRU initial state h(0)
    motion_noise: tf.Tensor       # [B, T, noise size]: eps(t)
    category: Optional[tf.Tensor] = None  # [B] int32 when num_categories > 0


@dataclasses.dataclass
class Fakes:
    """One draw of generated data for the adversarial step."""
    codes: Codes                  # the videos' random inputs
    videos: tf.Tensor             # [B, T, H, W, C] for D_V
    images: tf.Tensor             # [B * k, H, W, C] for D_I (S_1 of other latent videos)
    extra: Optional[tf.Tensor]    # extra images for D_I (RJGAN's summary frames) or None


def flatten_images(images):
    """[B, k, H, W, C] real frames -> [B * k, H, W, C], D_I's batch."""
    return tf.reshape(images, tf.concat([[-1], tf.shape(images)[2:]], 0))


def adam(config: GANConfig):
    return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta1,
                                 beta_2=config.beta2, epsilon=1e-8)


class VideoGANTask(base.Task):
    """Base Task of MoCoGAN-style video GANs (G_I + recurrent latent model, D_I, D_V)."""

    config_class = GANConfig
    config: GANConfig

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        if config.num_categories and data_spec.num_classes \
                and config.num_categories != data_spec.num_classes:
            raise ValueError(f"--num_categories={config.num_categories} but the dataset has "
                             f"{data_spec.num_classes} classes "
                             f"({', '.join(data_spec.class_names)}).")

    # Subclass interface ------------------------------------------------------------
    def make_latent_networks(self) -> Dict[str, keras.layers.Layer]:
        """The recurrent/residual networks that produce z(t), by checkpoint key."""
        raise NotImplementedError

    def draw_codes(self, noise, batch_size, num_frames) -> Codes:
        raise NotImplementedError

    def frame_latents(self, codes: Codes, num_frames, training) -> tf.Tensor:
        """z(t) without the category one-hot: [B, T, d]."""
        raise NotImplementedError

    def generator_input_dim(self) -> int:
        raise NotImplementedError

    # Task ------------------------------------------------------------------------
    def data_requirements(self):
        return base.DataRequirements(clip_length=self.config.clip_length,
                                     every_nth=self.config.every_nth,
                                     images_per_video=self.config.images_per_video,
                                     real_batches=self.config.n_critic)

    @property
    def num_categories(self):
        return self.config.num_categories

    def build(self):
        c, size = self.config, self.data_spec.image_size
        self.image_generator = dcgan.ImageGenerator(size, c.ngf, self.data_spec.channels)
        self.image_discriminator = dcgan.PatchImageDiscriminator(size, c.ndf)
        self.video_discriminator = dcgan.VideoDiscriminator(size, c.ndf, c.num_categories)
        if c.clip_length < self.video_discriminator.min_frames():
            raise ValueError(
                f"--clip_length={c.clip_length} is too short for D_V at {size}x{size}: it needs "
                f"at least {self.video_discriminator.min_frames()} frames.")
        self.latent_networks = self.make_latent_networks()
        channels = self.data_spec.channels
        base.build_by_calling(self.image_generator, [self.generator_input_dim() + c.num_categories])
        base.build_by_calling(self.image_discriminator, [size, size, channels])
        base.build_by_calling(self.video_discriminator, [c.clip_length, size, size, channels])
        # The latent networks create their variables on a first call.
        self.frame_latents(self.draw_codes(base.StatelessNoise(0), 1, 2), 2, training=False)
        self.generator_optimizer = adam(c)
        self.image_discriminator_optimizer = adam(c)
        self.video_discriminator_optimizer = adam(c)
        # Keras 3 optimizers must be built before the first distributed step.
        self.generator_optimizer.build(self.generator_variables)
        self.image_discriminator_optimizer.build(self.image_discriminator.trainable_variables)
        self.video_discriminator_optimizer.build(self.video_discriminator.trainable_variables)
        self.gan_loss = adversarial.gan_loss_from_config(c)
        self.build_generator_ema()

    @property
    def generator_variables(self):
        variables = list(self.image_generator.trainable_variables)
        for net in self.latent_networks.values():
            variables += net.trainable_variables
        return variables

    def generator_networks(self):
        return {"image_generator": self.image_generator, **self.latent_networks}

    def networks(self):
        nets = {"image_generator": self.image_generator,
                "image_discriminator": self.image_discriminator,
                "video_discriminator": self.video_discriminator}
        nets.update(self.latent_networks)
        return nets

    def exported_networks(self):
        return {k: v for k, v in self.networks().items() if "discriminator" not in k}

    def optimizers(self):
        return {"generator": self.generator_optimizer,
                "image_discriminator": self.image_discriminator_optimizer,
                "video_discriminator": self.video_discriminator_optimizer}

    def warm_start(self):
        return base.warm_start_image_generator(self)

    # Generation --------------------------------------------------------------------
    def draw_category(self, noise, batch_size):
        """A uniformly drawn category per video (None when unconditional)."""
        if not self.num_categories:
            return None
        return tf.cast(noise.uniform([batch_size], 0, self.num_categories, dtype=tf.int64), tf.int32)

    def draw_motion_state(self, noise, batch_size, units):
        """h(0) of the motion GRU (``--motion_initial_state``): N(0, I), or zeros.

        The normal draw is made in both cases, so the other codes drawn after
        it from the same noise stream do not depend on the setting.
        """
        h0 = noise.normal([batch_size, units])
        return tf.zeros_like(h0) if self.config.motion_initial_state == "zeros" else h0

    def _with_category(self, z, codes: Codes):
        if not self.num_categories:
            return z
        onehot = tf.one_hot(codes.category, self.num_categories, dtype=z.dtype)
        onehot = tf.broadcast_to(onehot[:, None, :], tf.concat([tf.shape(z)[:2], [self.num_categories]], 0))
        return tf.concat([z, onehot], axis=-1)

    def render(self, z, training):
        """G_I over every frame of z [B, T, d] at once -> [B, T, H, W, C]."""
        shape = tf.shape(z)
        frames = self.image_generator(tf.reshape(z, [shape[0] * shape[1], z.shape[-1]]),
                                      training=training)
        return tf.reshape(frames, tf.concat([shape[:2], tf.shape(frames)[1:]], 0))

    def generate_videos(self, codes: Codes, num_frames, training):
        return self.render(self._with_category(self.frame_latents(codes, num_frames, training),
                                               codes), training)

    def _sample_kappa_times(self, noise, batch_size, num_frames):
        """S_1 on generated videos: a frame t < kappa, kappa ~ data lengths capped at T."""
        probs = list(self.data_spec.length_probs)[:num_frames + 1]
        if len(probs) > 1 and sum(probs[1:]) > 0:
            capped = probs[1:num_frames] + [sum(self.data_spec.length_probs[num_frames:])]
            logits = tf.math.log(tf.constant([capped], tf.float32) + 1e-12)
            u = noise.uniform([batch_size, len(capped)], 1e-6, 1.0)
            kappa = tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32) + 1
        else:
            kappa = tf.fill([batch_size], num_frames)
        u = noise.uniform([batch_size], 0.0, 1.0)
        return tf.minimum(tf.cast(u * tf.cast(kappa, tf.float32), tf.int32), kappa - 1)

    def generate_images(self, noise, batch_size, training):
        """Generated frames for D_I: one random frame of each of batch_size latent videos."""
        T = self.config.clip_length
        codes = self.draw_codes(noise, batch_size, T)
        z = self._with_category(self.frame_latents(codes, T, training), codes)
        t = self._sample_kappa_times(noise, batch_size, T)
        return self.image_generator(tf.gather(z, t, axis=1, batch_dims=1), training=training)

    def extra_fake_images(self, noise, batch_size, step, training) -> Optional[tf.Tensor]:
        """Additional generated images judged by D_I (RJGAN's summary frames)."""
        return None

    def sample(self, noise, num_videos, num_frames, codes: Optional[Codes] = None):
        if codes is None:
            codes = self.draw_codes(noise, num_videos, num_frames)
        return self.generate_videos(codes, num_frames, training=False)

    def sample_summaries(self, noise, batch=None):
        return {"samples": self.sample(noise, 8, self.config.clip_length),
                "fixed_content": self.sample_with_content(noise, 4, self.config.clip_length)}

    def sample_with_content(self, noise, num_videos, num_frames, content_noise=None):
        """Videos that share one content code (z_C or mu) but have new motion."""
        codes = self.draw_codes(noise, num_videos, num_frames)
        shared = self.draw_codes(content_noise or noise, 1, num_frames)
        codes.content = tf.broadcast_to(shared.content, tf.shape(codes.content))
        if codes.category is not None:
            codes.category = tf.broadcast_to(shared.category, tf.shape(codes.category))
        return self.generate_videos(codes, num_frames, training=False)

    def sample_with_motion(self, noise, num_videos, num_frames, motion_noise=None):
        """Videos that share one motion (GRU state and noise) but have new content."""
        codes = self.draw_codes(noise, num_videos, num_frames)
        shared = self.draw_codes(motion_noise or noise, 1, num_frames)
        codes.motion_state = tf.broadcast_to(shared.motion_state, tf.shape(codes.motion_state))
        codes.motion_noise = tf.broadcast_to(shared.motion_noise, tf.shape(codes.motion_noise))
        return self.generate_videos(codes, num_frames, training=False)

    def sample_images(self, noise, num_images):
        return self.generate_images(noise, num_images, training=False)

    # One iteration -------------------------------------------------------------------
    def train_step(self, batch, step, rng, global_batch_size):
        """D_I and D_V updates (``n_critic`` rounds), then the generator update.

        The adversarial step of ``tfvidgen.models.adversarial`` with D_I on
        S_1 frames (plus RJGAN's summary-frame terms) and D_V on S_T clips
        (plus the label cross-entropy of a categorical D_V).
        """
        c = self.config
        real_batches = adversarial.split_real_batches(batch, c.n_critic)
        first = real_batches[0]
        num_videos = tf.shape(first["video"])[0]
        num_images = num_videos * tf.shape(first["image"])[1]
        global_images = global_batch_size * c.images_per_video
        T = c.clip_length

        def draw_fakes():
            codes = self.draw_codes(rng, num_videos, T)
            videos = self.generate_videos(codes, T, training=True)
            images = self.generate_images(rng, num_images, training=True)
            extra = self.extra_fake_images(rng, num_images, step, training=True)
            return Fakes(codes, videos, images, extra)

        def extra_discriminator_loss(real_images, fakes):
            if fakes.extra is None:
                return None
            return self.extra_discriminator_loss(real_images, tf.stop_gradient(fakes.extra),
                                                 step, global_images)

        def extra_generator_loss(fakes):
            if fakes.extra is None:
                return None
            return self.extra_generator_loss(fakes.extra, step, global_images)

        categorical = bool(self.num_categories)
        image_critic = adversarial.Critic(
            "image", self.image_discriminator, self.image_discriminator_optimizer,
            real_inputs=lambda b: flatten_images(b["image"]),
            fake_inputs=lambda f: f.images, global_batch_size=global_images,
            extra_loss=extra_discriminator_loss)
        video_critic = adversarial.Critic(
            "video", self.video_discriminator, self.video_discriminator_optimizer,
            real_inputs=lambda b: b["video"], fake_inputs=lambda f: f.videos,
            global_batch_size=global_batch_size, scores=lambda out: out[..., :1],
            real_auxiliary_loss=(lambda out, b: losses.categorical_cross_entropy_loss(
                b["label"], out[..., 1:])) if categorical else None,
            fake_auxiliary_loss=(lambda out, f: losses.categorical_cross_entropy_loss(
                f.codes.category, out[..., 1:])) if categorical else None)
        generator = adversarial.Generator(self.generator_variables, self.generator_optimizer,
                                          extra_loss=extra_generator_loss)
        metrics = adversarial.train_step(
            [image_critic, video_critic], generator, real_batches, draw_fakes, self.gan_loss,
            rng, share_fakes=c.share_fakes, l2_weight_decay=c.weight_decay)
        self.update_generator_ema()
        return metrics

    def extra_discriminator_loss(self, real_images, extra_images, step, global_images):
        raise NotImplementedError

    def extra_generator_loss(self, extra_images, step, global_images):
        raise NotImplementedError

    # Serving ---------------------------------------------------------------------------
    def serving_signatures(self):
        sigs = super().serving_signatures()
        task = self

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_videos"),
                                      tf.TensorSpec([], tf.int64, name="content_seed")])
        def sample_with_content(seed, num_videos, content_seed):
            videos = task.sample_with_content(base.StatelessNoise(seed), num_videos,
                                              task.default_num_frames,
                                              content_noise=base.StatelessNoise(content_seed))
            return {"video": base.to_uint8(videos)}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_videos"),
                                      tf.TensorSpec([], tf.int64, name="motion_seed")])
        def sample_with_motion(seed, num_videos, motion_seed):
            videos = task.sample_with_motion(base.StatelessNoise(seed), num_videos,
                                             task.default_num_frames,
                                             motion_noise=base.StatelessNoise(motion_seed))
            return {"video": base.to_uint8(videos)}

        sigs.update(sample_with_content=sample_with_content,
                    sample_with_motion=sample_with_motion)
        return sigs


class MotionGRU(keras.layers.Layer):
    """R_M: a GRU cell unrolled over time on per-step noise (MoCoGAN's ``recurrent``).

    Args (call):
      inputs: [B, T, input size] per-step inputs (noise eps(t), optionally with mu).
      initial_state: [B, units] h(0) ~ N(0, I) as in the official code.
    Returns:
      [B, T, units]: h(1..T).
    """

    def __init__(self, units, name="motion_rnn", **kwargs):
        super().__init__(name=name, **kwargs)
        self.units = units
        self.cell = keras.layers.GRUCell(units)

    def call(self, inputs, initial_state, training=False):
        h = initial_state
        outputs = []
        steps = inputs.shape[1]
        if steps is None:  # dynamic length (serving with num_frames)
            ta = tf.TensorArray(inputs.dtype, size=tf.shape(inputs)[1])
            def body(t, h, ta):
                h, _ = self.cell(inputs[:, t], [h], training=training)
                h = h[0] if isinstance(h, (list, tuple)) else h
                return t + 1, h, ta.write(t, h)
            _, _, ta = tf.while_loop(lambda t, *_: t < tf.shape(inputs)[1], body,
                                     (tf.constant(0), h, ta))
            return tf.transpose(ta.stack(), [1, 0, 2])
        for t in range(steps):
            out, _ = self.cell(inputs[:, t], [h], training=training)
            h = out
            outputs.append(out)
        return tf.stack(outputs, axis=1)
