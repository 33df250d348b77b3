"""GR Loss: Chen et al., "Boosting single positive multi-label classification with generalized
robust loss", IJCAI 2024 (code: github.com/yan4xi1/GRLoss at 5e13f7f, losses.py GR_loss, models.py
KFunction and VFunction, train.py's schedules).

As their code computes it, from p = sigmoid(z) and a detached copy p' of it, per entry:
- the observed label (y = 1):  -log(p + 1e-7);
- an unobserved entry (y = 0): v(p') [k(p') L2(p) + (1 - k(p')) L3(p)], where
    k(p') = sigmoid(w p' + b)                    the soft pseudo-label: how likely a positive,
    v(p') = exp(-(p' - mu)^2 / (2 sigma^2))      a weight against the negatives' imbalance,
    L2(p) = (1 - p^q2) / q2                      a robust loss towards 1 (-log p as q2 -> 0),
    L3(p) = (1 - (1 - p)^q3) / q3                a robust loss towards 0 (p, the MAE, at q3 = 1);
averaged over all B x C entries. k and v give no gradient. Their w, b, mu and sigma move linearly
over the run's T epochs; in epoch e (counted from 0, of T = the epochs this run starts):
    w = w_0 + (w_max - w_0) e / T,  b likewise       (their max(epoch - 1, 0) / T, epoch from 1)
    mu = mu_0 + (mu_max - mu_0) (e + 1) / T,  sigma likewise   (their epoch / T)
so k starts at (w_0, b_0) and never quite reaches (w_max, b_max), while v reaches (mu_max,
sigma_max) in the last epoch: one epoch apart, as in their code. Their schedule is relative to
their run's length (8 epochs by default), so here it is to this run's epochs. 1 - p is computed as
sigmoid(-z), which equals it but is not rounded to 0 for a confident entry (their 1 - p is, and then
q3 < 1 gives a NaN gradient). Not taken: their linear_init (the backbone frozen for the first
epochs; 0 by default) and is_train (k learned by a per-class logistic regression; off by default);
their Adam at 1e-5, batch 8: this project's SGD instead, as every method here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from ..data.feeds import epochs_started
from .single_positive import observed
from .supervised import Sigmoid

EPS = 1e-7  # inside the authors' log (their LOG_EPSILON)


@dataclass
class GRLossSettings:
    name: str = "gr_loss"
    w_0: float = 0.0                # k's slope in the first epoch; beta = (w_0, w_max, b_0, b_max)
    w_max: float = 2.0              # ... towards this by the end (the authors' config.py defaults: VOC's)
    b_0: float = -2.0               # k's offset: k = sigmoid(-2) = 0.12 for every entry at first
    b_max: float = -2.0
    mu_0: float = 0.5               # v's centre and width; alpha = (mu_0, sigma_0, mu_max, sigma_max)
    sigma_0: float = 2.0            # wide: v near 1 everywhere at first
    mu_max: float = 0.8
    sigma_max: float = 0.5          # narrow: confident negatives (p near 0) weigh less by the end
    q2: float = 0.01                # L2's q: near -log p (pseudo-positives learn as with BCE)
    q3: float = 1.0                 # L3's q: the MAE p (robust to the false negatives)

    def __post_init__(self):
        bad = [f.name for f in fields(self)[1:] if not math.isfinite(getattr(self, f.name))]
        if bad:
            raise ValueError(f"method.{bad[0]} must be a finite number, got {getattr(self, bad[0])}")
        if self.sigma_0 <= 0 or self.sigma_max <= 0:
            raise ValueError(f"method.sigma_0 and method.sigma_max must be > 0 (the widths of v), "
                             f"got {self.sigma_0} and {self.sigma_max}")
        if not (0 < self.q2 <= 1 and 0 < self.q3 <= 1):
            raise ValueError(f"method.q2 and method.q3 must lie in (0, 1] (near 0: -log, 1: the MAE; the "
                             f"authors' 0.01 and 1), got {self.q2} and {self.q3}")


class GeneralizedRobust(Sigmoid):
    _epoch = 0  # the epoch of the step under way (set by step)

    def step(self, batch, step, lr):
        self._epoch = self.epoch(step)
        return super().step(batch, step, lr)

    def schedule(self, epoch: int) -> tuple[float, float, float, float]:
        """(w, b, mu, sigma) in a 0-based epoch of this run."""
        s = self.cfg.method
        total = epochs_started(self.cfg.optim.steps, self.parts.num_train, self.cfg.optim.batch_size)
        k, v = epoch / total, (epoch + 1) / total
        return (s.w_0 + (s.w_max - s.w_0) * k, s.b_0 + (s.b_max - s.b_0) * k,
                s.mu_0 + (s.mu_max - s.mu_0) * v, s.sigma_0 + (s.sigma_max - s.sigma_0) * v)

    def loss(self, logits, batch):
        s = self.cfg.method
        w, b, mu, sigma = self.schedule(self._epoch)
        p, not_p = logits.sigmoid(), (-logits).sigmoid()  # p and 1 - p
        q = p.detach()
        k = torch.sigmoid(w * q + b)
        v = torch.exp(-0.5 * ((q - mu) / sigma) ** 2)
        unobserved = v * (k * (1 - p ** s.q2) / s.q2 + (1 - k) * (1 - not_p ** s.q3) / s.q3)
        return torch.where(observed(logits, batch), -torch.log(p + EPS), unobserved).mean()
