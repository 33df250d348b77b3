"""The interface every method implements, and what the training loop lends it.

A method owns its networks and optimizers. The loop calls `step(batch, step, lr)` once per
optimizer step, evaluates `eval_net` through `probabilities`, and saves `state_dict()` in its
checkpoints; it never asks which method it runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ContextManager

import torch
from torch import nn

from ..checkpoint import load_weights
from ..models import prior_bias
from ..data.feeds import steps_per_epoch
from ..distributed import World, averaged


@dataclass
class Parts:
    """What the loop lends a method: the device, the data's facts, and how to build things."""
    device: torch.device
    num_classes: int
    num_train: int                                  # training images (per-image state, as ELR's)
    train_true_sets: bool                           # whether training batches carry true label sets
    new_net: Callable[[], nn.Module]                # a fresh network on the device, channels_last
    new_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
    autocast: Callable[[], ContextManager]          # bf16 (fp16 before Ampere) on a GPU, nothing on the CPU
    world: World = field(default_factory=World)     # the processes of a torchrun run (one without)
    unlabelled: bool = False                        # whether the data serve an unlabelled stream too
    predict_train: Callable[[nn.Module], torch.Tensor] | None = None  # a net's logits on every training
                                                    # image, in row order (None when a run is only loaded)
    train_labels: torch.Tensor | None = None        # every training image's single label, in row order
    load_run: Callable[[str], tuple] | None = None  # a finished run's (method, config) on this device (a teacher)
    scaler: torch.amp.GradScaler | None = None      # fp16's loss scaler (GPUs without bf16); the loop updates it


def sgd_step(net: nn.Module, opt, x, loss_fn, parts: Parts, lr: float) -> torch.Tensor:
    """One optimizer step of `net` on `loss_fn(logits)`, at learning rate `lr`; under torchrun the
    gradients averaged and the buffers set to rank 0's; the detached loss of this process's share of
    the batch."""
    for group in opt.param_groups:
        group["lr"] = lr
    if not net.training:  # modes change on the whole net only; .train() walks every module: 0.5 ms
        net.train()       # of a 9 ms small-CNN step when called on every step (measured)
    with averaged(net, parts.world) as model:  # under torchrun, DDP: all-reduced as the backward pass runs
        with parts.autocast():
            logits = model(x)
        loss = loss_fn(logits.float())
        opt.zero_grad(set_to_none=True)
        (loss if parts.scaler is None else parts.scaler.scale(loss)).backward()
    optimizer_step(opt, parts)
    return loss.detach()


def optimizer_step(opt, parts: Parts) -> None:
    """`opt.step()`; under fp16, through the loss scaler (gradients unscaled, a step whose gradients
    overflowed skipped)."""
    if parts.scaler is None:
        opt.step()
    else:
        parts.scaler.step(opt)


class Method:
    """Base class: one network `net` and its optimizer `opt`, counted label steps."""

    evaluates = True  # False for a method without a classifier (self-supervised pretraining)
    sigmoid_outputs = False  # True for the losses built on per-class sigmoids: `optim.bce` scales them

    def __init__(self, cfg, parts: Parts):
        self.cfg, self.parts = cfg, parts
        self.net = self.new_net()
        self.opt = parts.new_optimizer(self.net)
        self.counts = {"label_steps": 0, "imitation_steps": 0}

    @property
    def summed_bce(self) -> bool:
        """optim.bce = "sum": the authors' scaling, for a sigmoid method (softmax ones ignore it)."""
        return self.sigmoid_outputs and self.cfg.optim.bce == "sum"

    def new_net(self) -> nn.Module:
        """A fresh network from the loop; under summed BCE its classifier bias starts at -log(C)."""
        net = self.parts.new_net()
        if self.summed_bce:
            prior_bias(net)
        return net

    def scaled(self, loss_fn: Callable) -> Callable:
        """`loss_fn` as `optim.bce` asks. Every loss here averages its per-entry terms over the
        batch's B x C entries; C times that is their sum over classes, averaged over images (the
        authors' rescale_sigmoid), and a regulariser added on top keeps its weight relative to them."""
        if not self.summed_bce:
            return loss_fn
        c = self.parts.num_classes
        return lambda logits: c * loss_fn(logits)

    @property
    def eval_net(self) -> nn.Module:
        """The network evaluated and kept at the end of training."""
        return self.net

    def step(self, batch, step: int, lr: float) -> torch.Tensor:
        raise NotImplementedError

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(self.parts.num_train, self.cfg.optim.batch_size)

    def epoch(self, step: int) -> int:
        """The 0-based epoch of a global step, as the batch order counts them (each epoch a fresh
        permutation, its last partial batch dropped)."""
        return step // self.steps_per_epoch

    def phase(self, step: int) -> str:
        """What the step does, for the training log."""
        return "labels"

    def stream(self, step: int) -> str:
        """Which data the step's batch comes from: "labelled" (the training images and their labels)
        or "unlabelled" (every training image, labels -1; only when `parts.unlabelled`). A pure
        function of the step, so a resumed run draws the same batches."""
        return "labelled"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-class probabilities from the network's outputs."""
        raise NotImplementedError

    def summary(self) -> dict:
        """Numbers added to the run's result (step counts, pseudo-label statistics)."""
        return dict(self.counts)

    def log_rows(self) -> list[dict]:
        """Rows of cycles.csv (teacher/student methods: one per cycle)."""
        return []

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict(), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict, path) -> None:
        load_weights(self.net, state["net"], path)
        self.opt.load_state_dict(state["opt"])
        self.counts = dict(state["counts"])
