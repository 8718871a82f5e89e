"""PyTorch baseline for ``bin/benchmark --model=svg_lp --baseline=torch``: the official
SVG-LP training iteration.

A port of one training iteration of the official SVG code (Denton & Fergus 2018,
github.com/edenton/svg: ``train_svg_lp.py``, ``models/dcgan_64.py`` and
``models/lstm.py``), kept as close to it as runs on a current PyTorch:

* DCGAN-64 ``encoder`` (``dcgan_conv``: Conv2d 4x4 stride 2 padding 1 +
  BatchNorm2d + LeakyReLU(0.2), then Conv2d 4x4 valid to ``g_dim`` + BN +
  Tanh; returns h and the four feature maps as skips) and ``decoder``
  (ConvTranspose2d 4x4 to 4x4 + BN + LeakyReLU, then ``dcgan_upconv`` on
  [previous, skip] and a last ConvTranspose2d to the channels + Sigmoid);
  convolutions keep PyTorch's default bias, as the official code does;
  weights from ``utils.init_weights`` (conv N(0, 0.02), BN scale N(1, 0.02)).
* ``lstm`` (frame predictor: Linear embedding, ``n_layers`` LSTMCells,
  Linear + Tanh) and ``gaussian_lstm`` (posterior / prior: Linear embedding,
  LSTMCells, Linear heads for mu and logvar, reparameterised sample), with
  their hidden state reset at the start of each iteration.
* ``train``: for i = 1..n_past+n_future-1 the encoder runs on x[i-1] and on
  x[i] (so every inner frame is encoded twice), then posterior(h_target),
  prior(h), frame_predictor([h, z_t]) and decoder([h_pred, skip]) with the
  skips of x[i-1] while i < n_past (the last context frame's afterwards);
  loss = sum_i MSELoss(x_pred, x[i]) + beta * sum_i kl_criterion (summed KL
  divided by the batch size); one backward, then the step of each of the
  five Adam optimisers (lr, betas (beta1, 0.999)).

The networks take the frame size and width as parameters (one stride-2
level per octave, as tfvidgen.nets.svg_nets) so that the ``tiny`` preset can
run; at 64x64 with nf 64 they are the official DCGAN-64 ones. Real data are
a constant random clip in [0, 1] (no data loader is timed here), as a list
of [B, C, H, W] frames like the official ``get_training_batch``.

Standalone: ``python benchmarks/svg_torch.py --iterations=4`` prints JSON.
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


def _levels(image_size):
    n = math.log2(image_size) - 2
    if image_size < 16 or n != int(n):
        raise ValueError(f"image_size must be a power of two >= 16, got {image_size}")
    return int(n)


class dcgan_conv(nn.Module):
    def __init__(self, nin, nout):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout),
                                  nn.LeakyReLU(0.2, inplace=True))

    def forward(self, input):
        return self.main(input)


class dcgan_upconv(nn.Module):
    def __init__(self, nin, nout):
        super().__init__()
        self.main = nn.Sequential(nn.ConvTranspose2d(nin, nout, 4, 2, 1), nn.BatchNorm2d(nout),
                                  nn.LeakyReLU(0.2, inplace=True))

    def forward(self, input):
        return self.main(input)


def _widths(image_size, nf):
    return [nf * min(2 ** level, 8) for level in range(_levels(image_size))]


class encoder(nn.Module):
    """Official dcgan_64.encoder (c1..c4 = dcgan_conv, c5 = Conv 4x4 valid + BN + Tanh)."""

    def __init__(self, dim, nc=1, nf=64, image_size=64):
        super().__init__()
        self.dim = dim
        widths = _widths(image_size, nf)
        cin, convs = nc, []
        for width in widths:
            convs.append(dcgan_conv(cin, width))
            cin = width
        self.convs = nn.ModuleList(convs)
        self.c5 = nn.Sequential(nn.Conv2d(cin, dim, 4, 1, 0), nn.BatchNorm2d(dim), nn.Tanh())

    def forward(self, input):
        skips, h = [], input
        for conv in self.convs:
            h = conv(h)
            skips.append(h)
        return self.c5(h).view(-1, self.dim), skips


class decoder(nn.Module):
    """Official dcgan_64.decoder (upc1, dcgan_upconv on [d, skip], ConvTranspose + Sigmoid)."""

    def __init__(self, dim, nc=1, nf=64, image_size=64):
        super().__init__()
        self.dim = dim
        widths = _widths(image_size, nf)
        self.upc1 = nn.Sequential(nn.ConvTranspose2d(dim, widths[-1], 4, 1, 0),
                                  nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.2, inplace=True))
        ups = [dcgan_upconv(widths[level] * 2, widths[level - 1])
               for level in reversed(range(1, len(widths)))]
        self.ups = nn.ModuleList(ups)
        self.upc5 = nn.Sequential(nn.ConvTranspose2d(widths[0] * 2, nc, 4, 2, 1), nn.Sigmoid())

    def forward(self, input):
        vec, skip = input
        d = self.upc1(vec.view(-1, self.dim, 1, 1))
        for i, up in enumerate(self.ups):
            d = up(torch.cat([d, skip[len(skip) - 1 - i]], 1))
        return self.upc5(torch.cat([d, skip[0]], 1))


class lstm(nn.Module):
    """Official models/lstm.lstm (the frame predictor)."""

    def __init__(self, input_size, output_size, hidden_size, n_layers, batch_size):
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.hidden_size, self.batch_size, self.n_layers = hidden_size, batch_size, n_layers
        self.embed = nn.Linear(input_size, hidden_size)
        self.lstm = nn.ModuleList([nn.LSTMCell(hidden_size, hidden_size)
                                   for _ in range(self.n_layers)])
        self.output = nn.Sequential(nn.Linear(hidden_size, output_size), nn.Tanh())
        self.hidden = self.init_hidden()

    def init_hidden(self):
        return [(torch.zeros(self.batch_size, self.hidden_size),
                 torch.zeros(self.batch_size, self.hidden_size)) for _ in range(self.n_layers)]

    def forward(self, input):
        embedded = self.embed(input.view(-1, self.input_size))
        h_in = embedded
        for i in range(self.n_layers):
            self.hidden[i] = self.lstm[i](h_in, self.hidden[i])
            h_in = self.hidden[i][0]
        return self.output(h_in)


class gaussian_lstm(nn.Module):
    """Official models/lstm.gaussian_lstm (posterior and prior)."""

    def __init__(self, input_size, output_size, hidden_size, n_layers, batch_size):
        super().__init__()
        self.input_size, self.output_size = input_size, output_size
        self.hidden_size, self.n_layers, self.batch_size = hidden_size, n_layers, batch_size
        self.embed = nn.Linear(input_size, hidden_size)
        self.lstm = nn.ModuleList([nn.LSTMCell(hidden_size, hidden_size)
                                   for _ in range(self.n_layers)])
        self.mu_net = nn.Linear(hidden_size, output_size)
        self.logvar_net = nn.Linear(hidden_size, output_size)
        self.hidden = self.init_hidden()

    def init_hidden(self):
        return [(torch.zeros(self.batch_size, self.hidden_size),
                 torch.zeros(self.batch_size, self.hidden_size)) for _ in range(self.n_layers)]

    def reparameterize(self, mu, logvar):
        logvar = logvar.mul(0.5).exp_()
        eps = logvar.new_empty(logvar.size()).normal_()
        return eps.mul(logvar).add_(mu)

    def forward(self, input):
        embedded = self.embed(input.view(-1, self.input_size))
        h_in = embedded
        for i in range(self.n_layers):
            self.hidden[i] = self.lstm[i](h_in, self.hidden[i])
            h_in = self.hidden[i][0]
        mu = self.mu_net(h_in)
        logvar = self.logvar_net(h_in)
        z = self.reparameterize(mu, logvar)
        return z, mu, logvar


def init_weights(m):
    """Official utils.init_weights."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Baseline:
    """One official SVG-LP training iteration on a constant random clip, timed.

    Same interface as ``mocogan_torch.Baseline``: ``iteration()`` returns
    its seconds, ``describe()`` a dict; ``video_batch`` is the batch size.
    """

    def __init__(self, model="svg_lp", image_size=64, channels=1, nf=64, g_dim=128, z_dim=10,
                 rnn_size=256, predictor_rnn_layers=2, posterior_rnn_layers=1,
                 prior_rnn_layers=1, n_past=5, n_future=10, beta=1e-4, last_frame_skip=False,
                 learning_rate=2e-3, beta1=0.9, batch_size=16, threads=2, seed=0):
        if model != "svg_lp":
            raise ValueError(f"no PyTorch baseline for {model!r} (svg_lp)")
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        np.random.seed(seed)
        self.model, self.video_batch = model, batch_size
        self.n_past, self.n_future, self.beta = n_past, n_future, beta
        self.last_frame_skip = last_frame_skip
        self.frame_predictor = lstm(g_dim + z_dim, g_dim, rnn_size, predictor_rnn_layers,
                                    batch_size)
        self.posterior = gaussian_lstm(g_dim, z_dim, rnn_size, posterior_rnn_layers, batch_size)
        self.prior = gaussian_lstm(g_dim, z_dim, rnn_size, prior_rnn_layers, batch_size)
        self.encoder = encoder(g_dim, channels, nf, image_size)
        self.decoder = decoder(g_dim, channels, nf, image_size)
        for net in (self.frame_predictor, self.posterior, self.prior):
            net.apply(init_weights)
        self.encoder.apply(init_weights)
        self.decoder.apply(init_weights)
        adam = dict(lr=learning_rate, betas=(beta1, 0.999))
        self.nets = [self.frame_predictor, self.posterior, self.prior, self.encoder,
                     self.decoder]
        self.optimizers = [torch.optim.Adam(net.parameters(), **adam) for net in self.nets]
        self.mse_criterion = nn.MSELoss()
        self.x = [torch.rand(batch_size, channels, image_size, image_size)
                  for _ in range(n_past + n_future)]

    def kl_criterion(self, mu1, logvar1, mu2, logvar2):
        """Official kl_criterion of train_svg_lp.py (KL summed, / batch size)."""
        sigma1 = logvar1.mul(0.5).exp()
        sigma2 = logvar2.mul(0.5).exp()
        kld = (torch.log(sigma2 / sigma1) + (torch.exp(logvar1) + (mu1 - mu2) ** 2)
               / (2 * torch.exp(logvar2)) - 1 / 2)
        return kld.sum() / self.video_batch

    def train(self, x):
        """Official train() of train_svg_lp.py; returns (mse, kld) per frame."""
        for net in self.nets:
            net.zero_grad()
        self.frame_predictor.hidden = self.frame_predictor.init_hidden()
        self.posterior.hidden = self.posterior.init_hidden()
        self.prior.hidden = self.prior.init_hidden()
        mse = 0
        kld = 0
        for i in range(1, self.n_past + self.n_future):
            h = self.encoder(x[i - 1])
            h_target = self.encoder(x[i])[0]
            if self.last_frame_skip or i < self.n_past:
                h, skip = h
            else:
                h = h[0]
            z_t, mu, logvar = self.posterior(h_target)
            _, mu_p, logvar_p = self.prior(h)
            h_pred = self.frame_predictor(torch.cat([h, z_t], 1))
            x_pred = self.decoder([h_pred, skip])
            mse += self.mse_criterion(x_pred, x[i])
            kld += self.kl_criterion(mu, logvar, mu_p, logvar_p)
        loss = mse + kld * self.beta
        loss.backward()
        for opt in self.optimizers:
            opt.step()
        steps = self.n_past + self.n_future
        return (mse.detach().numpy() / steps, kld.detach().numpy() / steps)

    def iteration(self) -> float:
        """One training iteration (train mode); returns its seconds."""
        start = time.perf_counter()
        for net in self.nets:
            net.train()
        losses = [float(v) for v in self.train(self.x)]
        elapsed = time.perf_counter() - start
        if not all(np.isfinite(losses)):
            raise FloatingPointError(f"non-finite PyTorch loss: {losses}")
        return elapsed

    def describe(self) -> dict:
        return {"framework": "torch", "version": torch.__version__,
                "threads": torch.get_num_threads(), "model": self.model,
                "encoder_calls": "two per step (x[i-1] and x[i]; official train_svg_lp.py)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    args = parser.parse_args()
    baseline = Baseline(image_size=args.image_size, batch_size=args.batch_size,
                        threads=args.threads)
    for _ in range(args.warmup):
        baseline.iteration()
    times = [baseline.iteration() for _ in range(args.iterations)]
    median = statistics.median(times)
    print(json.dumps({"videos_per_s": round(baseline.video_batch / median, 4),
                      "sec_per_iter_median": round(median, 4),
                      "times": [round(t, 4) for t in times], **baseline.describe()}, indent=1))


if __name__ == "__main__":
    main()
