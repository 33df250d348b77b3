"""One network trained on the labels with one loss: Softmax, Sigmoid, the oracle, and ELR.

- Softmax: cross-entropy on the single label (the paper's baseline (i)).
- Sigmoid: binary cross-entropy on the one-hot label, eq. (1) of the paper (baseline (ii)).
- Oracle: binary cross-entropy on the true label sets, the multi-label upper bound; it needs data
  whose training images have known sets (the grids).
- ELR: early-learning regularisation (Liu et al., NeurIPS 2020), the paper's Table 1 baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..distributed import gather
from .base import Method, sgd_step


@dataclass
class Plain:
    """Settings of a method with nothing to set but its name (softmax, sigmoid, oracle)."""
    name: str


class Supervised(Method):
    def loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        raise NotImplementedError

    def step(self, batch, step: int, lr: float) -> torch.Tensor:
        self.counts["label_steps"] += 1
        return sgd_step(self.net, self.opt, batch.x, self.scaled(lambda z: self.loss(z, batch)), self.parts, lr)


class Softmax(Supervised):
    def loss(self, logits, batch):
        return F.cross_entropy(logits, batch.y)

    def probabilities(self, logits):
        return logits.softmax(dim=1)


class Sigmoid(Supervised):
    sigmoid_outputs = True

    def loss(self, logits, batch):
        return F.binary_cross_entropy_with_logits(logits, F.one_hot(batch.y, logits.shape[1]).float())

    def probabilities(self, logits):
        return logits.sigmoid()


class Oracle(Sigmoid):
    def __init__(self, cfg, parts):
        if not parts.train_true_sets:
            raise ValueError(f"method 'oracle' trains on the true label sets, which the {cfg.data.name!r} "
                             f"training data do not have: use the grids, or another method")
        super().__init__(cfg, parts)

    def loss(self, logits, batch):
        return F.binary_cross_entropy_with_logits(logits, batch.true_sets.float())


@dataclass
class ELRSettings:
    name: str = "elr"
    beta: float = 0.7               # momentum of each image's target t (ELR's CIFAR-10 setting)
    lam: float = 3.0                # lambda, the weight of the regulariser

    def __post_init__(self):
        if not 0 <= self.beta < 1 or self.lam < 0:
            raise ValueError(f"method.beta must lie in [0, 1) (the targets' momentum) and method.lam be >= 0, "
                             f"got {self.beta} and {self.lam}")


class ELR(Softmax):
    """Per image, a target t <- beta t + (1 - beta) p (p the softmax, clamped to [1e-4, 1 - 1e-4],
    renormalised and detached); the loss is CE + lambda * mean log(1 - <t, p>), as the authors'
    code (github.com/shengliu66/ELR) computes it. The targets are part of the checkpoint: in float32,
    or in bf16 when float32 would take more than 1 GiB (ImageNet's 1.28M x 1000: 5.1 GB, in memory
    and in every checkpoint, halved; updated in float32 and rounded once per step)."""

    BF16_ABOVE = 2 ** 30  # bytes of float32 targets above which they are kept in bf16

    def __init__(self, cfg, parts):
        super().__init__(cfg, parts)
        big = parts.num_train * parts.num_classes * 4 > self.BF16_ABOVE
        self.targets = torch.zeros(parts.num_train, parts.num_classes, device=parts.device,
                                   dtype=torch.bfloat16 if big else torch.float32)

    def loss(self, logits, batch):
        s = self.cfg.method
        p = logits.softmax(dim=1).clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():  # every process updates every row of the global batch: targets stay alike
            q = p.detach()
            rows, q = gather(batch.index, self.parts.world), gather(q / q.sum(1, keepdim=True), self.parts.world)
            self.targets[rows] = (s.beta * self.targets[rows].float() + (1 - s.beta) * q).to(self.targets.dtype)
        regulariser = torch.log(1 - (self.targets[batch.index].float() * p).sum(dim=1)).mean()
        return F.cross_entropy(logits, batch.y) + s.lam * regulariser

    def state_dict(self):
        return {**super().state_dict(), "targets": self.targets}

    def load_state_dict(self, state, path):
        super().load_state_dict(state, path)
        self.targets.copy_(state["targets"])
