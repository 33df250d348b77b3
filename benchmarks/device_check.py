"""`make device-check`: is this GPU machine ready for the paper path? In under 8 minutes on one GPU,
with torch and torchvision (no notebooks, no MNIST, no internet):

1. ResNet-50 through milelib's loop against a hand-written loop (bf16, channels_last), and MILe's
   step time against Sigmoid's beside its theory (benchmarks/training_loop.py --case resnet50);
2. the JPEG loader's images/s, per worker count, on a generated tree of ImageNet-sized JPEGs
   (benchmarks/loaders.py; Pillow and torchvision.io decoding, per core, uint8 handed to the device);
3. a tiny paper-profile MILe run (ResNet-18, a generated ImageNet tree) stopped after 6 steps and
   resumed, against the same run unstopped: its metrics and weights, and how far apart they are.

Writes results/benchmarks/device_check_<device>/summary.json, the two benchmarks' own files beside it.
Without a GPU (or with --device cpu) the same checks run at sizes a CPU finishes in minutes: they
show the path works, and their speeds say nothing about a GPU.

    python benchmarks/device_check.py [--device cuda|cpu] [--out results/benchmarks]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
SIZES = {  # per device: (loop args, loader args)
    "cuda": (["--repeats", "3"], ["--repeats", "2", "--images-per-class", "40"]),
    "cpu": (["--repeats", "1", "--steps", "2", "--batch-size", "4"], ["--repeats", "1", "--images-per-class", "4",
                                                                        "--batches", "2"]),
}


def benchmark(script: str, args: list[str], out: Path) -> float:
    """Run one of the benchmarks in a child process into `out`; its wall time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / script), *args, "--out", str(out)], check=True)
    return round(time.perf_counter() - started, 1)


def resume_check(device: str, folder: Path) -> dict:
    """A paper-profile MILe run on a generated ImageNet tree, whole and stopped-then-resumed."""
    from milelib import experiments, fixtures, train
    from milelib.methods import mile

    root = fixtures.imagenet(folder / "imagenet", num_classes=4, train_per_class=16, val_per_class=4, size=(80, 64))
    cfg = experiments.get("imagenet_fractions").EXPERIMENT.config("paper", {
        "data.image_size": 64, "data.resize": 72, "data.holdout_per_class": 2,
        "model": "resnet18", "optim.steps": 12, "optim.batch_size": 8, "optim.warmup_steps": 2,
        "method.teacher_steps": 2, "method.student_steps": 2, "run.checkpoint_every": 4, "run.workers": 2,
        "run.progress": False, "run.device": device}, data_root=str(root))
    whole = train(cfg.override({"run.out_dir": str(folder / "whole")}))

    class Stop(BaseException):
        pass

    real, calls = mile.sgd_step, []

    def stopping(*args):
        calls.append(1)
        if len(calls) == 7:  # as a kill would, after the checkpoint at step 4 and two steps more
            raise Stop
        return real(*args)

    stopped = cfg.override({"run.out_dir": str(folder / "stopped")})
    mile.sgd_step = stopping
    try:
        train(stopped)
    except Stop:
        pass
    finally:
        mile.sgd_step = real
    resumed = train(stopped)
    record = json.loads((folder / "stopped" / "result.json").read_text())["run"]
    nets = [torch.load(folder / name / "checkpoints" / "step-000012.pt", map_location="cpu", weights_only=False)
            ["method"]["net"] for name in ("whole", "stopped")]
    weights = max((a.float() - b.float()).abs().max().item() for a, b in zip(nets[0].values(), nets[1].values()))
    metrics = max(abs(whole[k] - resumed[k]) for k in whole if isinstance(whole[k], float))
    return {"resumed_from_steps": record["resumed_from_steps"], "max_metric_difference": metrics,
            "max_weight_difference": weights, "exact": metrics == 0 and weights == 0,
            "map_whole": whole["map"], "map_resumed": resumed["map"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=str(HERE.parent / "results" / "benchmarks"))
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        from milelib.training import no_gpu_reason
        raise SystemExit(f"device-check: --device cuda, but {no_gpu_reason()}; --device cpu checks the path on the CPU")
    out = Path(args.out) / f"device_check_{args.device}"  # apart from the CPU files benchmarks/README.md quotes
    out.mkdir(parents=True, exist_ok=True)
    loop_args, loader_args = SIZES[args.device]
    started = time.perf_counter()
    report = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
              "mode": "gpu" if args.device == "cuda" else "cpu (the path only: speeds say nothing about a GPU)"}
    report["loop_wall_s"] = benchmark("training_loop.py", ["--case", "resnet50", "--device", args.device, *loop_args],
                                      out)
    report["loop"] = json.loads((out / f"training_loop_resnet50_{args.device}.json").read_text())
    report["loader_wall_s"] = benchmark("loaders.py", loader_args, out)
    report["loader"] = json.loads((out / "loaders.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        report["resume"] = resume_check(args.device, Path(folder))
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["notebook_stack_imported"] = sorted(m for m in ("mlxtend", "papermill", "nbval") if m in sys.modules)

    from milelib.results import atomic_write_json, provenance

    path = out / "summary.json"
    atomic_write_json(path, {**report, "provenance": provenance([], report["wall_s"])})
    resume = report["resume"]
    print(f"device-check on {report['device']}: {report['wall_s']:.0f} s; resume "
          f"{'exact' if resume['exact'] else 'differs by ' + format(resume['max_metric_difference'], '.2g')}; "
          f"wrote {path}")


if __name__ == "__main__":
    main()
