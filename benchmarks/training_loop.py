"""The training loop's speed against a plain PyTorch loop, and MILe's cost beyond Sigmoid.

Four configurations, alternating in order over several repeats, each a whole run of `--steps`
optimizer steps on the same data, model, batch, precision and memory format:
- reference: a minimal hand-written loop (randperm per epoch, normalise, forward, BCE on one-hot
  labels, backward, SGD with the same schedule; no checkpoints, no logging);
- milelib Sigmoid, and MILe in both readings (released; algorithm1) at the same total steps, each
  through `milelib.train` (its loop, with logging and a checkpoint-free run).
Both sides include building the model and scoring the (small) evaluation splits; the data are
built once before timing. Reports images per second (median and range; peak memory on a GPU), the
ratios benchmarks/README.md quotes, and the achieved FLOP/s of a training step as a share of a large
matmul's on the same device (a practical ceiling). Writes results/benchmarks/training_loop_<case>_<device>.json
(`_compiled.json` with `--compile`) with provenance.

    python benchmarks/training_loop.py                       # CPU: small CNN on the ReaL-like grids
    python benchmarks/training_loop.py --case resnet50 --device cuda [--compile]   # a GPU
    python benchmarks/training_loop.py --case resnet18 --device cuda
    python benchmarks/training_loop.py --case grids --device cuda  # small CNN, grids built on the GPU

GPU cases: 224 px in-memory images (batch 256, bf16 autocast, channels_last, as every milelib run
on a GPU), a dataset registered here for the benchmark only. `--compile` compiles both sides'
networks (milelib's `run.compile`; the warm-up runs pay the compilation). The matmul ceiling is in
the precision the case trains in: float32 on the CPU, bfloat16 on a GPU. MILe's theoretical cost is
computed from a teacher forward and a training step timed on the case's network, and the ratios are
taken within each repeat (neighbouring runs), then their median and range.
"""
import argparse
import contextlib
import functools
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from milelib import RunConfig, data as datasets, train
from milelib.data import Data, Split, TensorData
from milelib.experiments.real_like import PROFILES
from milelib.models import build_model
from milelib.registry import DATASETS
from milelib.results import atomic_write_json, provenance
from milelib.training import learning_rate


@dataclass
class Synthetic:
    """In-memory random images (a benchmark's data: the network's speed does not depend on them)."""
    name: str = "synthetic"
    train: int = 2048
    size: int = 224
    classes: int = 1000


def build_synthetic(s: Synthetic) -> Data:
    return _synthetic(s.train, s.size, s.classes)  # made once: both sides read the same arrays


@functools.lru_cache(maxsize=2)
def _synthetic(n, size, classes) -> Data:
    s, rng = Synthetic(train=n, size=size, classes=classes), np.random.default_rng(0)

    def split(n):
        labels = rng.integers(0, s.classes, n)
        return TensorData(rng.integers(0, 256, (n, 3, s.size, s.size), dtype=np.uint8), labels,
                          np.eye(s.classes, dtype=bool)[labels], 0.45, 0.25)

    small = split(64)
    return Data(split(s.train), {"val": Split(small, small.labels, small.true_sets)}, s.classes, 3, "val", "val")


DATASETS.add("synthetic", Synthetic, build_synthetic)

CASES = {  # name: dotted settings over the ReaL-like quick profile
    "grids": {"data.val": 256, "data.test": 256, "optim.steps": 300},
    "resnet50": {"data": "synthetic", "model": "resnet50", "optim.batch_size": 256, "optim.steps": 40},
    "resnet18": {"data": "synthetic", "model": "resnet18", "optim.batch_size": 256, "optim.steps": 60},
    "jpeg": {"data": "image_folder", "data.image_size": 64, "model.width": 16, "optim.steps": 40},  # data.root: generated
}
METHODS = {"reference loop": None, "milelib Sigmoid": {"method": "sigmoid"},
           "milelib MILe (released)": {"method": "mile", "method.variant": "released"},
           "milelib MILe (algorithm1)": {"method": "mile", "method.variant": "algorithm1"}}


ON_DEVICE: dict = {}


def tensor_batches(cfg, device):
    """In-memory data as a user would feed it: uint8 tensors on the device, a fresh permutation per
    epoch, normalised batch by batch; and the evaluation splits' batches."""
    data = datasets.build(cfg.data)
    if (id(data), device) not in ON_DEVICE:  # held on the device once, as milelib's feed holds them
        ON_DEVICE[id(data), device] = (torch.as_tensor(data.train.images).to(device),
                                       torch.as_tensor(data.train.labels).to(device))
    images, labels = ON_DEVICE[id(data), device]
    mean, std, b = data.train.mean, data.train.std, cfg.optim.batch_size

    def train_batches():
        per_epoch = len(labels) // b
        for step in range(cfg.optim.steps):
            if step % per_epoch == 0:
                order = torch.randperm(len(labels), device=device)
            rows = order[(step % per_epoch) * b:(step % per_epoch + 1) * b]
            yield ((images[rows].float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last), labels[rows]

    scored = [x for split in data.splits.values() for x in split.data.eval_batches(512, device)]
    return train_batches(), scored, data.num_classes, data.in_channels


def jpeg_batches(cfg, device):
    """The plain loader a user would write for a class-folder tree: torchvision's ImageFolder (PIL
    decoding) with the same transforms as milelib's, a shuffling DataLoader; a tenth to score."""
    from torchvision import datasets as tv
    from torchvision.transforms import v2

    from milelib.data.feeds import MEAN, STD
    from milelib.data.images import transforms

    def folder(training):  # floats made in the workers, as most hand-written loaders do
        return tv.ImageFolder(cfg.data.root, v2.Compose([
            v2.PILToTensor(), transforms(training, cfg.data.image_size, crop=False),
            v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]))

    loader = torch.utils.data.DataLoader(folder(True), batch_size=cfg.optim.batch_size, shuffle=True, drop_last=True,
                                         num_workers=cfg.run.workers)

    def train_batches():
        while True:
            for x, y in loader:
                yield x.to(device).contiguous(memory_format=torch.channels_last), y.to(device)

    held_out = torch.utils.data.Subset(folder(False), range(0, len(loader.dataset), 10))
    scored = (x.to(device) for x, _ in torch.utils.data.DataLoader(held_out, batch_size=512))
    return train_batches(), scored, len(loader.dataset.classes), 3


def autocast(device):
    """bf16 autocast on a GPU, as milelib's runs; nothing on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference(cfg, device, compile_: bool) -> None:
    """The plain loop: what a user would write by hand for the same run."""
    torch.manual_seed(cfg.seed)
    batches, scored, num_classes, channels = (jpeg_batches if cfg.data.name == "image_folder" else tensor_batches)(
        cfg, device)
    net = build_model(cfg.model.name, num_classes, channels, cfg.model.width, cfg.model.norm)
    net = net.to(device, memory_format=torch.channels_last)
    forward = torch.compile(net) if compile_ else net
    o = cfg.optim
    opt = torch.optim.SGD(net.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=True)
    net.train()
    for step in range(o.steps):
        x, y = next(batches)
        for group in opt.param_groups:
            group["lr"] = learning_rate(o, step)
        with autocast(device):
            logits = forward(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), F.one_hot(y, num_classes).float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    with torch.inference_mode():  # score the evaluation images, as a run does
        for x in scored:
            net(x).sigmoid().cpu()


def mile_schedule(steps: int) -> dict:
    """k_t : k_s = 4 : 1, as the quick profiles' 100 : 25."""
    return {"method.teacher_steps": max(1, steps // 8), "method.student_steps": max(1, steps // 32)}


def one_run(name, cfg, device, compile_: bool) -> tuple[float, int | None]:
    """Seconds of one whole run, and on a GPU its peak memory allocated (bytes)."""
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if METHODS[name] is None:
        reference(cfg, device, compile_)
    else:
        mile = METHODS[name]["method"] == "mile"
        train(cfg.override({**METHODS[name], **(mile_schedule(cfg.optim.steps) if mile else {}),
                            "run.compile": compile_}))
    synchronize(device)
    return time.perf_counter() - started, torch.cuda.max_memory_allocated() if device.type == "cuda" else None


def case_network(cfg, device):
    """A fresh network of the case and one batch of random inputs of its size, channels_last."""
    data = datasets.build(cfg.data)
    net = build_model(cfg.model.name, data.num_classes, data.in_channels, cfg.model.width).to(
        device, memory_format=torch.channels_last)
    size = (cfg.data.image_size,) * 2 if cfg.data.name == "image_folder" else data.train.images.shape[-2:]
    x = torch.randn(cfg.optim.batch_size, data.in_channels, *size, device=device)
    return net, x.contiguous(memory_format=torch.channels_last)


def teacher_forward_share(cfg, device, repeats: int = 20) -> float:
    """A teacher's forward pass (inference mode) as a share of a training step, both timed on the
    case's network and batch: what MILe adds on each imitation step, in theory."""
    net, x = case_network(cfg, device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def train_step():
        with autocast(device):
            loss = net(x).float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def forward():
        with torch.inference_mode(), autocast(device):
            net(x)

    def median_seconds(fn):
        times = []
        for _ in range(repeats + 3):
            synchronize(device)
            started = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - started)
        return statistics.median(times[3:])  # the first ones warm up

    net.train()
    step = median_seconds(train_step)
    net.eval()
    return median_seconds(forward) / step


def step_flops(cfg, device) -> float:
    """FLOPs of one training step (forward and backward) of the case's network on one batch."""
    from torch.utils.flop_counter import FlopCounterMode

    net, x = case_network(cfg, device)
    with FlopCounterMode(display=False) as counter:
        net(x).sum().backward()
    return float(counter.get_total_flops())


def matmul_flops_per_s(device, repeats: int = 10) -> tuple[float, str]:
    """A large matmul's FLOP/s in the precision the case trains in (float32 on the CPU, bfloat16
    under a GPU's autocast): the practical ceiling of the same cores."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (2048, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - started), f"{n}x{n} {str(dtype).removeprefix('torch.')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES), default="grids")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default: the case's)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the networks (both sides)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (case jpeg)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the case's (256 for the ResNets)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    device = torch.device(args.device)
    profile = {k: v for k, v in PROFILES["quick"].settings.items()
               if not k.startswith("method") and (args.case == "grids" or not k.startswith("data."))}
    settings = {**profile, "method": "sigmoid", **CASES[args.case], "run.device": args.device, "run.threads": None,
                "run.progress": False, "run.log_every": 50, "optim.warmup_steps": 5}
    if args.steps:
        settings["optim.steps"] = args.steps
    if args.batch_size:
        settings["optim.batch_size"] = args.batch_size
    if args.case == "jpeg":  # real JPEG files (generated, 96x80) through the DataLoader path
        from milelib import fixtures

        settings["data.root"] = str(fixtures.image_folder(Path(tempfile.mkdtemp()) / "images", num_classes=10,
                                                          per_class=64, size=(96, 80)))
        settings["run.workers"] = args.workers
    cfg = RunConfig().override(settings)
    datasets.build(cfg.data)  # the data once, before timing (cached)
    for name in METHODS:  # warm-up: first calls pay allocations, lazy initialisation (and compilation)
        one_run(name, cfg.override({"optim.steps": min(20, cfg.optim.steps)}), device, args.compile)
    times, memory = {name: [] for name in METHODS}, {name: [] for name in METHODS}
    started = time.time()
    for repeat in range(args.repeats):
        for name in (list(METHODS) if repeat % 2 == 0 else list(METHODS)[::-1]):  # alternate the order
            seconds, peak = one_run(name, cfg, device, args.compile)
            times[name].append(seconds)
            memory[name].append(peak)
            print(f"{args.case} | {name}: {seconds:.2f} s", flush=True)
    images = cfg.optim.steps * cfg.optim.batch_size
    rows = {name: {"seconds_median": statistics.median(t), "seconds_min": min(t), "seconds_max": max(t),
                   "images_per_s_median": images / statistics.median(t),
                   "steps_per_s_median": cfg.optim.steps / statistics.median(t),
                   "images_per_s_range": [images / max(t), images / min(t)],
                   **({"gpu_peak_memory_gib": max(memory[name]) / 2**30} if device.type == "cuda" else {})}
            for name, t in times.items()}

    def paired(numerator, denominator):  # within each repeat (neighbouring runs), then the median and range
        ratios = [a / b for a, b in zip(times[numerator], times[denominator])]
        return {"median": statistics.median(ratios), "range": [min(ratios), max(ratios)]}

    flops, (ceiling, matmul) = step_flops(cfg, device), matmul_flops_per_s(device)
    achieved = flops * cfg.optim.steps / statistics.median(times["reference loop"])
    k = mile_schedule(cfg.optim.steps)
    imitating = k["method.student_steps"] / (k["method.teacher_steps"] + k["method.student_steps"])
    forward_share = teacher_forward_share(cfg, device)
    summary = {"sigmoid_vs_reference_images_per_s": paired("reference loop", "milelib Sigmoid"),
               "mile_released_vs_sigmoid_wall_time": paired("milelib MILe (released)", "milelib Sigmoid"),
               "mile_algorithm1_vs_sigmoid_wall_time": paired("milelib MILe (algorithm1)", "milelib Sigmoid"),
               # MILe's extra work in theory: a teacher forward on each imitation step, timed on this network
               "teacher_forward_share_of_step": forward_share, "imitation_step_share": imitating,
               "mile_theory_wall_time": 1 + imitating * forward_share,
               "step_flops": flops, "reference_achieved_flops_per_s": achieved, "matmul": matmul,
               "matmul_flops_per_s": ceiling, "share_of_matmul": achieved / ceiling}
    out = {"case": args.case, "device": args.device, "steps": cfg.optim.steps, "batch_size": cfg.optim.batch_size,
           "repeats": args.repeats, "compile": args.compile, "threads": torch.get_num_threads(),
           "workers": cfg.run.workers, "configs": rows, "summary": summary}
    path = Path(args.out) / f"training_loop_{args.case}_{device.type}{'_compiled' if args.compile else ''}.json"
    atomic_write_json(path, out)
    atomic_write_json(path.with_suffix(".provenance.json"),
                      provenance({"settings": settings}, time.time() - started, benchmark="training_loop"))
    for name, r in rows.items():
        lo, hi = r["images_per_s_range"]
        print(f"{name:28s} {r['images_per_s_median']:9.0f} images/s ({lo:.0f}-{hi:.0f})")
    for key, value in summary.items():
        shown = ({"median": round(value["median"], 3), "range": [round(v, 3) for v in value["range"]]}
                 if isinstance(value, dict) else f"{value:.4g}" if isinstance(value, float) else value)
        print(f"{key}: {shown}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
