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


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The indices of a step's batch: a fresh seeded permutation per epoch, a pure function of
    (seed, step), so that the data order never depends on what ran before."""
    per_epoch = n // batch_size
    epoch, k = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)[k * batch_size:(k + 1) * batch_size]


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


def train(config: TrainConfig) -> dict:
    """Train one model as `config` says and return its test metrics (fractions in [0, 1])."""
    cfg, t0 = config, time.time()
    device = pick_device(cfg.device)
    seed_everything(cfg.seed)
    grids = grids_for(cfg)
    train_set, val_set, test_set = (GridTensors(grids[s], device) for s in ("train", "val", "test"))
    if cfg.batch_size > len(train_set):
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the {len(train_set)} training "
                         f"images: lower batch_size or raise train_grids")

    def new_net():
        return build_model(cfg.model, cfg.num_classes, in_channels=1).to(device, memory_format=torch.channels_last)

    net = new_net()  # the student, and the only network of every method but algorithm1's MILe
    opt = make_optimizer(net, cfg)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else contextlib.nullcontext())
    is_mile = cfg.method == "mile"
    schedule = MileSchedule(cfg.teacher_steps, cfg.student_steps)
    if is_mile and cfg.mile_variant == "algorithm1":
        teacher = new_net()
        teacher_opt = make_optimizer(teacher, cfg)
    else:
        teacher, teacher_opt = None, None

    log, cycles, counts = [], [], {"label_steps": 0, "imitation_steps": 0}
    stats, window = PseudoLabelStats(), []
    bar = _progress(cfg)
    for step in range(cfg.steps):
        idx = batch_indices(step, len(train_set), cfg.batch_size, cfg.seed).to(device)
        x, y, sets = train_set.inputs(idx), train_set.labels[idx], train_set.true_sets[idx]
        lr = learning_rate(cfg, step)
        phase = schedule.phase(step) if is_mile else "labels"
        if phase == "student":
            if cfg.mile_variant == "released" and schedule.starts_imitation(step):
                teacher = copy.deepcopy(net).eval()  # frozen copy after the k_t label steps
            targets = pseudo_labels(teacher.eval(), x, cfg.rho)
            stats.add(targets)
            _set_lr(opt, lr)
            loss = sgd_step(net, opt, x, lambda z: imitation_loss(z, targets), amp)
            counts["imitation_steps"] += 1
            if schedule.ends_imitation(step):
                cycles.append({"cycle": schedule.cycle(step), "step": step + 1, **stats.summary()})
                stats = PseudoLabelStats()
        else:
            learner, learner_opt = net, opt
            if teacher_opt is not None:  # algorithm1: the teacher takes the label steps
                if schedule.starts_cycle(step):
                    copy_weights(teacher, net)
                    teacher_opt.state.clear()
                learner, learner_opt = teacher, teacher_opt
            _set_lr(learner_opt, lr)
            loss = sgd_step(learner, learner_opt, x, lambda z: label_loss(cfg.method, z, y, sets), amp)
            counts["label_steps"] += 1
        window.append(loss)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            mean_loss = torch.stack(window).mean().item()
            log.append({"step": step + 1, "phase": phase, "loss": mean_loss, "lr": lr})
            window = []
            bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
        bar.update(1)
    bar.close()

    val_probs, test_probs = predict(net, val_set, cfg.method), predict(net, test_set, cfg.method)
    threshold, val_f1 = M.best_threshold(val_probs, grids["val"].true_sets)
    result = M.evaluate(test_probs, grids["test"].labels, grids["test"].true_sets, extra_threshold=threshold)
    result.update(val_f1_at_best=val_f1, **counts, wall_time_s=time.time() - t0)
    if cycles:
        result.update(final_empty_share=cycles[-1]["empty_share"], final_mean_set_size=cycles[-1]["mean_set_size"])
    if cfg.out_dir:
        _write_run(Path(cfg.out_dir), cfg, net, log, cycles, result)
    return result


def _set_lr(opt, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _progress(cfg: TrainConfig):
    from tqdm import tqdm  # the plain bar: tqdm.auto would need ipywidgets in notebooks

    return tqdm(total=cfg.steps, disable=not cfg.progress, desc=f"{cfg.method} seed {cfg.seed}",
                mininterval=2.0, leave=False)


def _csv_bytes(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_run(out: Path, cfg: TrainConfig, net, log, cycles, result) -> None:
    atomic_write_bytes(out / "metrics.csv", _csv_bytes(log))
    if cycles:
        atomic_write_bytes(out / "cycles.csv", _csv_bytes(cycles))
    buf = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "config_hash": cfg.config_hash(), "step": cfg.steps,
                "model": net.state_dict()}, buf)
    atomic_write_bytes(out / "checkpoint.pt", buf.getvalue())
    atomic_write_json(out / "result.json", {"config": cfg.to_dict(), "config_hash": cfg.config_hash(),
                                            "metrics": result})


def load_model(run_dir, device="cpu"):
    """The trained network of a finished run, and its config, from run_dir/checkpoint.pt."""
    ckpt = torch.load(Path(run_dir) / "checkpoint.pt", map_location=device, weights_only=True)
    cfg = TrainConfig(**ckpt["config"])
    net = build_model(cfg.model, cfg.num_classes, in_channels=1)
    net.load_state_dict(ckpt["model"])
    return net.to(device).eval(), cfg
