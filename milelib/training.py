"""`train(config) -> metrics`: one run of Softmax, Sigmoid, MILe or the oracle on Multi-MNIST.

Step-based: every method takes exactly `config.steps` optimizer steps on batches drawn in an
order fixed by the seed. It uses channels_last everywhere and, on a GPU, bf16 autocast; the teacher's
forward pass runs in inference mode. Writes metrics.csv (every `log_every` steps), cycles.csv
(MILe's pseudo-label statistics per cycle) and a final checkpoint into `config.out_dir`.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from . import metrics as M
from .config import TrainConfig
from .data import Grids, digit_splits, make_grids
from .mile import MileSchedule, PseudoLabelStats, imitation_loss, label_loss, probabilities, pseudo_labels
from .models import build_model, copy_weights
from .results import atomic_write_bytes, atomic_write_json

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@functools.lru_cache(maxsize=4)
def load_grids(digits: str, data_root, digit_size: int, sizes: tuple, filled_cells: int,
               center_prob: float, num_classes: int) -> dict[str, Grids]:
    """Train, val and test grids, each built from its own digits (no digit image in two splits).
    The data are fixed (seed 0) whatever the run's seed: seeds vary the training, not the test."""
    splits = digit_splits(digits, data_root, seed=0)
    found = len(np.unique(splits["train"].labels))
    if found != num_classes:
        raise ValueError(f"the {digits} digits have {found} classes but num_classes is {num_classes}: "
                         f"set num_classes to {found}")
    return {
        name: make_grids(splits[name].resized(digit_size), n, seed=i, filled_cells=filled_cells,
                         center_prob=center_prob, num_classes=num_classes)
        for i, (name, n) in enumerate(zip(("train", "val", "test"), sizes))
    }


def grids_for(cfg: TrainConfig) -> dict[str, Grids]:
    return load_grids(cfg.digits, cfg.data_root, cfg.digit_size,
                      (cfg.train_grids, cfg.val_grids, cfg.test_grids),
                      cfg.filled_cells, cfg.center_prob, cfg.num_classes)


class GridTensors:
    """One split on the device: uint8 images, normalised on the fly batch by batch."""

    def __init__(self, grids: Grids, device):
        self.images = torch.as_tensor(grids.images).unsqueeze(1).to(device)
        self.labels = torch.as_tensor(grids.labels).to(device)
        self.true_sets = torch.as_tensor(grids.true_sets).to(device)
        self.device = device

    def __len__(self):
        return len(self.labels)

    def inputs(self, idx):
        x = (self.images[idx].float() / 255 - MNIST_MEAN) / MNIST_STD
        return x.contiguous(memory_format=torch.channels_last)  # faster on CPUs too (2x measured)


@functools.lru_cache(maxsize=1)
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded permutation of one epoch, made once per epoch rather than once per step."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The indices of a step's batch: a fresh seeded permutation per epoch, a pure function of
    (seed, step), so that the data order never depends on what ran before."""
    epoch, k = divmod(step, n // batch_size)
    return epoch_order(n, seed, epoch)[k * batch_size:(k + 1) * batch_size]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to zero, on the global step (teacher and student steps
    alike), so MILe and the baselines see the same schedule."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(net, cfg: TrainConfig):
    return torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, nesterov=True)


def sgd_step(net, opt, x, loss_fn, amp) -> torch.Tensor:
    net.train()
    with amp:
        logits = net(x)
    loss = loss_fn(logits.float())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


@torch.inference_mode()
def predict(net, data: GridTensors, method: str, batch_size: int = 512) -> np.ndarray:
    """Per-class probabilities for every image of a split, in order; no image is dropped."""
    net.eval()
    out = []
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)), device=data.device)
        out.append(probabilities(method, net(data.inputs(idx)).float()).cpu())
    return torch.cat(out).numpy()


class Run:
    """Everything a run changes as it trains, so that a checkpoint can hold all of it: the
    networks and optimizers, MILe's teacher, the step (which fixes the data order, the phase and
    the learning rate), the logs and the losses not yet logged."""

    def __init__(self, cfg: TrainConfig, device):
        self.cfg, self.device = cfg, device
        self.net = self.new_net()  # the student; the only network of every method but algorithm1
        self.opt = make_optimizer(self.net, cfg)
        self.teacher, self.teacher_opt = None, None
        if cfg.method == "mile" and cfg.mile_variant == "algorithm1":
            self.teacher = self.new_net()
            self.teacher_opt = make_optimizer(self.teacher, cfg)
        self.step, self.resumed_from = 0, []
        self.log, self.cycles, self.window = [], [], []
        self.counts = {"label_steps": 0, "imitation_steps": 0}
        self.stats = PseudoLabelStats()

    def new_net(self):
        return build_model(self.cfg.model, self.cfg.num_classes, in_channels=1).to(
            self.device, memory_format=torch.channels_last)

    def state_dict(self) -> dict:
        teacher = self.teacher.state_dict() if self.teacher is not None else None
        return {"config": self.cfg.to_dict(), "config_hash": self.cfg.config_hash(), "step": self.step,
                "net": self.net.state_dict(), "opt": self.opt.state_dict(), "teacher": teacher,
                "teacher_opt": self.teacher_opt.state_dict() if self.teacher_opt is not None else None,
                "grad_scaler": None,  # bf16 autocast needs no gradient scaler
                "rng": checkpoint.rng_state(), "log": self.log, "cycles": self.cycles,
                "window": [(step, loss.cpu()) for step, loss in self.window], "counts": self.counts,
                "stats": {k: int(v) for k, v in vars(self.stats).items()}, "resumed_from": self.resumed_from}

    def load_state_dict(self, state: dict, path) -> None:
        checkpoint.load_weights(self.net, state["net"], path)
        self.opt.load_state_dict(state["opt"])
        if state["teacher"] is not None:  # algorithm1's teacher, or released's frozen copy mid-imitation
            if self.teacher is None:
                self.teacher = self.new_net()
            checkpoint.load_weights(self.teacher, state["teacher"], path)
        if state["teacher_opt"] is not None:
            self.teacher_opt.load_state_dict(state["teacher_opt"])
        checkpoint.set_rng_state(state["rng"])
        self.step, self.log, self.cycles, self.counts = state["step"], state["log"], state["cycles"], state["counts"]
        self.window = [(step, loss.to(self.device)) for step, loss in state["window"]]
        vars(self.stats).update(state["stats"])
        self.resumed_from = state["resumed_from"] + [self.step]

    def check_finite(self, last_good) -> None:
        """Stop on the first NaN or infinite loss, naming its step and the checkpoint kept."""
        if not self.window:
            return
        losses = torch.stack([loss for _, loss in self.window]).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step, loss = self.window[int(bad[0])][0], float(losses[int(bad[0])])
            kept = (f"the last good checkpoint {last_good} is kept" if last_good else
                    "no checkpoint was written yet" if self.cfg.out_dir else "this run keeps no checkpoints (no out_dir)")
            raise FloatingPointError(f"loss became {loss} at step {step} ({self.cfg.method}); run stopped and "
                                     f"{kept}: lower lr or check the data")


def train(config: TrainConfig) -> dict:
    """Train one model as `config` says and return its test metrics (fractions in [0, 1]).

    With an `out_dir`, a run that was stopped continues from its last checkpoint and ends with
    the same metrics as one never stopped.
    """
    cfg, t0 = config, time.time()
    device = pick_device(cfg.device)
    out = prepare_out_dir(cfg.out_dir)
    seed_everything(cfg.seed)
    grids = grids_for(cfg)
    train_set, val_set, test_set = (GridTensors(grids[s], device) for s in ("train", "val", "test"))
    if cfg.batch_size > len(train_set):
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the {len(train_set)} training "
                         f"images: lower batch_size or raise train_grids")
    run = Run(cfg, device)
    ckpt_dir = out / "checkpoints" if out else None
    last_good = checkpoint.last_path(ckpt_dir) if out else None
    if last_good:
        state = checkpoint.load(last_good)  # on the CPU: RNG states must stay there
        checkpoint.check_compatible(state, last_good, cfg.config_hash(), cfg.model)
        run.load_state_dict(state, last_good)

    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else contextlib.nullcontext())
    is_mile = cfg.method == "mile"
    schedule = MileSchedule(cfg.teacher_steps, cfg.student_steps)
    bar = _progress(cfg, initial=run.step)
    for step in range(run.step, cfg.steps):
        idx = batch_indices(step, len(train_set), cfg.batch_size, cfg.seed).to(device)
        x, y, sets = train_set.inputs(idx), train_set.labels[idx], train_set.true_sets[idx]
        lr = learning_rate(cfg, step)
        phase = schedule.phase(step) if is_mile else "labels"
        if phase == "student":
            if cfg.mile_variant == "released" and schedule.starts_imitation(step):
                run.teacher = copy.deepcopy(run.net).eval()  # frozen copy after the k_t label steps
            targets = pseudo_labels(run.teacher.eval(), x, cfg.rho)
            run.stats.add(targets)
            _set_lr(run.opt, lr)
            loss = sgd_step(run.net, run.opt, x, lambda z: imitation_loss(z, targets), amp)
            run.counts["imitation_steps"] += 1
            if schedule.ends_imitation(step):
                run.cycles.append({"cycle": schedule.cycle(step), "step": step + 1, **run.stats.summary()})
                run.stats = PseudoLabelStats()
                if cfg.mile_variant == "released":
                    run.teacher = None  # the next teacher is copied at the next imitation phase
        else:
            learner, learner_opt = run.net, run.opt
            if run.teacher_opt is not None:  # algorithm1: the teacher takes the label steps
                if schedule.starts_cycle(step):
                    copy_weights(run.teacher, run.net)
                    run.teacher_opt.state.clear()
                learner, learner_opt = run.teacher, run.teacher_opt
            _set_lr(learner_opt, lr)
            loss = sgd_step(learner, learner_opt, x, lambda z: label_loss(cfg.method, z, y, sets), amp)
            run.counts["label_steps"] += 1
        run.window.append((step + 1, loss))
        run.step = step + 1
        if run.step % cfg.log_every == 0 or run.step == cfg.steps:
            run.check_finite(last_good)
            mean_loss = torch.stack([loss for _, loss in run.window]).mean().item()
            run.log.append({"step": run.step, "phase": phase, "loss": mean_loss, "lr": lr})
            run.window = []
            bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
        if out and (run.step % cfg.checkpoint_every == 0 or run.step == cfg.steps):
            run.check_finite(last_good)
            last_good = checkpoint.save(ckpt_dir, run.state_dict())
        bar.update(1)
    bar.close()

    val_probs, test_probs = predict(run.net, val_set, cfg.method), predict(run.net, test_set, cfg.method)
    threshold, val_f1 = M.best_threshold(val_probs, grids["val"].true_sets)
    result = M.evaluate(test_probs, grids["test"].labels, grids["test"].true_sets, extra_threshold=threshold)
    result.update(val_f1_at_best=val_f1, **run.counts)
    if run.cycles:
        result.update(final_empty_share=run.cycles[-1]["empty_share"],
                      final_mean_set_size=run.cycles[-1]["mean_set_size"])
    if out:
        _write_run(out, cfg, run, result, time.time() - t0)
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


def _set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _progress(cfg: TrainConfig, initial: int):
    from tqdm import tqdm  # the plain bar: tqdm.auto would need ipywidgets in notebooks

    return tqdm(total=cfg.steps, initial=initial, disable=not cfg.progress,
                desc=f"{cfg.method} seed {cfg.seed}", mininterval=2.0, leave=False)


def _csv_bytes(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_run(out: Path, cfg: TrainConfig, run: Run, result: dict, wall_time_s: float) -> None:
    """metrics.csv, cycles.csv, then result.json last: its presence marks the run complete."""
    atomic_write_bytes(out / "metrics.csv", _csv_bytes(run.log))
    if run.cycles:
        atomic_write_bytes(out / "cycles.csv", _csv_bytes(run.cycles))
    atomic_write_json(out / "result.json", {
        "config": cfg.to_dict(), "config_hash": cfg.config_hash(), "metrics": result,
        "run": {"wall_time_s": round(wall_time_s, 1), "resumed_from_steps": run.resumed_from}})


def load_model(run_dir, device="cpu"):
    """The trained network of a run, and its config, from its last checkpoint."""
    folder = Path(run_dir) / "checkpoints"
    path = checkpoint.last_path(folder)
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {folder}: train the run first (its out_dir)")
    state = checkpoint.load(path)
    cfg = TrainConfig(**state["config"])
    net = build_model(cfg.model, cfg.num_classes, in_channels=1)
    checkpoint.load_weights(net, state["net"], path)
    return net.to(device).eval(), cfg
