"""EM + APL: Zhou et al., "Acknowledging the unknown for multi-label learning with single positive
labels", ECCV 2022 (code: github.com/Correr-Zhou/SPML-AckTheUnknown, losses.py loss_EM_APL and
main.py's pseudo-labelling).

Per entry, with p = sigmoid(z) and neg_log(x) = -log(x + 1e-5) as their code:
- the observed label (y = 1): -log p;
- an unannotated entry: -alpha H(p), H(p) = p(-log p) + (1-p)(-log(1-p)): entropy maximisation
  (EM, eq. 3), which neither pushes it to 0 nor to 1;
- a pseudo-negative: beta BCE(p; s), s its prediction when it was pseudo-labelled (APL, eq. 6:
  soft, asymmetric: negatives only);
averaged over all B x C entries. APL: before each epoch from `warmup_epochs` on, one pass over the
training images (evaluation mode); per class, the lowest predictions among its still-unannotated
entries become pseudo-negatives, int(neg_proportion U_c / rounds) per round, U_c the class's
unannotated entries at the start, so that by the last epoch neg_proportion of them are. The pass
reads every training image: with files on disk, an unreadable one stops the run there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.feeds import epochs_started
from .single_positive import neg_log
from .supervised import Sigmoid


@dataclass
class EMAPLSettings:
    name: str = "em_apl"
    alpha: float = 0.2              # EM's weight (the authors' VOC setting)
    beta: float = 0.02              # APL's weight (VOC)
    warmup_epochs: int = 5          # epochs before the first pseudo-labelling pass (VOC, COCO: 5 of 10)
    neg_proportion: float = 0.9     # share of each class's unannotated entries made pseudo-negatives by the end

    def __post_init__(self):
        if self.alpha < 0 or self.beta < 0 or self.warmup_epochs < 1 or not 0 < self.neg_proportion <= 1:
            raise ValueError(f"method.alpha and method.beta must be >= 0, method.warmup_epochs >= 1 and "
                             f"method.neg_proportion in (0, 1], got {self.alpha}, {self.beta}, "
                             f"{self.warmup_epochs} and {self.neg_proportion}")


class EMAPL(Sigmoid):
    def __init__(self, cfg, parts):
        super().__init__(cfg, parts)
        self.soft_negatives = None  # s per training image and class; NaN where none (yet)
        if parts.train_labels is not None:
            n, c = parts.num_train, parts.num_classes
            self.soft_negatives = torch.full((n, c), math.nan, device=parts.device)
            per_class = torch.bincount(parts.train_labels.cpu(), minlength=c)
            self.unannotated = (n - per_class).tolist()  # U_c
        self.counts["pseudo_negatives"] = 0

    def rounds(self) -> int:
        epochs = epochs_started(self.cfg.optim.steps, self.parts.num_train, self.cfg.optim.batch_size)
        return max(epochs - self.cfg.method.warmup_epochs, 0)

    def starts_round(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0 and self.epoch(step) >= self.cfg.method.warmup_epochs

    @torch.no_grad()
    def pseudo_label(self) -> None:
        """One APL round: per class, the lowest predictions among still-unannotated entries."""
        s = self.cfg.method
        p = self.parts.predict_train(self.net).float().sigmoid()
        labels = self.parts.train_labels
        for c in range(p.shape[1]):
            budget = int(s.neg_proportion * self.unannotated[c] / self.rounds())
            free = (labels != c) & self.soft_negatives[:, c].isnan()
            rows = free.nonzero().squeeze(1)
            lowest = rows[p[rows, c].argsort(stable=True)[:budget]]  # ties broken alike on every device
            self.soft_negatives[lowest, c] = p[lowest, c]
            self.counts["pseudo_negatives"] += len(lowest)

    def step(self, batch, step, lr):
        if self.starts_round(step):
            self.pseudo_label()
        return super().step(batch, step, lr)

    def loss(self, logits, batch):
        s, p = self.cfg.method, logits.sigmoid()
        y = F.one_hot(batch.y, logits.shape[1]).bool()
        soft = self.soft_negatives[batch.index]
        pseudo = ~soft.isnan()
        target = soft.nan_to_num(0.0)
        entropy = p * neg_log(p) + (1 - p) * neg_log(1 - p)
        apl = target * neg_log(p) + (1 - target) * neg_log(1 - p)
        return torch.where(y, neg_log(p), torch.where(pseudo, s.beta * apl, -s.alpha * entropy)).mean()

    def state_dict(self):
        return {**super().state_dict(), "soft_negatives": self.soft_negatives}

    def load_state_dict(self, state, path):
        super().load_state_dict(state, path)
        if self.soft_negatives is not None:
            self.soft_negatives.copy_(state["soft_negatives"])
