"""BoostLU: Kim et al., "Bridging the gap between model explanations in partially annotated
multi-label classification", CVPR 2023 (code: github.com/youngwk/BridgeGapExplanationPAMC at
4a1986c, models.py, losses.py, config.py), on top of LL-R.

A network trained with unobserved labels assumed negative explains its positives with lower class
activation maps than one trained with full labels; BoostLU scales the positive part of every class
map up before the maps are pooled to logits:

    M'_ci(h, w) = alpha * M_ci(h, w)  where M_ci(h, w) > 0,  M_ci(h, w) otherwise
    z_ci = mean over (h, w) of M'_ci(h, w)

for every image n, class c and position, observed label or not (the network never sees the labels:
their `ImageClassifier.forward`), in training and at evaluation alike (their model boosts in eval
mode too, and ranks test images by these logits). The loss is LL-R's on z (`large_loss.LargeLoss`):
in epoch e (from 0) the k = ceil(B C e delta_rel) largest unobserved losses are rejected.

The maps come from a CAM head (model.head=cam, `models.CAMHead`); this method sets the head's
`boost`, so the network's own forward boosts, and the loop trains and evaluates it unchanged.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..models import cam_head
from .large_loss import LargeLoss, LargeLossSettings


def boost(maps: torch.Tensor, alpha: float) -> torch.Tensor:
    """The positive entries of the class maps times alpha, the others as they are (their
    `torch.where(CAM > 0, CAM * alpha, CAM)`)."""
    return torch.where(maps > 0, maps * alpha, maps)


@dataclass
class BoostLUSettings(LargeLossSettings):
    name: str = "boost_lu"
    delta_rel: float = 0.005        # LL-R's share added per epoch: their config's LL-R 0.5 (%), not LL's own 0.2%
    alpha: float = 5.0              # their --alpha: the factor of the maps' positive entries

    def __post_init__(self):
        super().__post_init__()
        if not self.alpha >= 1:
            raise ValueError(f"method.alpha must be >= 1 (the factor BoostLU multiplies the class maps' positive "
                             f"entries by; 1 is LL-R on a CAM head; the authors' default is 5), got {self.alpha}")

    def check(self, cfg) -> None:
        if cfg.model.head != "cam":
            raise ValueError(f"method {self.name} boosts class activation maps, which model.head="
                             f"{cfg.model.head} does not make: set model.head=cam")


class BoostLU(LargeLoss):
    def new_net(self):
        net = super().new_net()
        head = cam_head(net)
        if head is None:
            raise ValueError(f"method {self.cfg.method.name} boosts class activation maps and "
                             f"{type(net).__name__} has no CAM head: build it with model.head=cam")
        head.boost = functools.partial(boost, alpha=self.cfg.method.alpha)
        return net
