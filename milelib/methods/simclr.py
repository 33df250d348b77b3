"""SimCLR (Chen et al., ICML 2020) on unlabelled images: the self-supervised pretraining of the
stand-in for Tables 3 and 4 (`method=simclr`; labels are never read).

Each step draws two augmented views of every image of the batch, encodes them (the model without
its classifier), projects them (a two-layer MLP) and minimises the NT-Xent loss (eq. 1 of the
paper): for view i with partner j among the 2N views,

    l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) ),

sim the cosine similarity, averaged over all 2N views. The augmentations suit digit grids (no
colour): a random affine per image (scale, rotation, shift), a random contrast and Gaussian noise,
drawn from a generator seeded by (seed, step), so resume is exact. `experiments.self_supervised.
export_encoder` writes a finished run's encoder in SimCLR's converted layout ({"resnet": ...,
"head": ...}), which `model.pretrained` reads back like any downloaded checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Method, sgd_step


@dataclass
class SimCLRSettings:
    name: str = "simclr"
    temperature: float = 0.5        # tau of NT-Xent (SimCLR's CIFAR-10 setting)
    projection_dim: int = 64        # output of the projection MLP

    def __post_init__(self):
        if self.temperature <= 0 or self.projection_dim < 1:
            raise ValueError(f"method.temperature must be > 0 and method.projection_dim >= 1, got "
                             f"{self.temperature} and {self.projection_dim}")

    def check(self, cfg) -> None:
        if cfg.model.head != "linear":  # the encoder is the net without its last linear layer
            raise ValueError(f"simclr pretrains an encoder, the model without its linear classifier; model.head="
                             f"{cfg.model.head} has none: leave model.head at linear for pretraining (a fine-tuned "
                             f"run may use the CAM head)")


def nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over 2N projections: rows i and i + N are the two views of one image."""
    z = F.normalize(z.float(), dim=1)
    n = len(z) // 2
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random view of each image of x [N, C, H, W] (normalised): affine (scale 0.8-1.2,
    rotation +-10 degrees, shift +-10%), contrast 0.7-1.3 around the border value, noise sd 0.1."""
    n = len(x)

    def uniform(lo, hi):
        return (torch.rand(n, generator=generator) * (hi - lo) + lo).to(x.device)

    scale, angle = uniform(0.8, 1.2), uniform(-math.pi / 18, math.pi / 18)
    theta = torch.stack([torch.stack([torch.cos(angle) / scale, -torch.sin(angle) / scale, uniform(-0.1, 0.1)], 1),
                         torch.stack([torch.sin(angle) / scale, torch.cos(angle) / scale, uniform(-0.1, 0.1)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    view = F.grid_sample(x.float(), grid, padding_mode="border", align_corners=False)
    background = x[:, :, :1, :1]
    contrast = uniform(0.7, 1.3).view(n, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    return ((view - background) * contrast + background + 0.1 * noise).contiguous(memory_format=torch.channels_last)


def without_classifier(net: nn.Module) -> tuple[nn.Module, int]:
    """The model as an encoder (its last linear layer replaced by the identity) and its output size."""
    if hasattr(net, "head"):        # the small CNN: features, then Flatten, Linear, ReLU, Linear
        dim, net.head[3] = net.head[3].in_features, nn.Identity()
    else:                           # torchvision's and timm's ResNets
        dim, net.fc = net.fc.in_features, nn.Identity()
    return net, dim


class SimCLR(Method):
    """The encoder and its projection MLP, one optimizer over both."""

    evaluates = False  # no classifier to score: the encoder is judged by fine-tuning it (notebook 03)

    def __init__(self, cfg, parts):
        if parts.world.size > 1:  # NT-Xent's negatives and the views' draws would be per process
            raise ValueError(f"simclr does not run under torchrun ({parts.world.size} processes): its negatives and "
                             f"augmentations are drawn per batch, and would be each process's share; pretrain on one "
                             f"process (the stand-in's pretraining takes minutes on a CPU)")
        self.cfg, self.parts = cfg, parts
        encoder, dim = without_classifier(parts.new_net())
        head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, cfg.method.projection_dim))
        self.net = nn.Sequential(encoder, head.to(parts.device))  # net(x): the projection z
        self.opt = parts.new_optimizer(self.net)
        self.counts = {"label_steps": 0, "imitation_steps": 0, "contrastive_steps": 0}

    def phase(self, step: int) -> str:
        return "contrastive"

    def step(self, batch, step: int, lr: float) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step + 11)
        views = torch.cat([augment(batch.x, g), augment(batch.x, g)])
        self.counts["contrastive_steps"] += 1
        return sgd_step(self.net, self.opt, views, lambda z: nt_xent(z, self.cfg.method.temperature), self.parts, lr)
