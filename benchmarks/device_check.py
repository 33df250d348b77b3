"""`make device-check`: is this GPU machine ready for the paper path? In under 8 minutes on one GPU,
with torch and torchvision (no notebooks, no MNIST, no internet), each check ends in one verdict
line, pass or fail against its stated threshold:

1. loop: ResNet-50 through milelib's loop against a hand-written loop (half precision,
   channels_last; benchmarks/training_loop.py --case resnet50): milelib at >= 0.9 of its images/s;
2. mile: MILe's step time against Sigmoid's, within 15% of its theory;
3. loader: the JPEG loader's images/s per core on a generated tree (benchmarks/loaders.py): >= 250;
4. jpeg feed: ResNet-50 at 224 px (on a CPU, the small CNN at 32 px) trained by milelib from a
   generated JPEG tree with the workers each launcher gives it (`run.workers=auto`: the local
   launcher, torchrun on every GPU of this machine), at 256 and at 32 images per GPU: at 256, at
   >= 0.8 of the in-memory loop's images/s;
5. resume: a paper-profile MILe run stopped after 6 steps and resumed against the same run
   unstopped: exact on a CPU, its metrics within 1e-3 on a GPU;
6. compile: a compiled MILe run of 30 steps: no recompile after its first 10 steps (GPU only);
7. ELR's state at 1.27M rows x 1,000 classes built and checkpointed once: under 60 s;
8. evaluation: 1,000 classes on 50,000 images (ImageNet val) scored: under 60 s;
9. processes: on 2+ GPUs, a 2-process NCCL run against one process (GroupNorm): metrics within 1e-4.

Writes results/benchmarks/device_check_<device>/summary.json, the benchmarks' own files beside it.
Without a GPU (or with --device cpu) the checks run at sizes a CPU finishes in about a minute: they
show the path works, and their speeds say nothing about a GPU, so on a CPU the speed checks pass
when they ran and only the correctness thresholds are judged.

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


def verdict(name: str, passed: bool, value: str, threshold: str) -> dict:
    line = f"{'pass' if passed else 'FAIL'}  {name}: {value} (threshold: {threshold})"
    print(line, flush=True)
    return {"check": name, "pass": bool(passed), "value": value, "threshold": threshold, "line": line}


def speed_verdict(name: str, gpu: bool, passed: bool, value: str, threshold: str) -> dict:
    """A speed's verdict on a GPU; on a CPU, only that it ran (its speed says nothing about a GPU)."""
    return verdict(name, passed or not gpu, value, threshold if gpu else f"{threshold} on a GPU; on a CPU, that it ran")


def jpeg_feed(device: str, folder: Path, gpu: bool) -> dict:
    """ResNet-50 trained by milelib from a generated JPEG tree, per launcher's worker count and
    images per GPU: images/s of the steps after the first (DataLoader start-up left out)."""
    import os

    from milelib import experiments, fixtures, train
    from milelib.config import own_cores

    gpus = torch.cuda.device_count() if gpu else 2
    model, size, per_class, batches, steps = ("resnet50", 224, 160, (256, 32), 8) if gpu else ("small_cnn", 32, 2, (4, 2), 3)
    root = fixtures.imagenet(folder / "jpegs", num_classes=8, train_per_class=per_class, val_per_class=1,
                             size=(size + 32, size + 32))
    env = {"local": {}, f"torchrun on {gpus} GPUs": {"LOCAL_WORLD_SIZE": str(gpus), "TORCHELASTIC_RUN_ID": "check"}}
    out = {}
    for launcher, variables in env.items():
        saved = {k: os.environ.get(k) for k in variables}
        os.environ.update(variables)
        try:
            workers = max(0, own_cores() - 1)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        for batch in batches:
            cfg = experiments.get("imagenet_fractions").EXPERIMENT.config("paper", {
                "data.image_size": size, "data.resize": size + 32, "data.holdout_per_class": 1, "model": model,
                "method": "sigmoid", "optim.steps": steps, "optim.batch_size": batch, "optim.warmup_steps": 1,
                "run.workers": workers, "run.progress": False, "run.device": device}, data_root=str(root))
            times = []
            from milelib.methods import supervised
            real = supervised.sgd_step

            def timed(*args):
                times.append(time.perf_counter())
                return real(*args)

            supervised.sgd_step = timed
            try:
                train(cfg)
            finally:
                supervised.sgd_step = real
            if gpu:
                torch.cuda.synchronize()
            rate = batch * (len(times) - 1) / max(1e-9, times[-1] - times[0])
            out[f"{launcher}, {batch} per GPU"] = {"workers": workers, "batch": batch, "images_per_s": round(rate, 1)}
    return out


def elr_state(device: str, rows: int, folder: Path) -> dict:
    """ELR's per-image targets at `rows` x 1,000 built on the device and checkpointed once, timed."""
    from milelib import checkpoint, methods
    from milelib.config import RunConfig
    from milelib.training import make_parts

    cfg = RunConfig().override({"method": "elr", "model": "resnet18", "run.device": device})
    started = time.perf_counter()
    method = methods.build(cfg, make_parts(cfg, torch.device(device), 1000, 3, rows, False))
    method.targets[:: max(1, rows // 1000)] = 0.001  # some content: a checksum over zeros proves little
    built = time.perf_counter()
    path = checkpoint.save(folder / "elr", {"step": 0, "method": method.state_dict()})
    saved = time.perf_counter()
    back = checkpoint.load(path)["method"]["targets"]
    loaded = time.perf_counter()
    return {"rows": rows, "dtype": str(method.targets.dtype), "gib": round(path.stat().st_size / 2**30, 2),
            "build_s": round(built - started, 1), "save_s": round(saved - built, 1),
            "load_s": round(loaded - saved, 1), "equal": bool(torch.equal(back, method.targets.cpu()))}


def evaluation(images: int, classes: int = 1000) -> dict:
    """The metrics of `images` x `classes` probabilities (ImageNet val's shape), timed."""
    import numpy as np

    from milelib import metrics as M

    rng = np.random.default_rng(0)
    probs = rng.random((images, classes), dtype=np.float32)
    labels = rng.integers(classes, size=images)
    true_sets = np.zeros((images, classes), dtype=bool)
    true_sets[np.arange(images), labels] = True
    started = time.perf_counter()
    threshold, _ = M.best_threshold(probs, true_sets)
    scores = M.scores(probs, labels, true_sets, extra_threshold=threshold)
    return {"images": images, "classes": classes, "seconds": round(time.perf_counter() - started, 1),
            "map": scores["map"]}


def processes_check(device: str, folder: Path) -> dict:
    """A MILe run (GroupNorm) on one process and on 2 (torchrun, NCCL on GPUs): its metrics apart."""
    from milelib import experiments, sweep, train

    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {
        "model.norm": "group", "optim.steps": 12, "optim.batch_size": 32, "run.progress": False,
        "run.device": device})
    one = train(cfg.override({"run.out_dir": str(folder / "one")}))
    sweep.torchrun(cfg.override({"run.out_dir": str(folder / "two")}), gpus=2)
    two = json.loads((folder / "two" / "result.json").read_text())["metrics"]
    return {"max_metric_difference": max(abs(one[k] - two[k]) for k in one if isinstance(one[k], float))}


def compile_check(device: str, folder: Path) -> dict:
    """A compiled MILe run of 30 steps: the graphs compiled after 10 steps and after 30."""
    from torch._dynamo.utils import counters

    from milelib import experiments, train
    from milelib.methods import mile

    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {
        "optim.steps": 30, "optim.batch_size": 64, "run.compile": True, "run.progress": False,
        "run.device": device, "method.teacher_steps": 5, "method.student_steps": 5, "method.warmup_steps": 0})
    graphs, real = [], mile.sgd_step

    def counted(*args):
        graphs.append(counters["stats"]["unique_graphs"])
        return real(*args)

    mile.sgd_step = counted
    started = time.perf_counter()
    try:
        train(cfg)
    finally:
        mile.sgd_step = real
    return {"steps": len(graphs), "graphs_at_step_10": graphs[10], "graphs_at_step_30": graphs[-1],
            "recompiles_after_step_10": graphs[-1] - graphs[10], "seconds": round(time.perf_counter() - started, 1)}


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
    gpu = args.device == "cuda"
    started = time.perf_counter()
    report = {"device": torch.cuda.get_device_name() if gpu else "cpu",
              "mode": "gpu" if gpu else "cpu (the path only: speeds say nothing about a GPU)"}
    verdicts = []
    report["loop_wall_s"] = benchmark("training_loop.py", ["--case", "resnet50", "--device", args.device, *loop_args],
                                      out)
    report["loop"] = json.loads((out / f"training_loop_resnet50_{args.device}.json").read_text())
    summary = report["loop"]["summary"]
    ratio = summary["sigmoid_vs_reference_images_per_s"]["median"]
    verdicts.append(speed_verdict("loop", gpu, ratio >= 0.9, f"milelib at {ratio:.2f} of a hand-written loop's "
                                  f"images/s", ">= 0.90"))
    mile, theory = summary["mile_released_vs_sigmoid_wall_time"]["median"], summary["mile_theory_wall_time"]
    verdicts.append(speed_verdict("mile", gpu, mile <= 1.15 * theory, f"MILe's step at {mile:.2f}x Sigmoid's, "
                                  f"theory {theory:.2f}x", "<= 1.15 x theory"))
    report["loader_wall_s"] = benchmark("loaders.py", loader_args, out)
    report["loader"] = json.loads((out / "loaders.json").read_text())
    best = max(c["median_images_per_s_per_core"] for c in report["loader"]["cases"])
    verdicts.append(speed_verdict("loader", gpu, best >= 250, f"{best:.0f} images/s per core at best",
                                  ">= 250 images/s per core"))
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        report["jpeg_feed"] = jpeg_feed(args.device, folder, gpu)
        in_memory = report["loop"]["configs"]["milelib Sigmoid"]["images_per_s_median"]
        largest = max(v["batch"] for v in report["jpeg_feed"].values())
        full = min(v["images_per_s"] for v in report["jpeg_feed"].values() if v["batch"] == largest)
        verdicts.append(speed_verdict("jpeg feed", gpu, full >= 0.8 * in_memory, ", ".join(
            f"{k}: {v['images_per_s']:.0f} images/s with {v['workers']} workers" for k, v in report["jpeg_feed"].items()),
            f"the largest batch >= 0.8 x the in-memory loop's {in_memory:.0f} images/s"))
        report["resume"] = resume = resume_check(args.device, folder)
        verdicts.append(verdict("resume", resume["exact"] if not gpu else resume["max_metric_difference"] <= 1e-3,
                                f"metrics {resume['max_metric_difference']:.2g} and weights "
                                f"{resume['max_weight_difference']:.2g} apart, resumed from step "
                                f"{resume['resumed_from_steps']}", "exact on a CPU, metrics <= 1e-3 on a GPU"))
        if gpu:
            try:
                report["compile"] = c = compile_check(args.device, folder)
                verdicts.append(verdict("compile", c["recompiles_after_step_10"] == 0, f"{c['graphs_at_step_30']} "
                                        f"graphs compiled, {c['recompiles_after_step_10']} after step 10, "
                                        f"{c['seconds']} s", "no recompile after step 10"))
            except Exception as err:  # noqa: BLE001 - a check that cannot run fails, the others go on
                verdicts.append(verdict("compile", False, f"{type(err).__name__}: {str(err).splitlines()[0]}",
                                        "a compiled MILe run of 30 steps"))
        else:
            verdicts.append(verdict("compile", True, "skipped", "GPU only: compiling takes minutes on a CPU"))
        rows = 1_270_000 if gpu else 12_700
        report["elr_state"] = e = elr_state(args.device, rows, folder)
        seconds = e["build_s"] + e["save_s"]
        verdicts.append(verdict("ELR state", e["equal"] and (seconds < 60 or not gpu), f"{rows:,} rows, {e['gib']} GiB "
                                f"({e['dtype']}) built and checkpointed in {seconds:.1f} s, read back "
                                f"{'equal' if e['equal'] else 'DIFFERENT'}",
                                "read back equal, and on a GPU < 60 s"))
        images = 50_000 if gpu else 2_000
        report["evaluation"] = v = evaluation(images)
        verdicts.append(speed_verdict("evaluation", gpu, v["seconds"] < 60, f"1,000 classes on {images:,} images "
                                      f"scored in {v['seconds']} s", "< 60 s"))
        if gpu and torch.cuda.device_count() >= 2:
            try:
                report["processes"] = pr = processes_check(args.device, folder)
                verdicts.append(verdict("processes", pr["max_metric_difference"] <= 1e-4, f"NCCL 2 processes "
                                        f"against 1: metrics {pr['max_metric_difference']:.2g} apart", "<= 1e-4"))
            except Exception as err:  # noqa: BLE001
                verdicts.append(verdict("processes", False, f"{type(err).__name__}: {str(err).splitlines()[0]}",
                                        "a 2-process NCCL run"))
        else:
            verdicts.append(verdict("processes", True, "skipped", "needs 2 GPUs"))
    report["verdicts"] = verdicts
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["notebook_stack_imported"] = sorted(m for m in ("mlxtend", "papermill", "nbval") if m in sys.modules)

    from milelib.results import atomic_write_json, provenance

    path = out / "summary.json"
    atomic_write_json(path, {**report, "provenance": provenance([], report["wall_s"])})
    failed = [v["check"] for v in verdicts if not v["pass"]]
    print(f"device-check on {report['device']}: {report['wall_s']:.0f} s; "
          f"{len(verdicts) - len(failed)} of {len(verdicts)} checks passed"
          f"{'; failed: ' + ', '.join(failed) if failed else ''}; wrote {path}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
