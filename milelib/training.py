"""`train(config) -> metrics`: the loop, for every dataset and method.

The loop owns what is common to all runs: the device and its precision (bf16 autocast on a GPU),
the threads, the learning-rate schedule, logging, checkpoints and exact resume, and evaluation.
The data module (`milelib.data`) decides what a batch is and the method (`milelib.methods`) what
a step does; the loop asks neither for its name. Step-based: every method takes exactly
`optim.steps` optimizer steps on batches whose order is a pure function of (seed, step).

A run folder (`run.out_dir`) holds metrics.csv (every `log_every` steps), cycles.csv (the
method's per-cycle rows, if any), checkpoints/ and result.json, written last: its presence marks
the run complete.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data as datasets, methods
from .config import RunConfig
from .evaluate import evaluate
from .methods import Parts
from .models import build_model
from .results import atomic_write_bytes, atomic_write_json


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for but torch sees no GPU here "
                         f"(torch.cuda.is_available() is False): use device auto or cpu")
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


def make_parts(cfg: RunConfig, device, num_classes: int, in_channels: int, num_train: int,
               train_true_sets: bool) -> Parts:
    def new_net():
        return build_model(cfg.model.name, num_classes, in_channels, cfg.model.width).to(
            device, memory_format=torch.channels_last)

    def new_optimizer(net):
        o = cfg.optim
        return torch.optim.SGD(net.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                               nesterov=True)

    def autocast():
        return (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())

    return Parts(device, num_classes, num_train, train_true_sets, new_net, new_optimizer, autocast)


class Progress:
    """What the loop itself changes as it trains, so that a checkpoint can hold it: the step (which
    fixes the data order, the phase and the learning rate), the log, the losses not yet logged."""

    def __init__(self):
        self.step, self.resumed_from, self.log, self.window, self.skipped = 0, [], [], [], 0

    def state_dict(self) -> dict:
        return {"step": self.step, "resumed_from": self.resumed_from, "log": self.log, "skipped": self.skipped,
                "window": [(step, loss.cpu()) for step, loss in self.window]}

    def load_state_dict(self, state: dict, device) -> None:
        self.step, self.log, self.skipped = state["step"], state["log"], state["skipped"]
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


def train(config: RunConfig) -> dict:
    """Train one model as `config` says and return its metrics (fractions in [0, 1]): those of the
    data's report split unprefixed, the other splits' as "split/metric".

    With `run.out_dir`, a run that was stopped continues from its last checkpoint and ends with
    the same metrics as one never stopped.
    """
    cfg, t0 = config, time.time()
    threads = torch.get_num_threads()
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    try:
        return _train(cfg, t0)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: RunConfig, t0: float) -> dict:
    device = pick_device(cfg.run.device)
    out = prepare_out_dir(cfg.run.out_dir)
    seed_everything(cfg.seed)
    data = datasets.build(cfg.data)
    if cfg.optim.batch_size > len(data.train):
        raise ValueError(f"optim.batch_size {cfg.optim.batch_size} is larger than the {len(data.train)} training "
                         f"images: lower optim.batch_size or use more training data")
    facts = {"num_classes": data.num_classes, "in_channels": data.in_channels, "num_train": len(data.train),
             "train_true_sets": data.train.true_sets is not None}
    method = methods.build(cfg, make_parts(cfg, device, **facts))
    progress = Progress()
    ckpt_dir = out / "checkpoints" if out else None
    last_good = checkpoint.last_path(ckpt_dir) if out else None
    if last_good:
        state = checkpoint.load(last_good)  # on the CPU: RNG states must stay there
        checkpoint.check_compatible(state, last_good, cfg.config_hash(), cfg.model.name)
        method.load_state_dict(state["method"], last_good)
        progress.load_state_dict(state["progress"], device)
        checkpoint.set_rng_state(state["rng"])

    steps, bar = cfg.optim.steps, _progress_bar(cfg, initial=progress.step)
    batches = data.train.batches(progress.step, cfg.optim.batch_size, cfg.seed, device, cfg.run.workers)
    for step, batch in zip(range(progress.step, steps), batches):
        lr = learning_rate(cfg.optim, step)
        loss = method.step(batch, step, lr)
        progress.window.append((step + 1, loss))
        progress.skipped += batch.skipped
        progress.step = step + 1
        if progress.step % cfg.run.log_every == 0 or progress.step == steps:
            progress.check_finite(cfg, last_good)
            mean_loss = torch.stack([loss for _, loss in progress.window]).mean().item()
            progress.log.append({"step": progress.step, "phase": method.phase(step), "loss": mean_loss, "lr": lr})
            progress.window = []
            bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
        if out and (progress.step % cfg.run.checkpoint_every == 0 or progress.step == steps):
            progress.check_finite(cfg, last_good)
            last_good = checkpoint.save(ckpt_dir, {
                "config": cfg.to_dict(), "config_hash": cfg.config_hash(), "step": progress.step, "data": facts,
                "method": method.state_dict(), "progress": progress.state_dict(), "rng": checkpoint.rng_state()})
        bar.update(1)
    bar.close()

    result = {**evaluate(method, data, device, cfg.run.workers), **method.summary()}
    if progress.skipped:
        result["skipped_images"] = progress.skipped
    if out:
        _write_run(out, cfg, method, progress, result, time.time() - t0)
    return result


def prepare_out_dir(out_dir) -> Path | None:
    """The run folder, created and proven writable before any training is spent."""
    if not out_dir:
        return None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(f"output folder {out} cannot be created or written ({err.strerror}): "
                      f"choose another out_dir, or fix the path or its permissions") from None
    return out


def _progress_bar(cfg: RunConfig, initial: int):
    from tqdm import tqdm  # the plain bar: tqdm.auto would need ipywidgets in notebooks

    return tqdm(total=cfg.optim.steps, initial=initial, disable=not cfg.run.progress,
                desc=f"{cfg.method.name} seed {cfg.seed}", mininterval=2.0, leave=False)


def _csv_bytes(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_run(out: Path, cfg: RunConfig, method, progress: Progress, result: dict, wall_time_s: float) -> None:
    """metrics.csv, cycles.csv, then result.json last: its presence marks the run complete."""
    atomic_write_bytes(out / "metrics.csv", _csv_bytes(progress.log))
    if method.log_rows():
        atomic_write_bytes(out / "cycles.csv", _csv_bytes(method.log_rows()))
    atomic_write_json(out / "result.json", {
        "config": cfg.to_dict(), "config_hash": cfg.config_hash(), "metrics": result,
        "run": {"wall_time_s": round(wall_time_s, 1), "resumed_from_steps": progress.resumed_from,
                "threads": torch.get_num_threads(), "device": str(pick_device(cfg.run.device))}})


def load_run(run_dir, device="cpu"):
    """A finished or stopped run's method (its networks as last saved) and its config."""
    folder = Path(run_dir) / "checkpoints"
    path = checkpoint.last_path(folder)
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {folder}: train the run first (its out_dir)")
    state = checkpoint.load(path)
    cfg = RunConfig.from_dict(state["config"])
    method = methods.build(cfg, make_parts(cfg, torch.device(device), **state["data"]))
    method.load_state_dict(state["method"], path)
    method.eval_net.eval()
    return method, cfg
