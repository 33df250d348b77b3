"""Where a `quick` training step's time goes on the CPU, and what would make the batch faster.

The `quick` profiles train the small CNN (width 8) on 21x21 grids, batch 64, one thread per run,
two runs side by side on a 2-core machine. This measures, on that network and data (the ReaL-like
quick profile's), images per second of a whole training step (batch gather and normalise, forward,
BCE, backward, SGD with momentum) under:

- batch size 32 / 64 / 128 / 256 (one thread): how much of a step is fixed overhead;
- one or two threads at batch 64: what a second core gives one run (against two runs side by side);
- bf16 autocast at batch 64 (only where the CPU has AVX-512 bf16 or AMX; the flag says which);
- G networks trained in one step as one vmapped network (torch.func over stacked weights, G = 1, 2,
  4, 8, each its own batch of 64): what grouping seeds or settings in one process would give.
  BatchNorm runs without running statistics there (torch.func cannot update them under vmap); the
  speed is that of the same arithmetic.

and the share of a batch-64 step spent in each part (gather, forward, backward, optimizer). Every
configuration runs in turn within each repeat, so the ratios compare neighbours in time on a shared,
noisy machine; medians and ranges over the repeats. Writes results/benchmarks/step_cost.json with
provenance.

    python benchmarks/step_cost.py [--repeats 7] [--steps 200]
"""
import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, replace_all_batch_norm_modules_, stack_module_state

from milelib import data as datasets
from milelib.experiments import Experiment
from milelib.experiments.real_like import PROFILES
from milelib.models import build_model
from milelib.results import atomic_write_json, provenance

OUT = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "step_cost.json"


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if f" {f}" in text}


class Batches:
    """The training images held as uint8, gathered and normalised batch by batch, as a run's feed."""

    def __init__(self, cfg):
        data = datasets.build(cfg.data)
        self.images, self.labels = torch.as_tensor(data.train.images), torch.as_tensor(data.train.labels)
        self.mean, self.std, self.classes = data.train.mean, data.train.std, data.num_classes
        self.channels = data.in_channels

    def __call__(self, size: int, generator):
        rows = torch.randint(len(self.labels), (size,), generator=generator)
        x = (self.images[rows].float() / 255 - self.mean) / self.std
        return x, F.one_hot(self.labels[rows], self.classes).float()


def plain_steps(batches, batch: int, steps: int, bf16: bool = False, parts: dict | None = None) -> float:
    """Seconds for `steps` training steps of one network; `parts` collects per-part seconds."""
    torch.manual_seed(0)
    net = build_model("small_cnn", batches.classes, batches.channels, 8)
    opt = torch.optim.SGD(net.parameters(), lr=0.4, momentum=0.9, nesterov=True, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    clock = time.perf_counter
    started = clock()
    for _ in range(steps):
        t0 = clock()
        x, y = batches(batch, gen)
        t1 = clock()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        t2 = clock()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = clock()
        opt.step()
        if parts is not None:
            for name, seconds in zip(("gather", "forward", "backward", "optimizer"), (t1 - t0, t2 - t1, t3 - t2, clock() - t3)):
                parts[name] = parts.get(name, 0.0) + seconds
    return clock() - started


def vmapped_steps(batches, groups: int, batch: int, steps: int) -> float:
    """Seconds for `steps` steps of `groups` networks trained as one: weights stacked, forward and
    gradient vmapped over the group, one batch per network, SGD with momentum on the stacks."""
    torch.manual_seed(0)
    nets = [replace_all_batch_norm_modules_(build_model("small_cnn", batches.classes, batches.channels, 8))
            for _ in range(groups)]
    params, buffers = stack_module_state(nets)
    skeleton = copy.deepcopy(nets[0]).to("meta")

    def loss_of(p, b, x, y):
        logits = functional_call(skeleton, (p, b), (x,))
        return F.binary_cross_entropy_with_logits(logits, y)

    step_grad = torch.vmap(grad(loss_of), in_dims=(0, 0, 0, 0))
    velocity = {k: torch.zeros_like(v) for k, v in params.items()}
    gen = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(steps):
        x, y = batches(groups * batch, gen)
        grads = step_grad(params, buffers, x.view(groups, batch, *x.shape[1:]), y.view(groups, batch, -1))
        with torch.no_grad():
            for k, g in grads.items():
                g.add_(params[k], alpha=1e-4)
                velocity[k].mul_(0.9).add_(g)
                params[k].sub_(g.add(velocity[k], alpha=0.9), alpha=0.4)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    flags, steps, started = cpu_flags(), args.steps, time.time()
    batches = Batches(Experiment(name="real_like", notebook="", profiles=PROFILES).config("quick"))
    torch.set_num_threads(1)

    def threads(n, fn):
        def run():
            torch.set_num_threads(n)
            try:
                return fn()
            finally:
                torch.set_num_threads(1)
        return run

    configs = {f"batch {b}": (b, lambda b=b: plain_steps(batches, b, steps)) for b in (32, 64, 128, 256)}
    configs["batch 64, 2 threads"] = (64, threads(2, lambda: plain_steps(batches, 64, steps)))
    if flags & {"avx512_bf16", "amx_bf16"}:
        configs["batch 64, bf16 autocast"] = (64, lambda: plain_steps(batches, 64, steps, bf16=True))
    for g in (1, 2, 4, 8):
        configs[f"{g} networks vmapped, batch 64 each"] = (64 * g, lambda g=g: vmapped_steps(batches, g, 64, steps))
    seconds = {name: [] for name in configs}
    for name, (_, fn) in configs.items():  # warm-up, not timed
        fn()
    for _ in range(args.repeats):
        for name, (_, fn) in configs.items():
            seconds[name].append(fn())
    parts: dict = {}
    plain_steps(batches, 64, steps, parts=parts)
    total = sum(parts.values())
    rates = {name: [configs[name][0] * steps / s for s in secs] for name, secs in seconds.items()}
    base = rates["batch 64"]
    result = {
        "steps_per_timing": steps, "repeats": args.repeats, "cpu_flags": sorted(flags),
        "torch": torch.__version__, "network": "small_cnn width 8, 1x21x21 grids (ReaL-like quick)",
        "images_per_s": {name: {"median": statistics.median(r), "range": [min(r), max(r)]} for name, r in rates.items()},
        "vs_batch_64": {name: round(statistics.median([a / b for a, b in zip(r, base)]), 3) for name, r in rates.items()},
        "batch_64_step_share": {name: round(s / total, 3) for name, s in parts.items()},
        "batch_64_step_ms": round(1000 * total / steps, 3),
    }
    atomic_write_json(OUT, result)
    atomic_write_json(OUT.with_suffix(".provenance.json"), provenance(vars(args), time.time() - started))
    for name, ratio in result["vs_batch_64"].items():
        print(f"{name:40s} {result['images_per_s'][name]['median']:9.0f} images/s  x{ratio:.2f}")
    print("batch 64 step:", result["batch_64_step_ms"], "ms;", result["batch_64_step_share"])


if __name__ == "__main__":
    main()
