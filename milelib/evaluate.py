"""Predict over any evaluation split, and score it with every metric its labels allow.

Each run chooses its F1@best threshold on the data's threshold split (validation grids, or a
held-out slice of training images) and applies it to every split; splits without true label sets
get accuracy only.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from . import metrics as M
from .distributed import World, gather_rows


def half_precision(device) -> torch.dtype | None:
    """The autocast dtype of training and evaluation on `device`: bf16 on GPUs that have it (compute
    capability 8.0 and later: A100, H100, RTX 30xx and newer), fp16 on older ones (V100, T4, whose
    bf16 is emulated or refused), which training pairs with a GradScaler; None (float32) off GPUs."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else torch.float16


def autocast(device):
    """The autocast context of `device` (`half_precision`), nothing where it has none."""
    dtype = half_precision(device)
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()


@torch.inference_mode()
def predict(net, data, probabilities, device, batch_size: int = 512, workers: int = 0, world: World = World()) -> np.ndarray:
    """Per-class probabilities for every image of a split, in order; no image is dropped. Under
    torchrun each process predicts its contiguous share and the shares are gathered. On a GPU in
    half precision, as the network trained."""
    net.eval()
    rows = world.shard(len(data))
    with autocast(device):
        out = [probabilities(net(x).float()).cpu() for x in data.eval_batches(batch_size, device, workers, rows)]
    mine = torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)
    return gather_rows(mine, world) if world.size > 1 else mine


def evaluate(method, data, device, workers: int = 0, world: World = World()) -> dict:
    """Metrics of every split of `data`: the report split's unprefixed, the others' as "split/key"."""
    probs = {name: predict(method.eval_net, split.data, method.probabilities, device, workers=workers, world=world)
             for name, split in data.splits.items()}
    threshold = None
    if data.threshold_split is not None:
        threshold, _ = M.best_threshold(probs[data.threshold_split], data.splits[data.threshold_split].true_sets)
    result = {}
    for name, split in data.splits.items():
        if split.true_sets is None:
            scores = {"accuracy": M.top1_accuracy(probs[name], split.labels),
                      "top5_accuracy": M.topk_accuracy(probs[name], split.labels, 5)}
        else:
            scores = M.scores(probs[name], split.labels, split.true_sets, extra_threshold=threshold)
        scores["images"] = len(probs[name])  # every image counted once, whatever the process count
        prefix = "" if name == data.report_split else f"{name}/"
        result.update({prefix + key: value for key, value in scores.items()})
    return result
