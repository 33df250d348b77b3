"""Several processes through torchrun: who this process is, and the few collective steps the loop
needs. With one process (no torchrun), every function here is a no-op.

Each process takes the rows [rank::world] of every global batch (the order still a pure function
of (seed, step)), evaluation predicts a contiguous share of each split and gathers the shares in
order (every image counted exactly once), and rank 0 alone locks the run folder and writes files.

Every process holds the same networks and the same per-image state after every step, so that any
process's copy is the run's (rank 0's checkpoint resumes all of them exactly):
- gradients are averaged by DistributedDataParallel, in buckets while the backward pass runs, and
  buffers (BatchNorm's running statistics) copied from rank 0 after it (`averaged`); every
  `run.log_every` steps the processes' weights are compared (`check_in_step`);
- per-image state that a step changes (ELR's targets) is updated from every process's rows (`gather`);
  per-image state learnt by gradient (ROLE's estimates) gets its gradient averaged on the global
  batch's rows alone (`synchronise_rows`), the only rows a step's gradient touches;
- batch statistics that a loss reads (EPR's and ROLE's expected positives, LL's k largest losses)
  are taken over the global batch (`global_mean`, `gather`), so these methods do not depend on the
  process count.
BatchNorm's batch statistics in training are the global batch's on GPUs (SyncBatchNorm, `run.sync_bn`).

A process that stops answering (killed, hung, out of memory) ends the run after
`run.timeout_minutes`, with one line naming it (`Unanswered`), not gloo's 30-minute default.
"""
from __future__ import annotations

import contextlib
import os
import time
import weakref
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


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


def world(timeout_minutes: float = 5.0, first_minutes: float = 30.0) -> World:
    """This process's place, from torchrun's (or submitit's) environment; the process group is set up
    once: NCCL on GPUs, gloo on CPUs. Its collectives fail after `first_minutes` of waiting until the
    first step is done (`settle`): every process may first scan 1.28M files on a cold network file
    system, or compile, at its own pace. On NCCL, TORCH_NCCL_BLOCKING_WAIT=1 (unless set already): a
    collective that times out raises here, in this thread, where `unanswered` makes its one line,
    instead of NCCL's watchdog aborting the process with its own trace (it costs the CPU its lead
    over the GPU while it waits for the gradients' all-reduce)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        nccl = torch.cuda.is_available()
        if nccl:
            os.environ.setdefault("TORCH_NCCL_BLOCKING_WAIT", "1")
        dist.init_process_group("nccl" if nccl else "gloo", timeout=timedelta(minutes=max(first_minutes, timeout_minutes)),
                                **({"device_id": torch.device("cuda", local_rank)} if nccl else {}))
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def settle(w: World, timeout_minutes: float) -> None:
    """After the first step, every process in step: collectives now fail after `timeout_minutes`."""
    if w.size > 1:
        dist.set_timeout(timedelta(minutes=timeout_minutes))


def _all_reduce_flat(tensors: list[torch.Tensor], w: World, average: bool) -> None:
    """Average (all-reduce) or copy from rank 0 (broadcast) `tensors` in place, one collective per
    dtype on a flat buffer (one per tensor would cost a round trip each: 160 for a ResNet-50)."""
    for dtype in dict.fromkeys(t.dtype for t in tensors):  # in the module's order: alike on every process
        group = [t for t in tensors if t.dtype == dtype]
        flat = torch.cat([t.reshape(-1) for t in group])
        if average:
            dist.all_reduce(flat)
            flat /= w.size
        else:
            dist.broadcast(flat, src=0)
        offset = 0
        for t in group:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


_replicas: "weakref.WeakKeyDictionary[torch.nn.Module, DistributedDataParallel]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def averaged(net: torch.nn.Module, w: World):
    """Around the forward and backward passes of one optimizer step of `net`; yields the module to
    call. Under torchrun, `net`'s DistributedDataParallel replica (made the first time the network is
    stepped): its gradients averaged in ~25 MB buckets all-reduced while the backward pass runs, and
    after the pass every buffer (BatchNorm's running statistics, updated by each process's own rows)
    set to rank 0's, so that every process evaluates and saves the same network. Each network a
    method steps gets its own replica (a method holds several, and runs teachers outside the step,
    through the plain network). `find_unused_parameters`: a parameter unused on only some processes
    gets zeros there instead of hanging the others (DDP's bitmap), and one unused by every process
    keeps no gradient, as in one process. Measured against the flat all-reduce after the backward
    pass and a bucketed one of hooks: benchmarks/allreduce.py. A replica lives as long as its
    network (at most a teacher and a student per run)."""
    if w.size == 1:
        yield net
        return
    replica = _replicas.get(net)
    if replica is None:
        device = next(net.parameters()).device
        replica = _replicas[net] = DistributedDataParallel(
            net, device_ids=[device] if device.type == "cuda" else None, forward_sync_buffers=False,
            find_unused_parameters=True, gradient_as_bucket_view=True)
    yield replica
    buffers = list(net.buffers())
    if buffers:
        _all_reduce_flat(buffers, w, average=False)


def synchronise(net: torch.nn.Module, w: World) -> None:
    """The all-reduce after the backward pass, not overlapped with it: every gradient averaged over
    the processes in one flat buffer per dtype, every buffer set to rank 0's. Kept as the baseline
    of benchmarks/allreduce.py; training uses `averaged` (DDP)."""
    if w.size == 1:
        return
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if grads:
        _all_reduce_flat(grads, w, average=True)
    buffers = list(net.buffers())
    if buffers:
        _all_reduce_flat(buffers, w, average=False)


class Drifted(RuntimeError):
    """The processes of a run no longer hold one network; the message names the first that differs."""


def check_in_step(net: torch.nn.Module, w: World, step: int) -> None:
    """Stop the run, in one line, when this process's copy of `net` differs from rank 0's: every
    process applies the same averaged gradients to the same weights, so their checksums (float64
    sums of every parameter and buffer, and of their squares) agree to the bit while the processes
    train one network. One small all-gather; the loop calls it every `run.log_every` steps."""
    if w.size == 1:
        return
    with torch.no_grad():
        tensors = [t for t in (*net.parameters(), *net.buffers()) if t.is_floating_point()]
        mine = torch.stack([torch.stack([t.double().sum() for t in tensors]).sum(),
                            torch.stack([t.double().square().sum() for t in tensors]).sum()])
        every = [torch.empty_like(mine) for _ in range(w.size)]
        dist.all_gather(every, mine)
    differ = [r for r in range(w.size) if not torch.equal(every[r], every[0])]
    if differ:
        first = differ[0]
        raise Drifted(f"after step {step} the weights of process {first} of {w.size} differ from process 0's "
                      f"(checksums {every[first][0].item():.17g} vs {every[0][0].item():.17g}): the processes no "
                      f"longer train one network (a nondeterministic or unsynchronised update on one of them); the "
                      f"run stopped: rerun the same command to resume from the last checkpoint")


def synchronise_rows(table: torch.nn.Parameter, rows: torch.Tensor, w: World) -> None:
    """As `synchronise`, for a table with one row per training image whose gradient is nonzero only
    on the `rows` of this process's share of the batch (ROLE's estimates): the gradient averaged
    over the processes on the global batch's rows alone, every process's gathered. ImageNet's
    1.28M x 1000 table would be 5 GB a step in full; its global batch's rows are a few MB."""
    if w.size == 1 or table.grad is None:
        return
    order = torch.argsort(rows, stable=True)
    first = torch.ones_like(rows, dtype=torch.bool)
    first[order[1:]] = rows[order[1:]] != rows[order[:-1]]  # a row given twice: its summed gradient sent once
    every, grads = gather(rows, w), gather(torch.where(first[:, None], table.grad[rows], 0.0), w)
    table.grad[rows] = 0
    table.grad.index_add_(0, every, grads / w.size)


def gather(rows: torch.Tensor, w: World) -> torch.Tensor:
    """Every process's `rows` (equal shapes: each process's share of a batch), concatenated in rank
    order, without autograd."""
    if w.size == 1:
        return rows
    parts = [torch.empty_like(rows) for _ in range(w.size)]
    dist.all_gather(parts, rows.detach().contiguous())
    return torch.cat(parts)


def global_mean(local: torch.Tensor, w: World) -> torch.Tensor:
    """A scalar mean over this process's share of the batch, turned into the global batch's: its
    value is the mean over processes, its gradient this process's own (which the gradient average
    over processes then makes the global mean's gradient)."""
    if w.size == 1:
        return local
    return local + (mean(local.detach(), w) - local.detach())


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


class Unanswered(RuntimeError):
    """A process of a torchrun run stopped answering; the message names it and how to resume."""


def _store():
    return dist.distributed_c10d._get_default_store()  # torchrun's rendezvous store, beside the collectives


def reached(step: int, w: World) -> None:
    """Note in torchrun's store that this process finished `step` (read when a process stops answering)."""
    if w.size > 1:
        _store().set(f"milelib/step/{w.rank}", str(step))


LOST = ("timed out", "timeout", "connection closed", "connection reset",  # gloo's words, and NCCL's:
        "remote process exit", "communicator was aborted", "ncclremoteerror")


def unanswered(error: BaseException, w: World, timeout_minutes: float) -> Unanswered | None:
    """The one-line error for a collective that failed because another process stopped answering
    (the wait timed out, or its connection closed), naming it; None for any other error. Each
    process that saw the failure says so in the store and waits a few seconds for the others to
    say so too: the silent ones are named, with the last step they finished."""
    text = str(error).lower()
    if w.size == 1 or not any(s in text for s in LOST):
        return None
    silent, steps = [], {}
    try:
        store = _store()
        store.set(f"milelib/failed/{w.rank}", "1")
        deadline = time.monotonic() + 5
        while True:
            silent = [r for r in range(w.size) if not store.check([f"milelib/failed/{r}"])]
            if not silent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        steps = {r: int(store.get(f"milelib/step/{r}")) for r in range(w.size) if store.check([f"milelib/step/{r}"])}
    except Exception:  # the store went with a failed process: say what is known without it
        pass
    who = (f"process {', '.join(map(str, silent))} of {w.size} stopped answering (last step finished: "
           f"{', '.join(str(steps.get(r, 0)) for r in silent)})" if silent else
           f"another process of {w.size} stopped answering")
    return Unanswered(f"{who}; process {w.rank} waited for it after step {steps.get(w.rank, 0)} "
                      f"(run.timeout_minutes={timeout_minutes:g}) and the run stopped: rerun the same torchrun "
                      f"command to resume from the last checkpoint (a process killed for memory: lower "
                      f"optim.batch_size)")
