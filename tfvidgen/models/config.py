"""Settings of the GAN family (seed 003): MoCoGAN, RMoCoGAN, RJGAN and the image GAN."""
from __future__ import annotations

import dataclasses

from tfvidgen.settings import ConfigError, Settings, setting


# The names of tfvidgen.losses.LOSS_PAIRS (kept here so that settings need no TensorFlow).
GAN_LOSSES = ("non_saturating", "minimax", "wasserstein", "wgan_gp", "hinge")


@dataclasses.dataclass(frozen=True)
class GANConfig(Settings):
    """Hyperparameters shared by MoCoGAN, RMoCoGAN, RJGAN and the image GAN.

    Defaults are the official MoCoGAN settings (and seed 003's, which
    follows them): content 50, motion 10, Adam 2e-4 / beta1 0.5, L2 weight
    decay 1e-5, 16-frame clips, video batch 16, image batch 32.
    """
    batch_size: int = setting(16, "Global batch: videos per step (images for image_gan).",
                              min=1)
    ngf: int = setting(64, "Generator width (filters of its last hidden layer).", min=1)
    ndf: int = setting(64, "Discriminators' width (filters of their first layer).", min=1)
    content_dim: int = setting(50, "MoCoGAN/RMoCoGAN: content code size z_C.", min=1)
    motion_dim: int = setting(10, "MoCoGAN/RMoCoGAN: motion code size z_M.", min=1)
    latent_dim: int = setting(60, "RJGAN/image GAN: image latent size (mu, z(t)).", min=1)
    noise_dim: int = setting(10, "RJGAN: per-step noise eps(t) size.", min=1)
    residual_hidden: int = setting(128, "RMoCoGAN: hidden units of delta_C's MLP.", min=1)
    num_categories: int = setting(
        0, "Categories of the categorical video discriminator (0: unconditional).", min=0)
    prior_stddev: float = setting(1.0, "sigma of the N(0, sigma^2 I) prior of mu / z_C.",
                                  min=0.0, min_exclusive=True)
    clip_length: int = setting(16, "Frames per clip S_T shown to the video discriminator.",
                               min=1)
    every_nth: int = setting(1, "Temporal stride of real clips.", min=1)
    image_batch_size: int = setting(
        32, "Global image batch for the image discriminator (a multiple of --batch_size).",
        min=1)
    learning_rate: float = setting(2e-4, "Adam learning rate (all networks).", min=0.0,
                                   min_exclusive=True)
    beta1: float = setting(0.5, "Adam beta1.", min=0.0, max=0.999999)
    beta2: float = setting(0.999, "Adam beta2.", min=0.0, max=0.999999)
    weight_decay: float = setting(1e-5, "L2 weight decay added to gradients (PyTorch style).",
                                  min=0.0)
    residual_output: str = setting(
        "gru", "RJGAN: delta(t) is the GRU cell's output (seed 003, section 4.1), or "
        "'projection': a linear map of it (residuals not confined to the GRU's range).",
        choices=("gru", "projection"))
    motion_initial_state: str = setting(
        "normal", "Initial state h(0) of the motion GRU R_M: 'normal', h(0) ~ N(0, I) as the "
        "official MoCoGAN code draws it; 'zeros', h(0) = 0, so that the first frames are not "
        "pulled by a random start state the GRU then forgets (the papers do not say).",
        choices=("normal", "zeros"))
    summary_frame_period: int = setting(
        1, "RJGAN: show summary frames G_I(mu) to D_I every this many steps.", min=1)
    share_fakes: bool = setting(
        True, "Use one batch of generated videos for the D and G updates of an iteration "
        "(--noshare_fakes: a fresh batch per update, as the official code).")
    init_image_generator: str = setting(
        "", "Run directory or checkpoint whose image_generator initialises this model's "
        "(pre-training between image_gan and rjgan).", mutable=True)
    gan_loss: str = setting(
        "non_saturating", "Adversarial loss pair (tfvidgen.losses.LOSS_PAIRS): non_saturating "
        "(MoCoGAN's), minimax, wasserstein (weight clipping 0.01), wgan_gp (gradient penalty "
        "and PGGAN's drift term), hinge.", choices=GAN_LOSSES)
    n_critic: int = setting(
        1, "Discriminator updates per generator update, each on a fresh real batch "
        "(5 in WGAN and WGAN-GP).", min=1)
    gradient_penalty: float = setting(
        10.0, "wgan_gp: lambda of the gradient penalty (Gulrajani et al. 2017).", min=0.0)
    drift: float = setting(
        0.001, "wgan_gp: epsilon of PGGAN's drift term eps * D(x)^2 (0: Gulrajani et al.'s "
        "objective without it).", min=0.0)
    r1_gamma: float = setting(
        0.0, "gamma of the R1 penalty gamma/2 ||grad D(x_real)||^2 added to any loss pair "
        "(Mescheder et al. 2018; 0: none).", min=0.0)
    ema_decay: float = setting(
        0.0, "Decay of the moving average of the generator's weights used for samples and "
        "exports (PGGAN: 0.999; 0: none).", min=0.0, max=0.999999)

    def check(self):
        if self.image_batch_size % self.batch_size:
            raise ConfigError(
                f"--image_batch_size must be a multiple of --batch_size (each video slot "
                f"carries image_batch_size / batch_size frames for the image discriminator); "
                f"got {self.image_batch_size} and {self.batch_size}.")

    @property
    def images_per_video(self) -> int:
        return max(self.image_batch_size // self.batch_size, 1)


@dataclasses.dataclass(frozen=True)
class ImageGANConfig(GANConfig):
    """The image-only baseline: its batch is images (seed 003, section 5.2)."""
    batch_size: int = setting(32, "Global batch of images per step.", min=1)

    def check(self):  # no video batch to divide the image batch among
        pass
