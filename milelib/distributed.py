"""Several processes through torchrun: who this process is, and the few collective steps the loop
needs. With one process (no torchrun), every function here is a no-op.

Each process takes the rows [rank::world] of every global batch (the order still a pure function
of (seed, step)), gradients are averaged across processes before each optimizer step, evaluation
predicts a contiguous share of each split and gathers the shares in order (every image counted
exactly once), and rank 0 alone locks the run folder and writes files. BatchNorm statistics stay
per process unless `run.sync_bn` (GPUs only); `model.norm=group` makes them independent of the split.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> range:
        """The contiguous rows of n that this process evaluates."""
        per = -(-n // self.size)
        return range(min(n, self.rank * per), min(n, (self.rank + 1) * per))


def world() -> World:
    """This process's place, from torchrun's environment; the process group is set up once
    (NCCL on GPUs, gloo on CPUs)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(net: torch.nn.Module, w: World) -> None:
    """Average every gradient across processes, in one all-reduce of a flat buffer."""
    if w.size == 1:
        return
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= w.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean(value: torch.Tensor, w: World) -> torch.Tensor:
    """The mean of a scalar over processes (each holding the mean of its equal share of a batch)."""
    if w.size == 1:
        return value
    total = value.detach().clone().reshape(1).float()
    dist.all_reduce(total)
    return (total / w.size).reshape(value.shape)


def gather_rows(rows: np.ndarray, w: World) -> np.ndarray:
    """Every process's rows, concatenated in rank order (each process ends with all of them)."""
    if w.size == 1:
        return rows
    parts = [None] * w.size
    dist.all_gather_object(parts, rows)
    return np.concatenate([part for part in parts if len(part)])  # a process may have had no rows


def any_process(flag: bool, w: World) -> bool:
    """Whether any process raised `flag` (so that all of them stop at the same step)."""
    if w.size == 1:
        return flag
    t = torch.tensor([1 if flag else 0], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
