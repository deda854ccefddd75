"""A straightforward PyTorch port of the working-memory training loop: the benchmark's baseline.

What a careful first port of the authors' TensorFlow code would look like: one trial at a time,
``nn.Module``s with ``nn.Linear`` layers, a Python loop over time steps that indexes the input
at each step, the statistics network applied to the concatenated pair ``(x, y)`` for the joint
and for the shuffled samples, and each of the k statistics-network steps running its own RNN
pass. Same sizes, equations, optimizers and clipping as ``mifd.experiments.wm``; it is used
only by ``mifd bench`` to measure the speed-up of the library's implementation, side by side.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..tasks import flipflop


class PortRNN(nn.Module):
    def __init__(self, n: int, alpha: float, sigma: float, n_in: int = 4, n_out: int = 2):
        super().__init__()
        self.alpha, self.sigma = alpha, sigma
        self.inp = nn.Linear(n_in, n)
        self.rec = nn.Linear(n, n, bias=False)
        self.out = nn.Linear(n, n_out)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hs = []
        for t in range(x.shape[1]):
            drive = self.rec(torch.tanh(h)) + self.inp(x[:, t])
            h = (1 - self.alpha) * h + self.alpha * drive + self.sigma * torch.randn_like(h)
            hs.append(h)
        H = torch.stack(hs, 1)
        return H, self.out(torch.tanh(H))


class PortCritic(nn.Module):
    def __init__(self, d: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, width),
                                 nn.ReLU(), nn.Linear(width, 1))

    def dv(self, x: torch.Tensor, y: torch.Tensor, noise: float) -> torch.Tensor:
        """Donsker–Varadhan value on the pairs (x, y) and on (x, shuffled y)."""
        n = x.shape[0]
        ys = y[torch.randperm(n)]
        tj = self.net(torch.cat([x + noise * torch.randn_like(x), y + noise * torch.randn_like(y)], 1))
        tm = self.net(torch.cat([x + noise * torch.randn_like(x), ys + noise * torch.randn_like(ys)], 1))
        return tj.mean() - (torch.logsumexp(tm[:, 0], 0) - math.log(n))


class PortWM:
    """One trial of the working-memory experiment, written plainly (see the module doc)."""

    def __init__(self, cfg, seed: int = 1001, device: str = "cpu"):
        torch.manual_seed(seed)
        self.cfg, self.device = cfg, device
        self.rnn = PortRNN(cfg.n, cfg.alpha, cfg.sigma).to(device)
        self.critic = PortCritic(cfg.n, cfg.sm_width).to(device)
        self.opt = torch.optim.RMSprop(self.rnn.parameters(), lr=cfg.mm_lr, alpha=0.9, eps=1e-7)
        self.opt_c = torch.optim.RMSprop(self.critic.parameters(), lr=cfg.sm_lr, alpha=0.9, eps=1e-7)
        self.gen = [torch.Generator().manual_seed(seed)]

    def _rates(self, batch: int, grad: bool):
        c = self.cfg
        x, target = flipflop.generate(self.gen, batch, c.transient + c.steps)
        x, target = x[0].to(self.device), target[0].to(self.device)
        h = torch.zeros(batch, c.n, device=self.device)
        with torch.no_grad():
            H, _ = self.rnn(x[:, :c.transient], h)
        with torch.set_grad_enabled(grad):
            H, y = self.rnn(x[:, c.transient:], H[:, -1])
        r = torch.tanh(H).reshape(-1, c.n)
        if c.sm_samples:
            r = r[torch.randperm(r.shape[0], device=self.device)[:c.sm_samples]]
        return r[:, :c.n // 2], r[:, c.n // 2:], y, target[:, c.transient:]

    def epoch(self) -> None:
        c = self.cfg
        for _ in range(c.sm_per_mm):
            xr, yr, _, _ = self._rates(c.sm_batch or c.batch, grad=False)
            loss = -self.critic.dv(xr, yr, c.sm_noise)
            self.opt_c.zero_grad()
            loss.backward()
            for p in self.critic.parameters():
                torch.nn.utils.clip_grad_norm_([p], c.sm_clip)
            self.opt_c.step()
        xr, yr, y, target = self._rates(c.batch, grad=True)
        task = ((y - target) ** 2).mean()
        reg = c.l2 * sum((w ** 2).sum() for w in (self.rnn.inp.weight, self.rnn.rec.weight,
                                                  self.rnn.out.weight))
        loss = task + reg + c.lambda_mi * self.critic.dv(xr, yr, c.sm_noise)
        self.opt.zero_grad()
        loss.backward()
        for p in self.rnn.parameters():
            torch.nn.utils.clip_grad_norm_([p], c.mm_clip)
        self.opt.step()
