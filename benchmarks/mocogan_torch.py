"""PyTorch baseline for ``bin/benchmark --baseline=torch``: the official MoCoGAN iteration.

A port of the networks and of one training iteration of the official
MoCoGAN code (github.com/sergeytulyakov/mocogan, ``src/models.py`` and
``src/trainers.py``), kept as close to it as runs on a current PyTorch:

* ``VideoGenerator``: GRUCell motion model (h(0) and eps(t) ~ N(0, I)),
  content and categories drawn with numpy and repeated per frame, input
  order [z_content, z_category, z_motion], ConvTranspose2d stack with
  BatchNorm + ReLU and tanh. ``sample_images(n)`` draws latents of
  ``n * video_length * 2`` videos and renders ``n`` random frames of them,
  as the official code does.
* ``PatchImageDiscriminator`` and ``CategoricalVideoDiscriminator``
  (``VideoDiscriminator`` with 1 + categories outputs).
* One iteration = ``train_discriminator`` for D_I, then for D_V (with the
  category cross-entropy on real clips), then ``train_generator``: each of
  the three updates draws its own batch of fakes; BCEWithLogits losses,
  CrossEntropy for categories, Adam(2e-4, betas (0.5, 0.999),
  weight_decay 1e-5) per network.

The networks take the frame size as a parameter (one stride-2 block per
octave, as tfvidgen.nets.dcgan) so the ``tiny`` preset can run; at 64x64
they are the official ones. The ``rjgan`` variant replaces the motion model
by RJGAN's (z(t) = mu + W GRU([eps(t), mu])) and adds its summary-frame
term (D_I judges G_I(mu) against real frames every iteration), written in
the same style, since RJGAN has no official PyTorch code.

Real data are constant random tensors (no data loader is timed here).

Standalone: ``python benchmarks/mocogan_torch.py --iterations=4`` prints JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch import nn


def _blocks(image_size):
    n = math.log2(image_size) - 2
    if image_size < 16 or n != int(n):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(n)


class PatchImageDiscriminator(nn.Module):
    """Official D_I: Conv 4x4 stride 2 blocks (ndf, 2 ndf + BN, 4 ndf + BN), then 1 map."""

    def __init__(self, n_channels=3, ndf=64, image_size=64):
        super().__init__()
        layers, width, cin = [], ndf, n_channels
        for i in range(_blocks(image_size) - 1):
            layers.append(nn.Conv2d(cin, width, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin, width = width, width * 2
        layers.append(nn.Conv2d(cin, 1, 4, 2, 1, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        return self.main(x).squeeze(), None


class CategoricalVideoDiscriminator(nn.Module):
    """Official categorical D_V: Conv3d 4x4x4 stride (1, 2, 2) padding (0, 1, 1) blocks."""

    def __init__(self, n_channels=3, dim_categorical=6, ndf=64, image_size=64):
        super().__init__()
        self.dim_categorical = dim_categorical
        layers, width, cin = [], ndf, n_channels
        for i in range(_blocks(image_size)):
            layers.append(nn.Conv3d(cin, width, 4, stride=(1, 2, 2), padding=(0, 1, 1),
                                    bias=False))
            if i > 0:
                layers.append(nn.BatchNorm3d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin, width = width, min(width * 2, ndf * 8)
        layers.append(nn.Conv3d(cin, 1 + dim_categorical, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x):
        h = self.main(x).squeeze()
        return h[:, :h.size(1) - self.dim_categorical], h[:, h.size(1) - self.dim_categorical:]


class VideoGenerator(nn.Module):
    """Official VideoGenerator (G_I + GRUCell R_M)."""

    def __init__(self, n_channels=3, dim_z_content=50, dim_z_category=6, dim_z_motion=10,
                 video_length=16, ngf=64, image_size=64):
        super().__init__()
        self.n_channels, self.video_length = n_channels, video_length
        self.dim_z_content, self.dim_z_category = dim_z_content, dim_z_category
        self.dim_z_motion = dim_z_motion
        self.recurrent = nn.GRUCell(dim_z_motion, dim_z_motion)
        self.main = image_generator(self.latent_dim(), n_channels, ngf, image_size)

    def latent_dim(self):
        return self.dim_z_content + self.dim_z_category + self.dim_z_motion

    def sample_z_m(self, num_samples, video_len):
        h_t = [torch.randn(num_samples, self.dim_z_motion)]
        for _ in range(video_len):
            h_t.append(self.recurrent(torch.randn(num_samples, self.dim_z_motion), h_t[-1]))
        return torch.cat([h.view(-1, 1, self.dim_z_motion) for h in h_t[1:]], 1).view(
            -1, self.dim_z_motion)

    def sample_z_categ(self, num_samples, video_len):
        if self.dim_z_category <= 0:
            return None, np.zeros(num_samples)
        classes = np.random.randint(self.dim_z_category, size=num_samples)
        one_hot = np.zeros((num_samples, self.dim_z_category), dtype=np.float32)
        one_hot[np.arange(num_samples), classes] = 1
        return torch.from_numpy(np.repeat(one_hot, video_len, axis=0)), classes

    def sample_z_content(self, num_samples, video_len):
        content = np.random.normal(0, 1, (num_samples, self.dim_z_content)).astype(np.float32)
        return torch.from_numpy(np.repeat(content, video_len, axis=0))

    def sample_z_video(self, num_samples, video_len=None):
        video_len = video_len or self.video_length
        z_content = self.sample_z_content(num_samples, video_len)
        z_category, labels = self.sample_z_categ(num_samples, video_len)
        z_motion = self.sample_z_m(num_samples, video_len)
        parts = [z_content] + ([z_category] if z_category is not None else []) + [z_motion]
        return torch.cat(parts, dim=1), labels

    def sample_videos(self, num_samples, video_len=None):
        video_len = video_len or self.video_length
        z, labels = self.sample_z_video(num_samples, video_len)
        h = self.main(z.view(z.size(0), z.size(1), 1, 1))
        h = h.view(h.size(0) // video_len, video_len, self.n_channels, h.size(3), h.size(3))
        return h.permute(0, 2, 1, 3, 4), torch.from_numpy(labels).long()

    def sample_images(self, num_samples):
        z, _ = self.sample_z_video(num_samples * self.video_length * 2)
        j = np.sort(np.random.choice(z.size(0), num_samples, replace=False)).astype(np.int64)
        z = z[j]
        return self.main(z.view(z.size(0), z.size(1), 1, 1)), None


def image_generator(dim_z, n_channels, ngf, image_size):
    """Official ``VideoGenerator.main``: ConvTranspose2d 4x4, BN + ReLU, tanh."""
    n = _blocks(image_size)
    width = ngf * 2 ** (n - 1)
    layers = [nn.ConvTranspose2d(dim_z, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width),
              nn.ReLU(True)]
    for _ in range(n - 1):
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(width // 2), nn.ReLU(True)]
        width //= 2
    layers += [nn.ConvTranspose2d(width, n_channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class RJGANGenerator(VideoGenerator):
    """RJGAN's latent model in the official generator's style: z(t) = mu + W h(t)."""

    def __init__(self, latent_dim=60, noise_dim=10, dim_z_category=6, **kwargs):
        self.mu_dim, self.noise_dim = latent_dim, noise_dim
        super().__init__(dim_z_content=latent_dim, dim_z_category=dim_z_category,
                         dim_z_motion=0, **kwargs)
        self.recurrent = nn.GRUCell(noise_dim + latent_dim, latent_dim)
        self.project = nn.Linear(latent_dim, latent_dim)

    def sample_z_video(self, num_samples, video_len=None):
        video_len = video_len or self.video_length
        mu = torch.randn(num_samples, self.mu_dim)
        h, frames = torch.randn(num_samples, self.mu_dim), []
        for _ in range(video_len):
            h = self.recurrent(torch.cat([torch.randn(num_samples, self.noise_dim), mu], 1), h)
            frames.append((mu + self.project(h)).view(-1, 1, self.mu_dim))
        z = torch.cat(frames, 1).view(-1, self.mu_dim)
        z_category, labels = self.sample_z_categ(num_samples, video_len)
        return (torch.cat([z, z_category], 1) if z_category is not None else z), labels

    def sample_summary_frames(self, num_samples):
        """G_I(mu) with the video's category one-hot."""
        z = torch.randn(num_samples, self.mu_dim)
        z_category, _ = self.sample_z_categ(num_samples, 1)
        if z_category is not None:
            z = torch.cat([z, z_category], 1)
        return self.main(z.view(z.size(0), z.size(1), 1, 1))


class Baseline:
    """One official training iteration on constant random data, timed."""

    def __init__(self, model="mocogan", image_size=64, ngf=64, ndf=64, num_categories=6,
                 clip_length=16, video_batch=16, image_batch=32, content_dim=50, motion_dim=10,
                 latent_dim=60, noise_dim=10, threads=2, seed=0):
        if model not in ("mocogan", "rjgan"):
            raise ValueError(f"no PyTorch baseline for {model!r} (mocogan, rjgan)")
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        np.random.seed(seed)
        self.model, self.video_batch, self.image_batch = model, video_batch, image_batch
        common = dict(n_channels=3, video_length=clip_length, ngf=ngf, image_size=image_size)
        if model == "rjgan":
            self.generator = RJGANGenerator(latent_dim, noise_dim, num_categories, **common)
        else:
            self.generator = VideoGenerator(dim_z_content=content_dim,
                                            dim_z_category=num_categories,
                                            dim_z_motion=motion_dim, **common)
        self.image_discriminator = PatchImageDiscriminator(3, ndf, image_size)
        self.video_discriminator = CategoricalVideoDiscriminator(3, num_categories, ndf,
                                                                 image_size)
        adam = dict(lr=0.0002, betas=(0.5, 0.999), weight_decay=0.00001)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), **adam)
        self.opt_di = torch.optim.Adam(self.image_discriminator.parameters(), **adam)
        self.opt_dv = torch.optim.Adam(self.video_discriminator.parameters(), **adam)
        self.gan_criterion = nn.BCEWithLogitsLoss()
        self.category_criterion = nn.CrossEntropyLoss()
        self.real_images = torch.rand(image_batch, 3, image_size, image_size) * 2 - 1
        self.real_videos = torch.rand(video_batch, 3, clip_length, image_size, image_size) * 2 - 1
        self.real_categories = torch.from_numpy(
            np.random.randint(max(num_categories, 1), size=video_batch)).long()

    def train_discriminator(self, discriminator, real, fake, opt, categories=None, extra=None):
        opt.zero_grad()
        real_labels, real_categorical = discriminator(real)
        fake_labels, _ = discriminator(fake.detach())
        loss = (self.gan_criterion(real_labels, torch.ones_like(real_labels)) +
                self.gan_criterion(fake_labels, torch.zeros_like(fake_labels)))
        if categories is not None:
            loss = loss + self.category_criterion(real_categorical.squeeze(), categories)
        if extra is not None:  # RJGAN: D_I on real frames vs summary frames G_I(mu)
            real_labels, _ = discriminator(real)
            fake_labels, _ = discriminator(extra.detach())
            loss = loss + (self.gan_criterion(real_labels, torch.ones_like(real_labels)) +
                           self.gan_criterion(fake_labels, torch.zeros_like(fake_labels)))
        loss.backward()
        opt.step()
        return loss

    def train_generator(self):
        self.opt_g.zero_grad()
        fake_images, _ = self.generator.sample_images(self.image_batch)
        fake_labels, _ = self.image_discriminator(fake_images)
        loss = self.gan_criterion(fake_labels, torch.ones_like(fake_labels))
        fake_videos, generated_categories = self.generator.sample_videos(self.video_batch)
        fake_labels, fake_categorical = self.video_discriminator(fake_videos)
        loss = loss + self.gan_criterion(fake_labels, torch.ones_like(fake_labels))
        if self.generator.dim_z_category > 0:
            loss = loss + self.category_criterion(fake_categorical.squeeze(), generated_categories)
        if self.model == "rjgan":
            fake_labels, _ = self.image_discriminator(
                self.generator.sample_summary_frames(self.image_batch))
            loss = loss + self.gan_criterion(fake_labels, torch.ones_like(fake_labels))
        loss.backward()
        self.opt_g.step()
        return loss

    def iteration(self) -> float:
        """D_I update, D_V update, G update (three fake batches); returns seconds."""
        start = time.perf_counter()
        for net in (self.generator, self.image_discriminator, self.video_discriminator):
            net.train()
        fake_images, _ = self.generator.sample_images(self.image_batch)
        extra = (self.generator.sample_summary_frames(self.image_batch)
                 if self.model == "rjgan" else None)
        l_di = self.train_discriminator(self.image_discriminator, self.real_images, fake_images,
                                        self.opt_di, extra=extra)
        fake_videos, _ = self.generator.sample_videos(self.video_batch)
        categories = self.real_categories if self.generator.dim_z_category > 0 else None
        l_dv = self.train_discriminator(self.video_discriminator, self.real_videos, fake_videos,
                                        self.opt_dv, categories)
        l_g = self.train_generator()
        losses = [float(l.detach()) for l in (l_di, l_dv, l_g)]
        elapsed = time.perf_counter() - start
        if not all(np.isfinite(losses)):
            raise FloatingPointError(f"non-finite PyTorch loss: {losses}")
        return elapsed

    def describe(self) -> dict:
        return {"framework": "torch", "version": torch.__version__,
                "threads": torch.get_num_threads(), "model": self.model,
                "fakes": "three batches per iteration (official schedule)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mocogan", choices=("mocogan", "rjgan"))
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--image_size", type=int, default=64)
    args = parser.parse_args()
    baseline = Baseline(model=args.model, image_size=args.image_size, threads=args.threads)
    for _ in range(args.warmup):
        baseline.iteration()
    times = [baseline.iteration() for _ in range(args.iterations)]
    median = statistics.median(times)
    print(json.dumps({"videos_per_s": round(baseline.video_batch / median, 4),
                      "sec_per_iter_median": round(median, 4),
                      "times": [round(t, 4) for t in times], **baseline.describe()}, indent=1))


if __name__ == "__main__":
    main()
