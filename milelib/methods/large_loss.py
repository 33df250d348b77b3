"""Large-loss modification of assumed negatives: Kim et al., "Large loss matters in weakly
supervised multi-label classification", CVPR 2022 (code: github.com/snucml/LargeLossMatters,
losses.py). LL-R rejects, LL-Ct temporarily corrects.

AN's per-entry loss l_ni = BCE(z_ni, y_ni) (from logits, as their code). In epoch e (counted from
0, the first plain AN) the k = ceil(B C e delta_rel) largest losses among the batch's unobserved
entries (y = 0) are the likely hidden positives, eq. (4)-(6) of the paper:
- LL-R  (rejection):  their loss is set to 0;
- LL-Ct (correction): their target is flipped to 1 for this step (BCE(z, 1));
the loss is then averaged over all B x C entries. An entry that ties the k-th largest loss is
modified too, as in their code (>=; with bf16 logits on a GPU ties, hence a few more than k, are
common); an observed label never is (their code could, if the k-th largest unobserved loss were 0).
Under torchrun the k largest are those of the global batch, as with one process.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..distributed import gather
from .supervised import Sigmoid


@dataclass
class LargeLossSettings:
    name: str = "ll_r"
    delta_rel: float = 0.002        # share of a batch's B x C entries modified, added per epoch (their 0.2%)

    def __post_init__(self):
        if not 0 < self.delta_rel < 1:
            raise ValueError(f"method.delta_rel must lie in (0, 1) (a share of the batch's entries per epoch; "
                             f"the authors' 0.2% is 0.002), got {self.delta_rel}")


class LargeLoss(Sigmoid):
    correct = False  # LL-R: reject; LL-Ct: correct
    _epoch = 0       # the epoch of the step under way (set by step)

    def step(self, batch, step, lr):
        self._epoch = self.epoch(step)
        return super().step(batch, step, lr)

    def large_losses(self, losses: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        """The unobserved entries among the k largest losses of the batch (a bool mask of this
        process's rows; k and the ranking are the global batch's under torchrun)."""
        entries = losses.numel() * self.parts.world.size  # the global batch's (equal shares)
        k = min(math.ceil(entries * epoch * self.cfg.method.delta_rel), entries)
        if k == 0:  # epoch 0: plain AN, and no collective
            return torch.zeros_like(y)
        unobserved = torch.where(y, 0.0, losses.detach())
        kth = gather(unobserved, self.parts.world).flatten().topk(k).values[-1]
        return (unobserved >= kth) & ~y

    def loss(self, logits, batch):
        y = F.one_hot(batch.y, logits.shape[1]).bool()
        losses = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
        large = self.large_losses(losses, y, self._epoch)
        replaced = (F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
                    if self.correct else torch.zeros_like(losses))
        return torch.where(large, replaced, losses).mean()


class LargeLossCorrection(LargeLoss):
    correct = True
