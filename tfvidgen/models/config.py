"""Hyperparameters of the GAN family (seed 003), filled from the model flags."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Hyperparameters shared by MoCoGAN, RMoCoGAN, RJGAN and the image GAN.

    Defaults are the official MoCoGAN settings (and seed 003's, which
    follows them): content 50, motion 10, Adam 2e-4 / beta1 0.5, L2 weight
    decay 1e-5, 16-frame clips, video batch 16, image batch 32.
    """
    ngf: int = 64
    ndf: int = 64
    content_dim: int = 50
    motion_dim: int = 10
    latent_dim: int = 60          # RJGAN / image GAN frame latent (mu, z(t))
    noise_dim: int = 10           # RJGAN: eps(t) fed to the GRU with mu
    residual_hidden: int = 128    # RMoCoGAN: MLP (z_C, z_M(t)) -> delta_C(t)
    num_categories: int = 0       # > 0: categorical D_V and one-hot in G_I's input
    prior_stddev: float = 1.0     # sigma of N(0, sigma^2 I) for mu / z_C
    clip_length: int = 16
    every_nth: int = 1
    batch_size: int = 16          # global video batch
    image_batch_size: int = 32    # global image batch (frames for D_I)
    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-5
    summary_frame_period: int = 1  # RJGAN: G_I(mu) shown to D_I every k steps
    share_fakes: bool = True      # one batch of fakes for the D and G updates
    init_image_generator: str = ""

    @property
    def images_per_video(self) -> int:
        return max(self.image_batch_size // self.batch_size, 1)
