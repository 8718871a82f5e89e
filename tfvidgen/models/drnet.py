"""DRNet: disentangled content and pose (seed 002, chapter 5; Denton & Birodkar 2017).

Two Tasks of the one trainer, trained one after the other:

``drnet`` (section 5.2): content encoder E_c, pose encoder E_p, decoder D
and scene discriminator C (``tfvidgen.nets.drnet_nets``). Each step draws,
per video of a clip of ``max_step`` frames (so k in [0, max_step - 1]), four
random frames x_c1, x_c2, x_p1, x_p2 (as the official ``train_drnet.py``),
then

1. updates C (E_p held fixed) on pose pairs: the first half of the batch
   pairs h_p1 of video i with h_p2 of another video (target 0), the second
   half h_p1 and h_p2 of the same video (target 1), Eq. (5.3) with binary
   cross-entropy;
2. updates E_c, E_p and D (C held fixed) on Eq. (5.5):

       L = ||D(E_c(x_c1), E_p(x_p1)) - x_p1||^2                  (5.1)
           + alpha ||E_c(x_c1) - sg(E_c(x_c2))||^2                 (5.2)
           + beta BCE(C(E_p(x_p1), sg(E_p(x_p2))), 1/2)            (5.4)

   where the BCE against 1/2 is -(log C + log(1 - C)) / 2, Eq. (5.4), and
   sg stops the gradient (the official code detaches the second frame's
   features). Squared errors are means over pixels / dimensions (the
   official ``MSELoss``).

E_p runs once per step on [x_p1, x_p2] and both updates use those features
(C's update sees E_p as fixed either way; the official code encodes a
second random pair for C). Logged: ``reconstruction``, ``similarity``,
``pose_adversarial`` (the BCE of Eq. 5.4), ``scene_discriminator`` (the
BCE of Eq. 5.3) and its ``scene_accuracy``.

``drnet_lstm`` (section 5.2.1): the pose LSTM of Eq. (5.6)-(5.7), trained
separately on a trained DRNet (``--drnet_dir``; its E_c, E_p and D are
loaded and frozen): from h_p^(t-1) and the content h_c of the last context
frame it predicts h_p^t, trained with the l2 loss summed over the n_past +
n_future - 1 steps (teacher forcing, as the official ``train_lstm.py``).
Prediction warms the LSTM up on the context poses, then feeds its own
predictions back; every frame is D(h_c, h~_p^t) with the content (and the
skips) of the last context frame. It exports the ``predict`` signature of
``tfvidgen.models.prediction``.

``features`` / ``analogy`` give the content and pose vectors of frames and
the content/pose analogy grid (Figures 5.3-5.5); ``drnet_classify`` trains
the two-layer classifier of section 5.2.2 on h_c or h_p.
"""
from __future__ import annotations

import dataclasses
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from tfvidgen import registry
from tfvidgen.settings import Settings, setting
from tfvidgen.models import base, prediction, svg
from tfvidgen.nets import drnet_nets, svg_nets


@dataclasses.dataclass(frozen=True)
class DRNetConfig(Settings):
    """Hyperparameters of DRNet (section 5.3.1) and of its pose LSTM.

    Defaults are the SM-MNIST settings: DCGAN encoders and decoder, |h_c| 128,
    |h_p| 5, alpha 1, beta 0.1, C with 2 hidden layers of 100, Adam 2e-3,
    batch 100. KTH: VGG E_c and D with skips, ResNet-18 E_p, |h_p| 5, beta
    1e-4. The pose LSTM: 2 layers of 256 cells; SM-MNIST 5 + 10 frames, KTH
    10 + 10.
    """
    batch_size: int = setting(100, "Global batch of clips per step.", min=1)
    content_dim: int = setting(128, "Size of the content vector h_c.", min=1)
    pose_dim: int = setting(5, "Size of the pose vector h_p (SM-MNIST, KTH 5).", min=1)
    encoder_arch: str = setting("dcgan", "E_c and D (dcgan: MNIST; vgg: KTH).",
                                choices=("dcgan", "vgg"))
    pose_arch: str = setting("dcgan", "Pose encoder E_p (dcgan: MNIST; resnet: ResNet-18, "
                             "KTH).", choices=("dcgan", "vgg", "resnet"))
    content_skips: bool = setting(
        True, "U-Net skip connections from the content encoder to the decoder (KTH); "
        "--nocontent_skips: the plain mirrored decoder (MNIST).")
    encoder_width: int = setting(64, "Filters of the first level of E_c, E_p and D.", min=1)
    frame_channels: int = setting(3, "Channels the model sees: 1 (grey) or 3.",
                                  choices=(1, 3))
    max_step: int = setting(20, "Frames per training clip; the content and pose frames are "
                            "drawn from it (offsets k in [0, max_step - 1]).", min=2)
    alpha: float = setting(1.0, "Weight of the content similarity loss (Eq. 5.2).", min=0.0)
    beta: float = setting(0.1, "Weight of the adversarial term (SM-MNIST 0.1, KTH 1e-4).",
                          min=0.0)
    sd_width: int = setting(100, "Hidden units of the scene discriminator C.", min=1)
    learning_rate: float = setting(2e-3, "Adam learning rate.", min=0.0, min_exclusive=True)
    beta1: float = setting(0.5, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.999, "Adam beta2.", min=0.0, max=0.999999)
    every_nth: int = setting(1, "Temporal stride of training clips.", min=1)
    n_past: int = setting(5, "drnet_lstm: context frames of a prediction.", min=1)
    n_future: int = setting(10, "drnet_lstm: frames predicted in training.", min=1)
    n_eval: int = setting(30, "drnet_lstm: frames, context included, of summaries and of "
                          "serving_default's default length.", min=2)
    rnn_size: int = setting(256, "drnet_lstm: cells per LSTM layer.", min=1)
    predictor_rnn_layers: int = setting(2, "drnet_lstm: LSTM layers.", min=1)
    drnet_dir: str = setting("", "drnet_lstm: --model_dir of the trained DRNet whose encoders "
                             "and decoder the pose LSTM uses (frozen).")

    def check(self):
        svg.check_horizon(self)


def _bce(logits, target: float):
    """Binary cross-entropy of sigmoid(logits) against a constant target, elementwise."""
    return tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), tf.constant(target, logits.dtype)), logits=logits)


class _DRNetNetworks(prediction.FramePixels):
    """E_c, E_p and D and their use, shared by both tasks (a mixin of Tasks)."""

    config_class = DRNetConfig

    def build_encoders(self):
        c, size = self.config, self.data_spec.image_size
        if c.frame_channels not in (1, 3):
            raise ValueError(f"--frame_channels must be 1 or 3, got {c.frame_channels}")
        if c.content_dim < 1 or c.pose_dim < 1:
            raise ValueError("--content_dim and --pose_dim must be >= 1")
        self.content_encoder = drnet_nets.ContentEncoder(c.encoder_arch, size, c.content_dim,
                                                         c.encoder_width)
        self.pose_encoder = drnet_nets.PoseEncoder(c.pose_arch, size, c.pose_dim,
                                                   c.encoder_width)
        self.decoder = drnet_nets.Decoder(c.encoder_arch, size, c.content_dim, c.pose_dim,
                                          c.encoder_width, c.frame_channels,
                                          skips=c.content_skips)
        frame = tf.zeros([1, size, size, c.frame_channels])
        h_c, skips = self.content_encoder(frame)
        h_p = self.pose_encoder(frame)
        self.decoder((h_c, h_p, skips))

    def encoder_networks(self) -> Dict[str, keras.Model]:
        return {"content_encoder": self.content_encoder, "pose_encoder": self.pose_encoder,
                "decoder": self.decoder}

    def encode(self, frames01, training=False):
        """Frames [B, T, S, S, C] in [0, 1] -> h_c [B, T, c], skips [B, T, ...], h_p [B, T, p]."""
        batch = tf.shape(frames01)[0]
        flat = prediction.merge_time(frames01)
        h_c, skips = self.content_encoder(flat, training=training)
        h_p = self.pose_encoder(flat, training=training)
        split = prediction.split_time
        return split(h_c, batch), [split(s, batch) for s in skips], split(h_p, batch)

    def decode(self, h_c, skips, h_p, training=False):
        """h_c [B, c], skips [B, ...] of the content frame, poses h_p [B, T, p]
        -> frames [B, T, S, S, C] in [0, 1]; one batched decoder call."""
        batch, steps = tf.shape(h_p)[0], tf.shape(h_p)[1]
        index = tf.repeat(tf.range(batch), steps)   # output b * T + t uses content b
        frames = self.decoder((tf.gather(h_c, index), prediction.merge_time(h_p), skips,
                               index), training=training)
        return prediction.split_time(frames, batch)

    def features(self, frames):
        """Frames [B, T, H, W, C] in [-1, 1] -> (h_c [B, T, c], h_p [B, T, p]), inference."""
        h_c, _, h_p = self.encode(self.to_model(frames))
        return h_c, h_p

    def analogy(self, content_frames, pose_frames):
        """Content of frames [N, H, W, C] with the poses of videos [N, T, H, W, C].

        Returns [N, T, H, W, C] in [-1, 1]: D(E_c(content_i), E_p(pose_i^t)).
        """
        channels = pose_frames.shape[-1] or tf.shape(pose_frames)[-1]
        h_c, skips = self.content_encoder(self.to_model(content_frames), training=False)
        _, _, h_p = self.encode(self.to_model(pose_frames))
        return self.from_model(self.decode(h_c, skips, h_p), channels)

    def analogy_grid(self, frames):
        """Figure 5.3's grid from frames [k, H, W, C] in [-1, 1]: row 0 shows the pose
        sources, column 0 the content sources, cell (i, j) = D(h_c of i, h_p of j).

        Returns one image [1, (k + 1) H, (k + 1) W, C].
        """
        frames = tf.convert_to_tensor(frames, tf.float32)
        k = frames.shape[0]
        # Row i: the content of frame i with the poses of all k frames.
        cells = self.analogy(frames, tf.repeat(frames[None], k, axis=0))   # [k, k, H, W, C]
        blank = -tf.ones_like(frames[:1])
        top = tf.concat([blank, frames], axis=0)                             # [k + 1, H, W, C]
        rows = tf.concat([frames[:, None], cells], axis=1)                   # [k, k + 1, ...]
        grid = tf.concat([top[None], rows], axis=0)                          # [k + 1, k + 1, ...]
        h, w = frames.shape[1], frames.shape[2]
        grid = tf.transpose(grid, [0, 2, 1, 3, 4])                           # [k+1, H, k+1, W, C]
        return tf.reshape(grid, [1, (k + 1) * h, (k + 1) * w, -1])

    def analogy_signatures(self) -> Dict[str, object]:
        """``analogy`` (content uint8 [N, H, W, C], pose uint8 [N, T, H, W, C] -> video
        uint8 [N, T, H, W, C]) and ``features`` (video uint8 [N, T, H, W, C] ->
        content float [N, T, |h_c|], pose float [N, T, |h_p|])."""
        task, size = self, self.data_spec.image_size

        def to_float(x):
            return tf.cast(x, tf.float32) / 127.5 - 1.0

        @tf.function(input_signature=[
            tf.TensorSpec([None, size, size, None], tf.uint8, name="content"),
            tf.TensorSpec([None, None, size, size, None], tf.uint8, name="pose")])
        def analogy(content, pose):
            return {"video": base.to_uint8(task.analogy(to_float(content), to_float(pose)))}

        @tf.function(input_signature=[
            tf.TensorSpec([None, None, size, size, None], tf.uint8, name="video")])
        def features(video):
            h_c, h_p = task.features(to_float(video))
            return {"content": h_c, "pose": h_p}

        return {"analogy": analogy, "features": features}


@registry.register_task("drnet")
class DRNet(_DRNetNetworks, base.Task):
    """The content/pose representation of section 5.2 (E_c, E_p, D and C)."""

    # Data ---------------------------------------------------------------------------
    def data_requirements(self):
        return base.DataRequirements(clip_length=self.config.max_step,
                                     every_nth=self.config.every_nth)

    @property
    def default_num_frames(self) -> int:
        return self.config.max_step

    # Networks -----------------------------------------------------------------------
    def build(self):
        c = self.config
        if c.max_step < 2:
            raise ValueError(f"--max_step={c.max_step}: DRNet needs clips of >= 2 frames")
        self.build_encoders()
        self.scene_discriminator = drnet_nets.SceneDiscriminator(c.sd_width)
        self.scene_discriminator((tf.zeros([1, c.pose_dim]), tf.zeros([1, c.pose_dim])))
        self.optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1, beta_2=c.beta2)
        self.optimizer.build(self.representation_variables)
        self.sd_optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1,
                                                  beta_2=c.beta2)
        self.sd_optimizer.build(self.scene_discriminator.trainable_variables)

    def networks(self) -> Dict[str, keras.Model]:
        return {**self.encoder_networks(), "scene_discriminator": self.scene_discriminator}

    def exported_networks(self) -> Dict[str, keras.Model]:
        return self.encoder_networks()

    def optimizers(self):
        return {"drnet": self.optimizer, "scene_discriminator": self.sd_optimizer}

    @property
    def representation_variables(self):
        return [v for net in self.encoder_networks().values() for v in net.trainable_variables]

    # Training -----------------------------------------------------------------------
    @staticmethod
    def scene_pairs(h_p1, h_p2):
        """(h_p2 re-paired, targets): the first half of the batch gets another video's
        h_p2 (target 0), the second half its own (target 1)."""
        batch = tf.shape(h_p1)[0]
        half = batch // 2
        other = tf.roll(h_p2, shift=half, axis=0)    # video i + half (mod batch) != i
        is_first = tf.range(batch) < half
        paired = tf.where(is_first[:, None], other, h_p2)
        return paired, tf.cast(tf.logical_not(is_first), tf.float32)

    def train_step(self, batch, step, rng, global_batch_size):
        c = self.config
        x = self.to_model(batch["video"])
        frames = x.shape[1]
        count = tf.shape(x)[0]
        index = rng.uniform(tf.stack([count, 4]), 0, frames, dtype=tf.int32)
        picked = tf.gather(x, index, batch_dims=1)            # [B, 4, S, S, C]
        x_c, x_p = picked[:, :2], picked[:, 2:]
        with tf.GradientTape() as tape:
            # E_c(x_c1), E_c(x_c2) and E_p(x_p1), E_p(x_p2): one call per encoder.
            h_c, skips = self.content_encoder(prediction.merge_time(x_c), training=True)
            h_c = prediction.split_time(h_c, count)
            skips = [prediction.split_time(s, count) for s in skips]
            h_p = prediction.split_time(
                self.pose_encoder(prediction.merge_time(x_p), training=True), count)
            h_p1, h_p2 = h_p[:, 0], tf.stop_gradient(h_p[:, 1])
            with tape.stop_recording():
                sd = self._update_scene_discriminator(tf.stop_gradient(h_p1), h_p2,
                                                      global_batch_size)
            rec = self.decoder((h_c[:, 0], h_p1, [s[:, 0] for s in skips]), training=True)
            reconstruction = tf.reduce_mean(tf.square(rec - x_p[:, 0]), axis=[1, 2, 3])
            similarity = tf.reduce_mean(tf.square(h_c[:, 0] - tf.stop_gradient(h_c[:, 1])),
                                        axis=-1)
            adversarial = _bce(self.scene_discriminator((h_p1, h_p2), training=True), 0.5)
            per_example = reconstruction + c.alpha * similarity + c.beta * adversarial
            loss = base.average(per_example, global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.representation_variables)
        return {"loss": loss,
                "reconstruction": base.average(reconstruction, global_batch_size),
                "similarity": base.average(similarity, global_batch_size),
                "pose_adversarial": base.average(adversarial, global_batch_size), **sd}

    def _update_scene_discriminator(self, h_p1, h_p2, global_batch_size):
        paired, target = self.scene_pairs(h_p1, h_p2)
        with tf.GradientTape() as tape:
            logits = self.scene_discriminator((h_p1, paired), training=True)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
            loss = base.average(bce, global_batch_size)
        base.apply_gradients(self.sd_optimizer, tape, loss,
                             self.scene_discriminator.trainable_variables)
        correct = tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), target), tf.float32)
        return {"scene_discriminator": loss,
                "scene_accuracy": base.average(correct, global_batch_size)}

    # Sampling and summaries ---------------------------------------------------------
    def context_length(self, num_frames: int) -> int:
        """Conditional: a sample reconstructs a real clip of ``num_frames`` frames."""
        return int(num_frames)

    def sample(self, noise, num_videos, num_frames, context=None):
        """Reconstructions of real clips: the content of each clip's first frame with
        the pose of each of its frames (D(h_c^1, h_p^t)).

        Args:
          context: real clips [num_videos, >= num_frames, H, W, C] in [-1, 1]
            (required).
        Raises:
          ValueError: no context, or too few frames or clips.
        """
        del noise
        if context is None:
            raise ValueError(
                "DRNet reconstructs real clips: sample needs context=[N, T, H, W, C] real "
                "clips in [-1, 1] (bin/evaluate passes held-out clips, samples.gif the "
                "trainer's real batch)")
        clips = tf.convert_to_tensor(context, tf.float32)
        shape = clips.shape
        if (shape.rank != 5 or (isinstance(num_frames, int) and shape[1] is not None
                                and shape[1] < num_frames)
                or (isinstance(num_videos, int) and shape[0] is not None
                    and shape[0] != num_videos)):
            raise ValueError(f"DRNet: context must be {num_videos} real clips of >= "
                             f"{num_frames} frames, got shape {shape}")
        clips = clips[:, :num_frames]
        return self.analogy(clips[:, 0], clips)

    def sample_summaries(self, noise, batch=None) -> Dict[str, tf.Tensor]:
        """``reconstruction``: each real clip of the trainer's fixed batch beside
        D(h_c of its first frame, h_p of frame t); ``analogy``: the content/pose
        grid of Figure 5.3 over frames of different clips."""
        if batch is None:
            raise ValueError("DRNet's summaries reconstruct real clips: pass the trainer's "
                             "fixed real batch")
        clips = tf.convert_to_tensor(batch["video"][:4], tf.float32)
        rec = prediction.mark_predicted(self.analogy(clips[:, 0], clips))
        frames = clips[:, 0] if clips.shape[0] > 1 else clips[0, ::max(1, clips.shape[1] // 4)]
        return {"reconstruction": prediction.side_by_side([clips, rec]),
                "analogy": self.analogy_grid(frames[:6])}

    def serving_signatures(self):
        """``serving_default`` and ``analogy``: content frames + pose videos -> video;
        ``features``: content and pose vectors of every frame."""
        sigs = self.analogy_signatures()
        return {"serving_default": sigs["analogy"], **sigs}


@registry.register_task("drnet_lstm")
class DRNetLSTM(_DRNetNetworks, prediction.PredictionTask):
    """The pose LSTM of Eq. (5.6)-(5.7) on a trained, frozen DRNet (``--drnet_dir``)."""

    def data_requirements(self):
        c = self.config
        return base.DataRequirements(clip_length=c.n_past + c.n_future, every_nth=c.every_nth)

    def build(self):
        c = self.config
        self.check_prediction_config()
        self.build_encoders()
        self.pose_lstm = svg_nets.PredictorLSTM(c.pose_dim, c.rnn_size, c.predictor_rnn_layers,
                                                name="pose_lstm")
        self.pose_lstm(tf.zeros([1, 1, c.pose_dim + c.content_dim]))
        self.optimizer = keras.optimizers.Adam(c.learning_rate, beta_1=c.beta1, beta_2=c.beta2)
        self.optimizer.build(self.pose_lstm.trainable_variables)
        self._rollouts = {}

    def networks(self) -> Dict[str, keras.Model]:
        return {**self.encoder_networks(), "pose_lstm": self.pose_lstm}

    def optimizers(self):
        return {"pose_lstm": self.optimizer}

    def warm_start(self):
        """Loads E_c, E_p and D from ``--drnet_dir`` (required: the LSTM is trained
        in the latent space of a trained DRNet)."""
        c = self.config
        if not c.drnet_dir:
            raise ValueError(
                "drnet_lstm needs a trained DRNet: pass --drnet_dir=<the --model_dir of a "
                "bin/train --model=drnet run> (e.g. configs/drnet_kth.cfg first).")
        try:
            prefix = base.restore_networks(c.drnet_dir, **self.encoder_networks())
        except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as e:
            raise ValueError(
                f"--drnet_dir={c.drnet_dir}: its networks do not match this model's; "
                "--image_size, --frame_channels, --content_dim, --pose_dim, --encoder_arch, "
                f"--pose_arch and --encoder_width must be the DRNet run's ({e})") from e
        return f"content_encoder, pose_encoder and decoder from {prefix}"

    # Training -----------------------------------------------------------------------
    def lstm_inputs(self, h_p, h_c):
        """[h_p^t, h_c] for every step: h_p [B, T, p], h_c [B, c] -> [B, T, p + c]."""
        steps = tf.shape(h_p)[1]
        return tf.concat([h_p, tf.repeat(h_c[:, None], steps, axis=1)], axis=-1)

    def train_step(self, batch, step, rng, global_batch_size):
        c = self.config
        x = self.to_model(batch["video"])
        # The DRNet is frozen: inference mode (BatchNorm statistics), no gradient.
        h_c, _, h_p = self.encode(x, training=False)
        h_c = tf.stop_gradient(h_c[:, c.n_past - 1])
        h_p = tf.stop_gradient(h_p)
        with tf.GradientTape() as tape:
            predicted, _ = self.pose_lstm(self.lstm_inputs(h_p[:, :-1], h_c), training=True)
            # Official: MSELoss (mean over dimensions) summed over the steps.
            mse = tf.reduce_sum(tf.reduce_mean(tf.square(predicted - h_p[:, 1:]), axis=-1),
                                axis=1)
            loss = base.average(mse, global_batch_size)
        base.apply_gradients(self.optimizer, tape, loss, self.pose_lstm.trainable_variables)
        steps = x.shape[1] - 1
        return {"loss": loss, "pose_mse": base.average(mse / steps, global_batch_size)}

    # Prediction ---------------------------------------------------------------------
    def _rollout(self, context01, num_future):
        """Context [B, n, S, S, C] in [0, 1] -> predicted frames [B, F, S, S, C] in [0, 1]."""
        batch = tf.shape(context01)[0]
        h_c, skips, h_p = self.encode(context01)
        h_c, skips = h_c[:, -1], [s[:, -1] for s in skips]
        state = self.pose_lstm.zero_state(batch)
        if context01.shape[1] > 1:   # warm up on the true context poses
            _, state = self.pose_lstm(self.lstm_inputs(h_p[:, :-1], h_c))
        poses = tf.TensorArray(tf.float32, size=num_future,
                               element_shape=tf.TensorShape([None, self.config.pose_dim]))
        pose = h_p[:, -1]
        for t in tf.range(num_future):
            pose, state = self.pose_lstm.step(tf.concat([pose, h_c], -1), state)
            # E_p's poses have unit norm (section 5.3.1): D and the LSTM only ever saw
            # such vectors, so a predicted pose is projected back onto the sphere.
            pose = drnet_nets.unit_norm(pose)
            poses = poses.write(t, pose)
        size, channels = context01.shape[2], context01.shape[-1]
        empty = tf.zeros([batch, 0, size, size, channels])
        out = tf.cond(num_future > 0,
                      lambda: self.decode(h_c, skips, tf.transpose(poses.stack(), [1, 0, 2])),
                      lambda: empty)
        return tf.ensure_shape(out, [None, None, size, size, channels])

    def predict(self, context_frames, num_future, noise=None):
        """Future frames after real context frames; deterministic (``noise`` unused)."""
        context, num_context, channels = self.prepared_context(context_frames)
        if num_context not in self._rollouts:
            size, ch = self.data_spec.image_size, self.config.frame_channels
            self._rollouts[num_context] = tf.function(self._rollout, input_signature=[
                tf.TensorSpec([None, num_context, size, size, ch], tf.float32),
                tf.TensorSpec([], tf.int32)])
        future = self._rollouts[num_context](self.to_model(context),
                                             tf.cast(num_future, tf.int32))
        return self.from_model(future, channels)

    def serving_signatures(self):
        """``predict`` / ``serving_default`` (prediction), plus ``analogy`` and
        ``features`` of the frozen DRNet."""
        return {**self.analogy_signatures(), **super().serving_signatures()}


def pose_sequence_features(task: _DRNetNetworks, videos, which: str = "pose") -> np.ndarray:
    """Section 5.2.2's classifier inputs from videos [N, T, H, W, C] in [-1, 1]:
    ``pose``: the T pose vectors concatenated [N, T |h_p|]; ``content``: the
    content vector of the first frame [N, |h_c|]."""
    if which not in ("pose", "content"):
        raise ValueError(f"features must be 'pose' or 'content', got {which!r}")
    h_c, h_p = task.features(videos)
    if which == "content":
        return h_c[:, 0].numpy()
    return tf.reshape(h_p, [tf.shape(h_p)[0], -1]).numpy()
