"""How two processes average their gradients: images/s of the training step on 2 gloo processes.

Three ways, alternating in order over several repeats, each `--steps` SGD steps on the same network,
batch and data in each process (one thread each):
- "flat after backward": the gradients concatenated into one buffer once the backward pass is done,
  all-reduced, divided and copied back (`distributed.synchronise`, milelib's loop before);
- "bucketed hooks": ~25 MB buckets all-reduced as the backward pass fills them, from
  `register_post_accumulate_grad_hook` in Python (`Averager` below);
- "DDP": `distributed.averaged`, milelib's loop now: torch's DistributedDataParallel per network
  (C++ reducer, ~25 MB buckets overlapped with the backward pass, find_unused_parameters).
Every way also sets the buffers to rank 0's after the step. Cases: ResNet-18 at 64 px (1,000
classes, 45 MB of gradients) and the small CNN on 32 px grids (GroupNorm for both: no BatchNorm
statistics in the comparison). Writes results/benchmarks/allreduce.json with provenance: images/s
(both processes together) per way, median and range over the repeats, and each way's ratio to the
flat one within each repeat. On a shared 2-core machine the spread is wide: compare the ratios.

    python benchmarks/allreduce.py [--repeats 5] [--steps 6]
"""
import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from milelib.distributed import World, _all_reduce_flat, averaged, synchronise
from milelib.models import build_model
from milelib.results import atomic_write_json, provenance

CASES = {"resnet18 64px": dict(model="resnet18", size=64, channels=3, classes=1000, batch=16),
         "small_cnn 32px": dict(model="small_cnn", size=32, channels=1, classes=20, batch=64)}
WAYS = ("flat after backward", "bucketed hooks", "DDP")


BUCKET_BYTES = 25 * 2**20  # DDP's default: few enough collectives, the first sent early in the backward pass


class Averager:
    """The alternative to DDP measured here (not milelib's): a network's gradients averaged over
    the processes while the backward pass runs, as DDP's reducer does, but in Python: the trainable
    parameters go into ~25 MB buckets in reverse order (the order the backward pass finishes them),
    and a bucket is all-reduced (async) as soon as its last gradient is accumulated
    (`register_post_accumulate_grad_hook`). Buckets are sent strictly in order, so that every
    process issues the same collectives in the same order; a parameter no gradient reached is sent
    as zeros with a 0 in the bucket's tail of use flags, and one unused by every process keeps no
    gradient."""

    def __init__(self, net: torch.nn.Module, w: World, bucket_bytes: int = BUCKET_BYTES):
        self.w, self.armed = w, False
        params = [p for p in net.parameters() if p.requires_grad][::-1]
        self.buckets: list[list[torch.nn.Parameter]] = []
        size = bucket_bytes
        for p in params:
            fits = self.buckets and self.buckets[-1][0].dtype == p.dtype and size + p.numel() * p.element_size() <= bucket_bytes
            if not fits:
                self.buckets.append([])
                size = 0
            self.buckets[-1].append(p)
            size += p.numel() * p.element_size()
        self.where = {id(p): b for b, bucket in enumerate(self.buckets) for p in bucket}
        for p in params:
            p.register_post_accumulate_grad_hook(self._accumulated)
        self._reset()

    def _reset(self):
        self.ready = [set() for _ in self.buckets]
        self.sent: list = []  # (flat buffer, its collective) per bucket sent, in bucket order

    def _accumulated(self, p: torch.Tensor) -> None:
        if not self.armed:  # a backward pass outside `averaged` (a network not stepped): none of ours
            return
        b = self.where[id(p)]
        if id(p) in self.ready[b]:
            raise RuntimeError("a parameter's gradient was accumulated twice in one step (two backward passes "
                               "through one network before its optimizer step): averaging them needs one pass")
        self.ready[b].add(id(p))
        while len(self.sent) < len(self.buckets) and len(self.ready[len(self.sent)]) == len(self.buckets[len(self.sent)]):
            self._send(len(self.sent))

    def _send(self, b: int) -> None:
        bucket = self.buckets[b]
        used = [p.grad is not None for p in bucket]
        flat = torch.cat([*(p.grad.reshape(-1) if u else torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
                            for p, u in zip(bucket, used)),
                          torch.tensor(used, dtype=bucket[0].dtype, device=bucket[0].device)])
        self.sent.append((flat, dist.all_reduce(flat, async_op=True)))

    def finish(self) -> None:
        """The buckets not yet sent (some gradient never reached) sent, every one awaited, averaged
        and copied back into the gradients."""
        for b in range(len(self.sent), len(self.buckets)):
            self._send(b)
        for bucket, (flat, work) in zip(self.buckets, self.sent):
            work.wait()
            flat /= self.w.size
            offset, used = 0, flat[-len(bucket):]
            for p, anywhere in zip(bucket, used.tolist()):
                if anywhere == 0:
                    p.grad = None
                elif p.grad is None:
                    p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
                else:
                    p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
                offset += p.numel()
        self._reset()


@contextlib.contextmanager
def hooked(net, w: World, averagers={}):
    """`Averager` around a backward pass, then the buffers set to rank 0's."""
    averager = averagers.get(id(net)) or averagers.setdefault(id(net), Averager(net, w))
    averager.armed = True
    yield
    averager.armed = False
    averager.finish()
    _all_reduce_flat(list(net.buffers()), w, average=False)


def _steps(way: str, net, opt, x, y, w: World, steps: int) -> float:
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        if way == "DDP":
            with averaged(net, w) as model:
                F.cross_entropy(model(x), y).backward()
        elif way == "bucketed hooks":
            loss = F.cross_entropy(net(x), y)
            with hooked(net, w):
                loss.backward()
        else:
            F.cross_entropy(net(x), y).backward()
            synchronise(net, w)
        opt.step()
    dist.barrier()
    return time.perf_counter() - start


def _worker(rank: int, folder: str, repeats: int, steps: int, out: dict) -> None:
    torch.set_num_threads(1)  # two processes on two cores
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    w = World(rank, 2)
    results = {}
    for case, c in CASES.items():
        torch.manual_seed(0)
        nets = {way: build_model(c["model"], c["classes"], c["channels"], norm="group").to(
            memory_format=torch.channels_last) for way in WAYS}
        for net in nets.values():
            net.load_state_dict(nets[WAYS[0]].state_dict())
        opts = {way: torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9) for way, net in nets.items()}
        g = torch.Generator().manual_seed(rank)
        x = torch.randn(c["batch"], c["channels"], c["size"], c["size"], generator=g).contiguous(
            memory_format=torch.channels_last)
        y = torch.randint(c["classes"], (c["batch"],), generator=g)
        for way in WAYS:  # warm-up: allocations, DDP's bucket rebuild, the hooks
            _steps(way, nets[way], opts[way], x, y, w, 2)
        seconds = {way: [] for way in WAYS}
        for _ in range(repeats):
            for way in WAYS:
                seconds[way].append(_steps(way, nets[way], opts[way], x, y, w, steps))
        images = 2 * c["batch"] * steps
        results[case] = {
            "global_batch": 2 * c["batch"], "steps": steps, "repeats": repeats,
            "gradient_mb": round(sum(p.numel() * 4 for p in nets[WAYS[0]].parameters()) / 2**20, 1),
            "ways": {way: {"images_per_s_median": round(images / statistics.median(s), 2),
                           "images_per_s_range": [round(images / max(s), 2), round(images / min(s), 2)],
                           "vs_flat_median": round(statistics.median(f / t for f, t in
                                                                      zip(seconds[WAYS[0]], s)), 3)}
                     for way, s in seconds.items()}}
    if rank == 0:
        out.update(results)
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as folder, mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(folder, args.repeats, args.steps, out), nprocs=2, join=True)
        result = {"processes": 2, "backend": "gloo", "threads_per_process": 1, "cases": dict(out)}
    for case, r in result["cases"].items():
        print(case, {way: v["images_per_s_median"] for way, v in r["ways"].items()})
    path = Path(args.out) / "allreduce.json"
    atomic_write_json(path, result)
    atomic_write_json(path.with_suffix(".provenance.json"),
                      provenance({"repeats": args.repeats, "steps": args.steps, "cases": CASES},
                                 time.time() - started, benchmark="allreduce"))


if __name__ == "__main__":
    main()
