"""`train(config) -> metrics`: the loop, for every dataset and method.

The loop owns what is common to all runs: the device and its precision (half-precision autocast on a GPU),
the threads, the learning-rate schedule, logging, checkpoints and exact resume, and evaluation.
The data module (`milelib.data`) decides what a batch is and the method (`milelib.methods`) what
a step does; the loop asks neither for its name. Step-based: every method takes exactly
`optim.steps` optimizer steps on batches whose order is a pure function of (seed, step).

A run folder (`run.out_dir`, see milelib.store) holds metrics.csv (every `log_every` steps),
cycles.csv (the method's per-cycle rows, if any), checkpoints/ and result.json, written last: its
presence marks the run complete. One process at a time trains into it (store.hold).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data as datasets, distributed, methods, pretrained, store
from .config import RunConfig
from .evaluate import autocast as autocast_on, evaluate, half_precision, predict
from .methods import Parts
from .models import build_model
from .notices import warn


def no_gpu_reason() -> str:
    """Why torch has no GPU here: none at all, or one that nvidia-smi sees and this torch build
    cannot use (a driver older than the build's CUDA needs, the common case that silently fell back
    to the CPU)."""
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    try:
        listed = smi and subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        listed = ""
    if not listed:
        return "torch sees no GPU here"
    return (f"nvidia-smi sees {listed.splitlines()[0].split(' (')[0]} and torch {torch.__version__} (CUDA "
            f"{torch.version.cuda or 'none: a CPU build'}) cannot use it: the NVIDIA driver is older than this "
            f"build needs, or the build has no CUDA; update the driver, or install the torch build for your "
            f"driver's CUDA (CUDA 12 drivers: pip install -r requirements/cuda12.txt; others: "
            f"pytorch.org/get-started/locally)")


def pick_device(name: str, world: distributed.World = distributed.World()) -> torch.device:
    """The device a run asks for, checked; under torchrun on GPUs, each process's own GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and world.size > 1:
        name = f"cuda:{world.local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for (by run.device, or by a paper profile: they need a GPU) but "
                         f"{no_gpu_reason()}; "
                         f"to train on the CPU on purpose give run.device=cpu (a notebook: SETTINGS={{'run.device': "
                         f"'cpu'}}; the command line: --set run.device=cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} "
                         f"GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no Apple GPU here: use device auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def learning_rate(optim, step: int) -> float:
    """Linear warm-up, then cosine decay to zero, on the global step (teacher and student steps
    alike), so every method sees the same schedule."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    t = (step - optim.warmup_steps) / max(1, optim.steps - optim.warmup_steps)
    return optim.lr * 0.5 * (1 + math.cos(math.pi * t))


def grad_scaler(device) -> torch.amp.GradScaler | None:
    """fp16 training's loss scaler (GPUs without bf16, `half_precision`), None where none is needed."""
    return torch.amp.GradScaler("cuda") if half_precision(device) == torch.float16 else None


def precision_name(device) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[half_precision(device)]


def syncs_batchnorm(cfg: RunConfig, device, world: distributed.World) -> bool:
    """Whether BatchNorm's batch statistics are taken over every process's rows (SyncBatchNorm).

    The global batch is part of a run's identity, the process count is not: a run stored by an 8-GPU
    torchrun is read back by a 1-GPU notebook, and a sweep may train it under either launcher. So on
    GPUs (`run.sync_bn="auto"`) several processes normalise over the global batch, as one process
    does (the paper's 256, not 32 per GPU), at the cost of two small all-reduces per BatchNorm layer;
    otherwise the same hash would name two experiments (measured on CPUs: 6e-3 mAP apart after 24
    steps). torch's SyncBatchNorm runs on GPUs only, so on CPUs several processes with BatchNorm are
    refused (`check_batchnorm`) unless `run.sync_bn=false` asks for per-process statistics on purpose
    (Goyal et al.'s 32 per GPU; the run's facts then say `batchnorm: per process`)."""
    if cfg.run.sync_bn is True:
        if world.size > 1 and device.type != "cuda":
            raise ValueError("run.sync_bn needs GPUs (torch's SyncBatchNorm runs on CUDA only): on CPUs, set "
                             "model.norm=group for statistics that do not depend on the processes")
        return world.size > 1
    return cfg.run.sync_bn == "auto" and world.size > 1 and device.type == "cuda"


def check_batchnorm(cfg: RunConfig, device, world: distributed.World) -> None:
    """Several CPU processes with BatchNorm and `run.sync_bn="auto"`: refused in one line (`syncs_batchnorm`)."""
    if cfg.model.norm == "batch" and world.size > 1 and device.type != "cuda" and cfg.run.sync_bn == "auto":
        raise ValueError(f"model.norm=batch under {world.size} CPU processes normalises each process's "
                         f"{cfg.optim.batch_size // world.size} images, not the global batch of "
                         f"{cfg.optim.batch_size} (another experiment under the same config hash), and SyncBatchNorm "
                         f"runs on GPUs only: set model.norm=group, run one process, or run.sync_bn=false to take "
                         f"per-process statistics on purpose")


def batchnorm_fact(cfg: RunConfig, device, world: distributed.World) -> dict:
    """How BatchNorm's statistics were taken, for the run's facts: only when they are per process."""
    per_process = cfg.model.norm == "batch" and world.size > 1 and not syncs_batchnorm(cfg, device, world)
    return {"batchnorm": f"per process of {cfg.optim.batch_size // world.size}"} if per_process else {}


def make_parts(cfg: RunConfig, device, num_classes: int, in_channels: int, num_train: int,
               train_true_sets: bool, unlabelled: bool = False, world: distributed.World = distributed.World(),
               train_data=None, scaler: torch.amp.GradScaler | None = None) -> Parts:
    sync_bn = syncs_batchnorm(cfg, device, world)

    def new_net():
        net = build_model(cfg.model.name, num_classes, in_channels, cfg.model.width, cfg.model.norm, cfg.model.head)
        if cfg.model.pretrained:  # everything but the classifier, from a self-supervised checkpoint
            pretrained.load_into(net, cfg.model.name, cfg.model.pretrained, cfg.model.pretrained_format)
        if sync_bn:
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = net.to(device, memory_format=torch.channels_last)
        if cfg.run.compile:
            net.compile()  # in place: the module and its state_dict keys stay as they are (checkpoints)
        return net

    def new_optimizer(net):
        o = cfg.optim
        return torch.optim.SGD(net.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                               nesterov=True)

    def autocast():
        return autocast_on(device)

    def predict_train(net):  # logits of every training image, in row order (EM + APL's pseudo-labelling pass)
        logits = predict(net, train_data, lambda z: z, device, workers=cfg.run.loader_workers(), world=world)
        return torch.as_tensor(logits, device=device)

    training = {} if train_data is None else {  # none for a finished run loaded back: nothing to train
        "predict_train": predict_train,
        "train_labels": torch.as_tensor(np.asarray(train_data.labels), dtype=torch.long, device=device)}
    return Parts(device, num_classes, num_train, train_true_sets, new_net, new_optimizer, autocast, world, unlabelled,
                 load_run=lambda run_dir: load_run(run_dir, device), scaler=scaler, **training)


class Progress:
    """What the loop itself changes as it trains, so that a checkpoint can hold it: the step (which
    fixes the data order, the phase and the learning rate), the log, the losses not yet logged."""

    def __init__(self):
        self.step, self.resumed_from, self.log, self.window, self.skipped = 0, [], [], [], set()  # rows skipped

    def state_dict(self) -> dict:
        return {"step": self.step, "resumed_from": self.resumed_from, "log": self.log, "skipped": sorted(self.skipped),
                "window": [(step, loss.cpu()) for step, loss in self.window]}

    def load_state_dict(self, state: dict, device) -> None:
        self.step, self.log, skipped = state["step"], state["log"], state["skipped"]
        self.skipped = set(skipped) if isinstance(skipped, list) else set(range(-skipped, 0))  # older: a count
        self.window = [(step, loss.to(device)) for step, loss in state["window"]]
        self.resumed_from = state["resumed_from"] + [self.step]

    def check_finite(self, cfg: RunConfig, last_good) -> None:
        """Stop on the first NaN or infinite loss, naming its step and the checkpoint kept."""
        if not self.window:
            return
        losses = torch.stack([loss for _, loss in self.window]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step, loss = self.window[int(bad[0])][0], float(losses[int(bad[0])])
            kept = (f"the last good checkpoint {last_good} is kept" if last_good else
                    "no checkpoint was written yet" if cfg.run.out_dir else "this run keeps no checkpoints (no out_dir)")
            raise FloatingPointError(f"loss became {loss} at step {step} ({cfg.method.name}); run stopped and "
                                     f"{kept}: lower lr or check the data")


class Stopped(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, as a scheduler or `kill` sends) stopped a run; its message says at which
    step and how to resume; `signum` is the signal that stopped it."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum


def runtime_facts(device, world: distributed.World, compiled: bool, decoder: str | None = None,
                  batchnorm: dict | None = None) -> dict:
    """What may change a run's numbers without entering its config hash: checked when a run resumes.
    `decoder`: the image decoder of data read from files (data.decoder), none for tensors; `precision`:
    bf16, fp16 (GPUs before Ampere, with a loss scaler) or fp32; `batchnorm` (`batchnorm_fact`)."""
    return {"threads": torch.get_num_threads(), "device": device.type, "torch": str(torch.__version__),
            "processes": world.size, "compiled": compiled, "precision": precision_name(device),
            **({"decoder": decoder} if decoder else {}), **(batchnorm or {})}


def train(config: RunConfig) -> dict:
    """Train one model as `config` says and return its metrics (fractions in [0, 1]): those of the
    data's report split unprefixed, the other splits' as "split/metric".

    With `run.out_dir`: one process at a time trains into the folder; a finished run's result is
    returned as it is (`run.reevaluate` evaluates it again); a stopped run continues from its last
    checkpoint and ends with the same metrics as one never stopped (on the CPU, with the same
    threads and torch; a warning says when these differ).
    """
    cfg, t0 = config, time.time()
    threads = torch.get_num_threads()
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    try:
        world = distributed.world(cfg.run.timeout_minutes, cfg.run.first_timeout_minutes)
        device = pick_device(cfg.run.device, world)
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cudnn.benchmark = True  # fixed input sizes: cuDNN picks its fastest kernels once
        if cfg.optim.batch_size % world.size:
            raise ValueError(f"optim.batch_size {cfg.optim.batch_size} does not split over {world.size} processes: "
                             f"make it a multiple of the process count (it is the global batch)")
        check_batchnorm(cfg, device, world)
        saved = store.finished_result(cfg.run.out_dir, cfg) if cfg.run.out_dir and not cfg.run.reevaluate else None
        if saved is not None:  # finished: read back as it is, from a read-only disk too
            return saved["metrics"]
        out = store.prepare(cfg.run.out_dir)
        if out is None:
            return _train_in_step(cfg, device, world, None, t0)
        with store.hold(out) if world.main else contextlib.nullcontext():  # rank 0 alone writes
            saved = store.previous_result(out, cfg)
            if saved is not None and not cfg.run.reevaluate:
                return saved["metrics"]  # finished: returned as it is, never rewritten
            return _train_in_step(cfg, device, world, out, t0)
    finally:
        torch.set_num_threads(threads)


def train_quietly(cfg: dict) -> None:
    """Train a run from its config dict without a progress bar (a sweep worker's, or a SLURM task's)."""
    train(RunConfig.from_dict({**cfg, "run": {**cfg["run"], "progress": False}}))


def _train_in_step(cfg: RunConfig, device, world: distributed.World, out: Path | None, t0: float) -> dict:
    """`_train`; under torchrun, a collective that failed because a process stopped answering ends
    the run in one line naming it."""
    try:
        return _train(cfg, device, world, out, t0)
    except RuntimeError as err:
        lost = distributed.unanswered(err, world, cfg.run.timeout_minutes)
        if lost is None:
            raise
        raise lost from None


def _train(cfg: RunConfig, device, world: distributed.World, out: Path | None, t0: float) -> dict:
    seed_everything(cfg.seed)
    data = datasets.build(cfg.data)
    if cfg.optim.batch_size > len(data.train):
        raise ValueError(f"optim.batch_size {cfg.optim.batch_size} is larger than the {len(data.train)} training "
                         f"images: lower optim.batch_size or use more training data")
    facts = {"num_classes": data.num_classes, "in_channels": data.in_channels, "num_train": len(data.train),
             "train_true_sets": data.train.true_sets is not None, "unlabelled": data.unlabelled is not None}
    scaler = grad_scaler(device)
    method = methods.build(cfg, make_parts(cfg, device, **facts, world=world, train_data=data.train, scaler=scaler))
    decoder = getattr(cfg.data, "decoder", None)  # data read from files have one
    running = runtime_facts(device, world, cfg.run.compile, decoder,  # checked on resume, kept with the run
                            batchnorm_fact(cfg, device, world))
    progress = Progress()
    ckpt_dir = out / "checkpoints" if out else None
    found = checkpoint.load_latest(ckpt_dir) if out else None  # on the CPU: RNG states must stay there
    last_good = found[0] if found else None
    if found:
        state = found[1]
        checkpoint.check_compatible(state, last_good, cfg.config_hash(), cfg.model.name)
        _check_facts(state.get("facts"), running, last_good)
        method.load_state_dict(state["method"], last_good)
        progress.load_state_dict(state["progress"], device)
        checkpoint.set_rng_state(state["rng"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])

    steps, bar = cfg.optim.steps, _progress_bar(cfg, initial=progress.step)
    def steps_of(name):  # the steps whose batch comes from stream `name`
        return (s for s in range(progress.step, steps) if method.stream(s) == name)

    feeds = {"labelled": data.train, "unlabelled": data.unlabelled}
    workers = cfg.run.loader_workers()
    streams = {name: feed.batches(steps_of(name), cfg.optim.batch_size, cfg.seed, device, workers,
                                  shard=(world.rank, world.size)) for name, feed in feeds.items() if feed is not None}
    writes, first = out is not None and world.main, progress.step
    try:
        with _stop_between_steps() as stop_asked:
            for step in range(progress.step, steps):
                batch = next(streams[method.stream(step)])
                lr = learning_rate(cfg.optim, step)
                loss = method.step(batch, step, lr)
                if scaler is not None:
                    scaler.update()  # once per step, after every optimizer the step took
                if step == first:
                    distributed.settle(world, cfg.run.timeout_minutes)  # every process has caught up
                progress.window.append((step + 1, loss))
                progress.skipped.update(getattr(batch, "skipped_rows", ()))
                progress.step = step + 1
                distributed.reached(progress.step, world)
                logs = progress.step % cfg.run.log_every == 0 or progress.step == steps
                if logs:
                    progress.check_finite(cfg, last_good)
                    mean_loss = distributed.mean(torch.stack([loss for _, loss in progress.window]).mean(), world).item()
                    progress.log.append({"step": progress.step, "phase": method.phase(step), "loss": mean_loss, "lr": lr})
                    progress.window = []
                    distributed.check_in_step(method.eval_net, world, progress.step)
                    bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
                stop = distributed.any_process(bool(stop_asked), world) if logs or world.size == 1 else False
                if out and (progress.step % cfg.run.checkpoint_every == 0 or progress.step == steps or stop):
                    progress.check_finite(cfg, last_good)
                    state = {"config": cfg.to_dict(), "config_hash": cfg.config_hash(), "step": progress.step,
                             "data": facts, "facts": running, "method": method.state_dict(),
                             "progress": progress.state_dict(), "rng": checkpoint.rng_state(),
                             **({"scaler": scaler.state_dict()} if scaler is not None else {})}
                    last_good = (checkpoint.save(ckpt_dir, state) if world.main
                                 else ckpt_dir / f"step-{progress.step:06d}.pt")
                bar.update(1)
                if stop:
                    raise KeyboardInterrupt
        bar.close()
        scores = evaluate(method, data, device, workers, world) if method.evaluates else {}
        result = {**scores, **method.summary()}
    except KeyboardInterrupt:
        bar.close()
        resume = (f"rerun the same command to resume from its checkpoint at step {_step_of(last_good)}" if last_good
                  else "it had no checkpoint yet, so a rerun starts over" if out
                  else "this run keeps no checkpoints (no run.out_dir), so a rerun starts over")
        by = signal.SIGTERM if signal.SIGTERM in stop_asked else signal.SIGINT
        raise Stopped(f"stopped at step {progress.step} of {steps}{' by SIGTERM' if by == signal.SIGTERM else ''}: "
                      f"{resume}", by) from None
    if progress.skipped:
        result["skipped_images"] = len(progress.skipped)  # files, not draws: one drawn twice counts once
    if writes:
        for name, lines in data.files.items():  # e.g. the training file list, to repeat a fraction exactly
            store.write_lines(out / name, lines)
        store.write(out, cfg, progress.log, method.log_rows(), result,
                     {"wall_time_s": round(time.time() - t0, 1), "resumed_from_steps": progress.resumed_from,
                      "workers": workers, **running, **_visible_gpus()})
    return result


def _visible_gpus() -> dict:
    """The GPUs this process was given (a sweep's slot), for the run's record."""
    return {"visible_gpus": os.environ["CUDA_VISIBLE_DEVICES"]} if "CUDA_VISIBLE_DEVICES" in os.environ else {}


def _step_of(path: Path) -> int:
    return int(path.stem.split("-")[1])


STOPS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what a scheduler or `kill` sends: both stop at a step


@contextlib.contextmanager
def _stop_between_steps():
    """While training, the first Ctrl-C (SIGINT) or SIGTERM asks the loop to checkpoint and stop
    after the current step; a second one interrupts at once. Only in the main thread, where signals
    arrive. The list it gives holds the signals received."""
    asked: list = []
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return
    previous = {signum: signal.getsignal(signum) for signum in STOPS}

    def ask(signum, frame):
        asked.append(signum)
        for each, handler in previous.items():
            signal.signal(each, handler)

    for signum in STOPS:
        signal.signal(signum, ask)
    try:
        yield asked
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _check_facts(theirs: dict | None, mine: dict, path) -> None:
    """Warn, in one line, when a run resumes with other threads, device kind, torch, process count,
    compilation or decoder (`mine`, runtime_facts) than it ran with (`theirs`)."""
    if theirs is not None and "decoder" in mine:
        theirs = {"decoder": "pil", **theirs}  # checkpoints from before data.decoder: Pillow decoded them
    changed = [f"{key} {mine[key]} (it ran with {theirs[key]})" for key in mine
               if theirs and key in theirs and theirs[key] != mine[key]]
    if changed:
        warn(f"resuming {path} with {', '.join(changed)}: the result will be close to, not exactly, an unstopped "
             f"run's; resume with the same ones for an exact result")


def _progress_bar(cfg: RunConfig, initial: int):
    from tqdm import tqdm  # the plain bar: tqdm.auto would need ipywidgets in notebooks

    return tqdm(total=cfg.optim.steps, initial=initial, disable=not cfg.run.progress,
                desc=f"{cfg.method.name} seed {cfg.seed}", mininterval=2.0, leave=False)


def load_run(run_dir, device="cpu"):
    """A finished or stopped run's method (its networks as last saved) and its config."""
    folder = Path(run_dir) / "checkpoints"
    found = checkpoint.load_latest(folder)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {folder}: train the run first (its out_dir)")
    path, state = found
    stored = state["config"]  # run.threads dropped: it may exceed this machine's cores, and loading needs none
    cfg = RunConfig.from_dict({**stored, "run": {**stored.get("run", {}), "threads": None}})
    method = methods.build(cfg, make_parts(cfg, torch.device(device), **state["data"]))
    method.load_state_dict(state["method"], path)
    method.eval_net.eval()
    return method, cfg
