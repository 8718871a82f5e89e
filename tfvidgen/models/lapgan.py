"""LAPGAN: a Laplacian pyramid of adversarial networks (Denton, thesis chapter 4).

A pyramid of generators G_K .. G_0 (``tfvidgen.nets.lapgan_nets``): the
coarsest, G_K, an unconditional fully connected GAN of s_K x s_K images;
each finer G_k a conditional convnet that, given the upsampled coarser
image l_k = u(x_{k+1}) and a noise plane, outputs the band-pass image h_k.
Sampling (Eq. 4.7) runs the cascade x_k = l_k + G_k(z_k, l_k) coarse to
fine. Training (section 4.2.3, Fig. 4.2): every level is its own GAN on the
Laplacian pyramid of the training images; D_k sees l_k plus a real h_k or a
generated one (each update sees a real and a generated batch of equal size:
the thesis' probability 1/2, the reference code's half real, half fake
batch), with the non-saturating loss of Eq. 4.1.

Levels train independently: one run trains them one after another as
phases (``level_steps`` each, coarsest first), or parallel runs train one
level each (``train_level``) and ``levels_from`` gathers their levels into
one run for sampling. Level indices follow the thesis: 0 is the finest.

Optimiser (section 4.3.1): SGD, learning rate 0.02 divided by ``lr_decay``
every epoch, momentum 0.5 rising by 0.0008 per epoch up to 0.8 (the
reference code caps it at 0.7 and decays by 1.000004); ``--optimizer=adam``
for Adam. Class-conditional variant: ``--class_conditional``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional

import keras
import tensorflow as tf

from tfvidgen import registry
from tfvidgen.models import adversarial, base, phases as phases_lib
from tfvidgen.nets import lapgan_nets as nets
from tfvidgen.settings import ConfigError, Settings, setting


def _ints(text: str) -> tuple:
    return tuple(int(t) for t in text.replace(" ", "").split(",") if t)


@dataclasses.dataclass(frozen=True)
class LapganConfig(Settings):
    """LAPGAN's settings; defaults follow the thesis' CIFAR-10/STL-10 models (section 4.3.1)."""
    batch_size: int = setting(128, "Images per step (the reference code's 128).", min=1)
    pyramid_sizes: str = setting(
        "", "Image sizes of the pyramid, coarsest first (CIFAR-10 8,14,28 or 8,16,32; STL-10 "
        "8,16,32,64,96; LSUN 4,8,16,32,64; one size: Table 4.1's plain fully connected GAN). "
        "Empty: --coarsest_size doubling up to --image_size.")
    coarsest_size: int = setting(8, "Coarsest size when --pyramid_sizes is empty.", min=2)
    crop_from: int = setting(0, "Real images arrive at this size and one of their four corner "
                             "crops of the finest size is used (CIFAR-10's 28x28 crops of "
                             "32x32 images: 32); 0: they arrive at the finest size.", min=0)
    train_level: int = setting(-1, "The level this run trains (0: finest .. K: coarsest), for "
                               "levels trained in parallel runs; -1: every level, one phase "
                               "each, coarsest first.", min=-1)
    level_steps: int = setting(2500, "Steps of each level's phase when one run trains every "
                               "level (the finest runs until --max_steps).", min=1)
    levels_from: str = setting("", "Run directories (comma-separated) whose trained level is "
                               "copied into this run before step 0 (parallel runs gathered).",
                               mutable=True)
    class_conditional: bool = setting(False, "Condition G_k and D_k on the one-hot class.")
    z_dim: int = setting(100, "Noise vector of the coarsest generator G_K.", min=1)
    coarse_g_hidden: int = setting(1200, "Units of G_K's two hidden layers.", min=1)
    coarse_d_hidden: int = setting(600, "Units of D_K's two hidden layers.", min=1)
    g_features: str = setting("64,64", "Feature maps of G_k's hidden convolutions (LSUN: "
                              "64,368,128,224).")
    d_features: str = setting("64,64", "Feature maps of D_k's convolutions (LSUN: 48,448,416).")
    g_kernel: int = setting(7, "Kernel of G_k's hidden convolutions.", min=1)
    g_out_kernel: int = setting(5, "Kernel of G_k's output convolution (LSUN: 7).", min=1)
    d_kernel: int = setting(5, "Kernel of D_k's convolutions.", min=1)
    batch_norm: bool = setting(False, "Batch normalisation in G_k and D_k's hidden layers "
                               "(LSUN models).")
    g_dropout: float = setting(0.0, "Dropout after G_k's hidden layers (LSUN models).",
                               min=0.0, max=0.9)
    d_dropout: float = setting(0.5, "Dropout of D_K's hidden layers and before D_k's output.",
                               min=0.0, max=0.9)
    gan_loss: str = setting("non_saturating", "Loss pair (Eq. 4.1 is non_saturating).",
                            choices=("non_saturating", "minimax"))
    optimizer: str = setting("sgd", "sgd: the thesis' SGD with rising momentum and learning "
                             "rate decay per epoch; adam.", choices=("sgd", "adam"))
    learning_rate: float = setting(0.02, "Initial learning rate (SGD).", min=0.0,
                                   min_exclusive=True)
    lr_decay: float = setting(1.00004, "SGD: the learning rate is divided by this every epoch "
                              "(reference code: 1.000004).", min=1.0)
    min_learning_rate: float = setting(1e-6, "SGD: floor of the learning rate.", min=0.0)
    momentum: float = setting(0.5, "SGD: initial momentum.", min=0.0, max=1.0)
    momentum_increase: float = setting(0.0008, "SGD: momentum added every epoch.", min=0.0)
    max_momentum: float = setting(0.8, "SGD: momentum cap (reference code: 0.7).", min=0.0,
                                  max=1.0)
    steps_per_epoch: int = setting(352, "Updates per epoch of the SGD schedules (CIFAR-10: "
                                   "45,000 training images / 128).", min=1)
    adam_learning_rate: float = setting(2e-4, "Adam: learning rate.", min=0.0,
                                        min_exclusive=True)
    beta1: float = setting(0.5, "Adam: beta_1.", min=0.0, max=1.0)

    def check(self):
        try:
            sizes, g, d = _ints(self.pyramid_sizes), _ints(self.g_features), _ints(self.d_features)
        except ValueError:
            raise ConfigError("--pyramid_sizes, --g_features and --d_features are "
                              "comma-separated integers") from None
        if self.pyramid_sizes and (not sizes or list(sizes) != sorted(set(sizes))
                                   or sizes[0] < 2):
            raise ConfigError(f"--pyramid_sizes must be increasing sizes >= 2, coarsest first "
                              f"(one size: the plain fully connected GAN); got "
                              f"{self.pyramid_sizes!r}")
        if not g or not d or min(g + d) < 1:
            raise ConfigError("--g_features and --d_features need at least one positive size")
        if self.crop_from and sizes and self.crop_from < sizes[-1]:
            raise ConfigError(f"--crop_from={self.crop_from} is below the finest size "
                              f"{sizes[-1]}")
        if self.train_level >= 0 and sizes and self.train_level >= len(sizes):
            raise ConfigError(f"--train_level must be < {len(sizes)} (the pyramid's levels)")


def pyramid_sizes(config: LapganConfig, image_size: int) -> tuple:
    """Sizes coarsest first: --pyramid_sizes, or --coarsest_size doubling up to image_size."""
    if config.pyramid_sizes:
        return _ints(config.pyramid_sizes)
    ratio = math.log2(image_size / config.coarsest_size)
    if ratio < 0 or ratio != int(ratio):
        raise ConfigError(f"--image_size={image_size} is not --coarsest_size="
                          f"{config.coarsest_size} times a power of two: set --pyramid_sizes")
    return tuple(config.coarsest_size * 2 ** i for i in range(int(ratio) + 1))


class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr_0 / decay^epoch, floored (section 4.3.1; epoch = update // steps_per_epoch)."""

    def __init__(self, initial, decay, floor, steps_per_epoch):
        self.initial, self.decay, self.floor = initial, decay, floor
        self.steps_per_epoch = steps_per_epoch

    def __call__(self, step):
        epoch = tf.floor(tf.cast(step, tf.float32) / self.steps_per_epoch)
        return tf.maximum(self.initial / tf.pow(tf.cast(self.decay, tf.float32), epoch),
                          self.floor)

    def get_config(self):
        return dict(initial=self.initial, decay=self.decay, floor=self.floor,
                    steps_per_epoch=self.steps_per_epoch)


class ScheduledSGD(keras.optimizers.SGD):
    """SGD whose momentum rises by ``increase`` every epoch up to ``maximum`` (section 4.3.1)."""

    def __init__(self, learning_rate, momentum, increase, maximum, steps_per_epoch, **kwargs):
        super().__init__(learning_rate=learning_rate, momentum=float(momentum) or 1e-12,
                         **kwargs)
        self.initial_momentum, self.increase, self.maximum = momentum, increase, maximum
        self.steps_per_epoch = steps_per_epoch

    def current_momentum(self):
        epoch = tf.floor(tf.cast(self.iterations, tf.float32) / self.steps_per_epoch)
        return tf.minimum(self.initial_momentum + self.increase * epoch, self.maximum)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        m = self.momentums[self._get_variable_index(variable)]
        momentum = tf.cast(self.current_momentum(), variable.dtype)
        self.assign(m, m * momentum - gradient * learning_rate)
        self.assign_add(variable, m)


def make_optimizer(c: LapganConfig):
    if c.optimizer == "adam":
        return keras.optimizers.Adam(c.adam_learning_rate, beta_1=c.beta1)
    schedule = EpochDecay(c.learning_rate, c.lr_decay, c.min_learning_rate, c.steps_per_epoch)
    return ScheduledSGD(schedule, c.momentum, c.momentum_increase, c.max_momentum,
                        c.steps_per_epoch)


def corner_crops(images, size: int, choice):
    """One of the four corner crops of size x size per image (choice [B] in 0..3)."""
    full = images.shape[1]
    crops = tf.stack([images[:, r:r + size, q:q + size] for r in (0, full - size)
                      for q in (0, full - size)], axis=1)
    return tf.gather(crops, choice, axis=1, batch_dims=1)


@registry.register_task("lapgan")
class LAPGAN(base.Task):
    """The Task; see the module docstring. ``sizes`` are finest first (s_0 .. s_K)."""

    config_class = LapganConfig
    config: LapganConfig

    def __init__(self, config, data_spec):
        super().__init__(config, data_spec)
        self.sizes = tuple(reversed(pyramid_sizes(config, data_spec.image_size)))
        self.num_levels = len(self.sizes)
        self.top = self.num_levels - 1  # K
        if config.train_level > self.top:
            raise ConfigError(f"--train_level must be <= {self.top}: the pyramid "
                              f"{list(reversed(self.sizes))} has {self.num_levels} levels")
        if config.crop_from and config.crop_from < self.sizes[0]:
            raise ConfigError(f"--crop_from={config.crop_from} is below the finest size "
                              f"{self.sizes[0]}")
        self.num_classes = data_spec.num_classes if config.class_conditional else 0
        if config.class_conditional and not self.num_classes:
            raise ConfigError("--class_conditional needs a dataset with class labels")
        self.level = self.top if config.train_level < 0 else config.train_level

    # Data and schedule --------------------------------------------------------------------
    @property
    def data_size(self) -> int:
        return self.config.crop_from or self.sizes[0]

    def data_requirements(self):
        return base.DataRequirements(clip_length=1)

    def level_name(self, k: int) -> str:
        return f"level{k}_{self.sizes[k]}x{self.sizes[k]}"

    def phases(self):
        data, size = self.data_requirements(), self.data_size
        if self.config.train_level >= 0:
            return (phases_lib.Phase(self.level_name(self.config.train_level), 0, data, size),)
        levels = range(self.top, -1, -1)
        return phases_lib.chain(*[(self.config.level_steps if k else None,
                                   phases_lib.Phase(self.level_name(k), data=data,
                                                    image_size=size)) for k in levels])

    def enter_phase(self, phase, begins):
        del begins
        self.level = int(phase.name[len("level"):].split("_")[0])

    # Networks -------------------------------------------------------------------------------
    def build(self):
        c, ch = self.config, self.data_spec.channels
        n = self.num_classes
        self.generators, self.discriminators = [], []
        for k, size in enumerate(self.sizes):
            if k == self.top:
                g = nets.CoarseGenerator(size, c.coarse_g_hidden, ch, name=f"generator_{k}")
                d = nets.CoarseDiscriminator(c.coarse_d_hidden, c.d_dropout, ch,
                                             name=f"discriminator_{k}")
                base.build_by_calling(g, [c.z_dim + n])
            else:
                g = nets.RefineGenerator(size, _ints(c.g_features), c.g_kernel, c.g_out_kernel,
                                         c.batch_norm, c.g_dropout, n, ch, name=f"generator_{k}")
                d = nets.RefineDiscriminator(size, _ints(c.d_features), c.d_kernel, c.batch_norm,
                                             c.d_dropout, n, ch, name=f"discriminator_{k}")
                base.build_by_calling(g, [size, size, 1 + ch + n])
            base.build_by_calling(d, [size, size, ch + n])
            self.generators.append(g)
            self.discriminators.append(d)
        self.g_optimizers = [make_optimizer(c) for _ in self.sizes]
        self.d_optimizers = [make_optimizer(c) for _ in self.sizes]
        for k in range(self.num_levels):
            self.g_optimizers[k].build(self.generators[k].trainable_variables)
            self.d_optimizers[k].build(self.discriminators[k].trainable_variables)
        self.gan_loss = adversarial.gan_loss_from_config(c)

    def networks(self):
        out = {}
        for k in range(self.num_levels):
            out[f"generator_{k}"] = self.generators[k]
            out[f"discriminator_{k}"] = self.discriminators[k]
        return out

    def exported_networks(self):
        return {f"generator_{k}": g for k, g in enumerate(self.generators)}

    def generator_networks(self):
        return self.exported_networks()

    def optimizers(self):
        out = {}
        for k in range(self.num_levels):
            out[f"generator_{k}"] = self.g_optimizers[k]
            out[f"discriminator_{k}"] = self.d_optimizers[k]
        return out

    def warm_start(self) -> Optional[str]:
        """``levels_from``: each run's trained level (its ``train_level``; all for -1)."""
        if not self.config.levels_from:
            return None
        from tfvidgen import experiment
        loaded = []
        for path in [p.strip() for p in self.config.levels_from.split(",") if p.strip()]:
            level = int(experiment.read_run(path).get("train_level", -1))
            levels = range(self.num_levels) if level < 0 else [level]
            items = {}
            for k in levels:
                items[f"generator_{k}"] = self.generators[k]
                items[f"discriminator_{k}"] = self.discriminators[k]
            prefix = base.restore_networks(path, **items)
            loaded.append(f"levels {list(levels)} from {prefix}")
        return "; ".join(loaded)

    # Conditioning and noise -----------------------------------------------------------------
    def one_hot(self, labels):
        if not self.num_classes or labels is None:
            return None
        return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)

    def draw_labels(self, noise, n):
        """Uniform class labels [n] (class-conditional models), else None."""
        if not self.num_classes:
            return None
        return noise.uniform(tf.reshape(n, [1]), minval=0, maxval=self.num_classes,
                             dtype=tf.int32)

    def generator_input(self, k, noise, n, coarse=None, one_hot=None):
        """G_k's input: z_K [n, z_dim (+ classes)], or [noise plane, l_k (+ label planes)]."""
        if k == self.top:
            z = noise.uniform(tf.stack([n, self.config.z_dim]), minval=-1.0, maxval=1.0)
            return z if one_hot is None else tf.concat([z, one_hot], axis=-1)
        size = self.sizes[k]
        plane = noise.uniform(tf.stack([n, size, size, 1]), minval=-1.0, maxval=1.0)
        return nets.with_label_planes(tf.concat([plane, coarse], axis=-1), one_hot)

    # Sampling ---------------------------------------------------------------------------------
    def refine(self, noise, image, level: int, labels=None, training=False):
        """x_k = l_k + G_k(z_k, l_k) with l_k = u(image), ``image`` at size s_{k+1} (Eq. 4.7)."""
        coarse = nets.upsample(image, self.sizes[level])
        inputs = self.generator_input(level, noise, tf.shape(image)[0], coarse,
                                      self.one_hot(labels))
        return coarse + self.generators[level](inputs, training=training)

    def cascade(self, noise, num_images, labels=None, start=None, start_level=None,
                stop_level: int = 0) -> List[tf.Tensor]:
        """[x_a, ..., x_stop]: G_K's sample (or ``start``, an image at level ``start_level``)
        refined level by level down to ``stop_level``.

        Noise is drawn coarse to fine (the labels first, when drawn), so the
        chain stopped at level k is the start of the chain stopped at 0.
        Args:
          labels: class indices [N] of a class-conditional model (None: drawn).
          start: images [N, s, s, 3] at level ``start_level`` to refine from.
        """
        if labels is None:
            labels = self.draw_labels(noise, num_images)
        if start is None:
            x = self.generators[self.top](
                self.generator_input(self.top, noise, num_images, None, self.one_hot(labels)),
                training=False)
            start_level = self.top
        else:
            x = tf.convert_to_tensor(start, tf.float32)
        chain = [x]
        for k in range(start_level - 1, stop_level - 1, -1):
            x = self.refine(noise, x, k, labels)
            chain.append(x)
        return chain

    def sample_images(self, noise, num_images, context=None, labels=None):
        del context
        return tf.clip_by_value(self.cascade(noise, num_images, labels)[-1], -1.0, 1.0)

    def sample(self, noise, num_videos, num_frames, context=None):
        """Still 'videos': each image repeated num_frames times (the uniform API)."""
        images = self.sample_images(noise, num_videos)
        return tf.repeat(images[:, None], num_frames, axis=1)

    @property
    def default_num_frames(self) -> int:
        return 1

    def chain_grid(self, chain):
        """The chain as 'videos' [N, levels, S, S, 3], each level enlarged (nearest) to S."""
        size = self.sizes[0] if chain[-1].shape[1] is None else chain[-1].shape[1]
        frames = [tf.image.resize(tf.clip_by_value(x, -1.0, 1.0), [size, size],
                                  method="nearest") for x in chain]
        return tf.stack(frames, axis=1)

    def sample_summaries(self, noise, batch=None):
        chain = self.cascade(noise, 16)
        out = {self.level_name(self.top - i): tf.clip_by_value(x, -1.0, 1.0)
               for i, x in enumerate(chain)}
        out["chain"] = self.chain_grid([x[:8] for x in chain])
        return out

    def multiscale_parzen(self, samples, eval_config):
        """The ``parzen_ms`` protocol's conditional terms q_k(h | l) (section 4.4.1):
        ``tfvidgen.models.lapgan_parzen.multiscale_inputs``."""
        from tfvidgen.models import lapgan_parzen
        return lapgan_parzen.multiscale_inputs(self, samples, eval_config.parzen_ms_samples,
                                               eval_config.seed, eval_config.batch_size)

    # Training ---------------------------------------------------------------------------------
    def real_images(self, batch, rng):
        images = batch["video"][:, 0]
        if self.config.crop_from and self.config.crop_from != self.sizes[0]:
            choice = rng.uniform(tf.shape(images)[:1], minval=0, maxval=4, dtype=tf.int32)
            images = corner_crops(images, self.sizes[0], choice)
        return images

    def train_step(self, batch, step, rng, global_batch_size):
        """One update of D_k and G_k at the current level (``self.level``, Fig. 4.2)."""
        k = self.level
        images = self.real_images(batch, rng)
        gauss = nets.gaussian_pyramid(images, self.sizes[:k + 2])
        one_hot = self.one_hot(batch.get("label"))
        n = tf.shape(images)[0]
        if k == self.top:
            coarse = None
        else:
            coarse = nets.upsample(gauss[k + 1], self.sizes[k])

        def draw_fakes():
            inputs = self.generator_input(k, rng, n, coarse, one_hot)
            out = self.generators[k](inputs, training=True)
            return out if coarse is None else coarse + out  # l_k + h~_k

        critic = adversarial.Critic(
            f"level{k}", self.discriminators[k], self.d_optimizers[k],
            # D_k sees l_k + h_k (= x_k) or l_k + G_k(z_k, l_k), with the label planes.
            real_inputs=lambda b: nets.with_label_planes(gauss[k], one_hot),
            fake_inputs=lambda fakes: nets.with_label_planes(fakes, one_hot),
            global_batch_size=global_batch_size)
        generator = adversarial.Generator(self.generators[k].trainable_variables,
                                          self.g_optimizers[k])
        return adversarial.train_step([critic], generator, [batch], draw_fakes, self.gan_loss,
                                      rng)

    # Serving ----------------------------------------------------------------------------------
    def serving_signatures(self):
        """Base signatures, plus ``sample`` (optional class and level to stop at) and
        ``refine`` (a coarse image in, the next level out)."""
        task, sigs = self, dict(super().serving_signatures())
        coarse_sizes = tf.constant([self.sizes[k + 1] for k in range(self.top)], tf.int32)

        def labels_for(noise, n, label):
            if not task.num_classes:
                return None
            drawn = task.draw_labels(noise, n)
            return tf.where(label >= 0, tf.fill([n], label), drawn)

        @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="num_images"),
                                      tf.TensorSpec([], tf.int32, name="label"),
                                      tf.TensorSpec([], tf.int32, name="stop_level")])
        def sample(seed, num_images, label=tf.constant(-1, tf.int32),
                   stop_level=tf.constant(0, tf.int32)):
            def branch(level):
                def run():
                    noise = base.StatelessNoise(seed)
                    labels = labels_for(noise, num_images, label)
                    chain = task.cascade(noise, num_images, labels, stop_level=level)
                    return base.to_uint8(chain[-1])
                return run

            check = tf.debugging.Assert(
                tf.logical_and(stop_level >= 0, stop_level <= task.top),
                ["stop_level must be in [0, K]; K =", task.top, "got", stop_level])
            with tf.control_dependencies([check]):
                image = tf.switch_case(stop_level, [branch(k) for k in range(task.num_levels)])
            return {"image": image}

        sigs["sample"] = sample
        if not self.top:
            return sigs

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="coarse"),
                                      tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="label")])
        def refine(coarse, seed, label=tf.constant(-1, tf.int32)):
            size = tf.shape(coarse)[1]
            matches = tf.equal(coarse_sizes, size)
            check = tf.debugging.Assert(
                tf.logical_and(tf.reduce_any(matches), tf.equal(size, tf.shape(coarse)[2])),
                ["coarse images must be square with a side in", coarse_sizes, "got", size])
            index = tf.cast(tf.argmax(tf.cast(matches, tf.int32)), tf.int32)

            def branch(k):
                def run():
                    noise = base.StatelessNoise(seed)
                    n = tf.shape(coarse)[0]
                    labels = labels_for(noise, n, label)
                    image = tf.cast(coarse, tf.float32) / 127.5 - 1.0
                    image = tf.reshape(image, [-1, task.sizes[k + 1], task.sizes[k + 1], 3])
                    return base.to_uint8(task.refine(noise, image, k, labels))
                return run

            with tf.control_dependencies([check]):
                image = tf.switch_case(index, [branch(k) for k in range(task.top)])
            return {"image": image}

        sigs["refine"] = refine
        return sigs
