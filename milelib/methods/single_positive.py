"""Single-positive multi-label losses of Cole et al., "Multi-label learning from single positive
labels", CVPR 2021 (code: github.com/elijahcole/single-positive-multi-label, losses.py): AN with
label smoothing, WAN, EPR and ROLE. AN itself, BCE on the one-hot label, is our `sigmoid` (from
logits, without the authors' 1e-5 in the log: a difference below 1e-4 of the loss).

Each image n has one observed label: y_ni = 1 for it and 0 (unobserved, assumed negative by AN)
for the C - 1 others. As the authors' code does, the losses read p = sigmoid(z) through
neg_log(x) = -log(x + 1e-5), every entry's loss is averaged over all B x C entries of the batch
(never over positives only), and a regulariser R is added on top, undivided:

    R(q) = ((1/B) sum_n sum_i q_ni - k)^2 / C^2     (k: the expected number of positives per image)

R reads a batch statistic: under torchrun it is the global batch's (`distributed.global_mean`), as
with one process.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import World, global_mean, synchronise_rows
from .base import optimizer_step
from .supervised import Sigmoid

EPS = 1e-5  # inside the authors' logs


def neg_log(x: torch.Tensor) -> torch.Tensor:
    return -torch.log(x + EPS)


def bce(logits, targets, negative_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy with logits over all entries, each target's negative part weighted
    `negative_weight` (1/(C-1): WAN's weak negatives). At weight 1 it is torch's own BCE, so a
    method using it is our Sigmoid's loss bit for bit."""
    if negative_weight == 1.0:
        return F.binary_cross_entropy_with_logits(logits, targets)
    return -(targets * F.logsigmoid(logits) + negative_weight * (1 - targets) * F.logsigmoid(-logits)).mean()


def expected_positives(q: torch.Tensor, k: float, world: World) -> torch.Tensor:
    """R(q) of Cole et al., eq. (5) as their code computes it (norm 2), divided by C^2; the mean
    count over the global batch under torchrun."""
    return (global_mean(q.sum(dim=1).mean(), world) - k) ** 2 / q.shape[1] ** 2


def observed(logits, batch) -> torch.Tensor:
    return F.one_hot(batch.y, logits.shape[1]).bool()


@dataclass
class SmoothingSettings:
    name: str = "an_ls"
    epsilon: float = 0.1            # the authors' ls_coef

    def __post_init__(self):
        if not 0 <= self.epsilon < 0.5:
            raise ValueError(f"method.epsilon must lie in [0, 0.5) (label smoothing), got {self.epsilon}")


class SmoothedAssumeNegative(Sigmoid):
    """AN-LS: BCE against 1 - eps for the observed label and eps for every other class:
    l = (1-eps)(-log p) + eps(-log(1-p)) where y = 1, (1-eps)(-log(1-p)) + eps(-log p) where y = 0."""

    def loss(self, logits, batch):
        e, p = self.cfg.method.epsilon, logits.sigmoid()
        positive = (1 - e) * neg_log(p) + e * neg_log(1 - p)
        negative = (1 - e) * neg_log(1 - p) + e * neg_log(p)
        return torch.where(observed(logits, batch), positive, negative).mean()


class WeakAssumeNegative(Sigmoid):
    """WAN: l = -log p where y = 1, -log(1 - p) / (C - 1) where y = 0: each image's assumed
    negatives weigh, together, about as much as its one positive."""

    def loss(self, logits, batch):
        p, c = logits.sigmoid(), logits.shape[1]
        return torch.where(observed(logits, batch), neg_log(p), neg_log(1 - p) / (c - 1)).mean()


@dataclass
class EPRSettings:
    name: str = "epr"
    expected_positives: float = 1.0  # k; the authors set it to the dataset's true mean label count

    def __post_init__(self):
        if self.expected_positives <= 0:
            raise ValueError(f"method.expected_positives (k) must be > 0, got {self.expected_positives}")


class ExpectedPositive(Sigmoid):
    """EPR: the observed label's -log p (unobserved entries add nothing) plus R(p): the batch's mean
    predicted label count pulled towards k."""

    def loss(self, logits, batch):
        p = logits.sigmoid()
        return torch.where(observed(logits, batch), neg_log(p), 0.0).mean() + expected_positives(
            p, self.cfg.method.expected_positives, self.parts.world)


@dataclass
class ROLESettings(EPRSettings):
    name: str = "role"
    estimate_lr: float = 1e-3        # Adam's step size for the label estimates (the authors: 10x the net's)

    def __post_init__(self):
        super().__post_init__()
        if self.estimate_lr <= 0:
            raise ValueError(f"method.estimate_lr must be > 0, got {self.estimate_lr}")


class LabelEstimates(nn.Module):
    """ROLE's label estimator: one logit per training image and class, g = sigmoid(logit). As the
    authors initialise it: unobserved estimates uniform in [0.4, 0.6], the observed label at 0.995."""

    def __init__(self, labels: torch.Tensor, num_classes: int, seed: int):
        super().__init__()
        bound = math.log(0.6 / 0.4)
        start = bound * (2 * torch.rand(len(labels), num_classes, generator=torch.Generator().manual_seed(seed)) - 1)
        start[torch.arange(len(labels)), labels.cpu()] = math.log(0.995 / 0.005)
        self.logits = nn.Parameter(start.to(labels.device))

    def forward(self, rows):
        return self.logits[rows].sigmoid()


def free_bytes(device: torch.device) -> int:
    """Memory free on `device`: the GPU's, or the machine's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_estimates_fit(num_train: int, num_classes: int, device: torch.device) -> None:
    """Refuse ROLE, in one line, where its dense estimates cannot fit: N x C float32 logits, their
    gradient and Adam's two moments, four copies (ImageNet's 1.28M x 1000: 20.5 GB)."""
    need, free = 4 * 4 * num_train * num_classes, free_bytes(device)
    if need > free:
        raise ValueError(f"ROLE's label estimates for {num_train:,} images x {num_classes:,} classes need "
                         f"{need / 1e9:.1f} GB (float32 estimates, their gradient and Adam's two moments; dense, as "
                         f"in the authors' code) and {device} has {free / 1e9:.1f} GB free: train ROLE on a smaller "
                         f"fraction of the data, or compare the other methods at this scale")


class ROLE(Sigmoid):
    """ROLE (regularised online label estimation), the authors' loss_role: with g the estimates of
    the batch's images and sg a stop-gradient,
      1/2 [y(-log p) + y(-log g)] + 1/2 [BCE(p; sg g) + BCE(g; sg p)]   per entry, averaged,
      + 1/2 [R(p) + R(g)].
    The estimates learn with Adam at `estimate_lr` (no weight decay, no schedule), beside the net,
    which keeps the project's optimiser (the authors: one Adam, the estimates at 10x the net's
    rate). The estimates are dense, N x C with Adam's two moments: fine for grids, about 15 GB
    at ImageNet's 1.28M x 1000 (as the authors' code)."""

    def __init__(self, cfg, parts):
        super().__init__(cfg, parts)
        self.estimates = self.estimate_opt = None  # a finished run loaded back needs its network only
        if parts.train_labels is not None:
            check_estimates_fit(parts.num_train, parts.num_classes, parts.device)
            self.estimates = LabelEstimates(parts.train_labels, parts.num_classes, cfg.seed)
            self.estimate_opt = torch.optim.Adam(self.estimates.parameters(), lr=cfg.method.estimate_lr)

    def loss(self, logits, batch):
        k, y, p = self.cfg.method.expected_positives, observed(logits, batch), logits.sigmoid()
        g = self.estimates(batch.index)
        positive = torch.where(y, neg_log(p) + neg_log(g), 0.0)
        g_, p_ = g.detach(), p.detach()
        cross = (g_ * neg_log(p) + (1 - g_) * neg_log(1 - p)) + (p_ * neg_log(g) + (1 - p_) * neg_log(1 - g))
        w = self.parts.world
        return (0.5 * (positive + cross)).mean() + 0.5 * (expected_positives(p, k, w) + expected_positives(g, k, w))

    def step(self, batch, step, lr):
        self.estimate_opt.zero_grad(set_to_none=True)
        loss = super().step(batch, step, lr)  # backward fills the estimates' gradients too
        synchronise_rows(self.estimates.logits, batch.index, self.parts.world)  # the global batch's rows, not N x C
        optimizer_step(self.estimate_opt, self.parts)
        return loss

    def state_dict(self):
        return {**super().state_dict(), "estimates": self.estimates.state_dict(),
                "estimate_opt": self.estimate_opt.state_dict()}

    def load_state_dict(self, state, path):
        super().load_state_dict(state, path)
        if self.estimates is not None:
            self.estimates.load_state_dict(state["estimates"])
            self.estimate_opt.load_state_dict(state["estimate_opt"])

