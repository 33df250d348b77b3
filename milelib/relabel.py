"""`milelib relabel FOLDER`: MILe as a relabelling tool for a single-labelled image folder.

Trains MILe on `FOLDER/<class>/<images>` through the `image_folder` data module (which holds out
10% of each class and scores the run on it: accuracy in the run's result.json), or loads a run
already trained on it (`--run`), then writes, for every image of the folder, its given label, its predicted label set (the top class
and every class whose probability exceeds the threshold) and every class's probability to a CSV,
and prints which classes co-occur most in the predicted sets.
"""
from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics as M
from .config import RunConfig
from .data import LoaderData
from .data.images import ImageFiles, image_folder, transforms
from .evaluate import predict
from .results import atomic_write_bytes
from .sweep import run_dir
from .training import load_run, pick_device, train

# A folder of photos on a CPU in minutes: ResNet-18 at 64 px, MILe at the paper's rho. Override any
# with --set (e.g. model=resnet50 data.image_size=224 optim.steps=20000 on a GPU).
DEFAULTS = {"data": "image_folder", "model": "resnet18", "data.image_size": 64, "method": "mile",
            "method.rho": 0.25, "method.teacher_steps": 100, "method.student_steps": 25, "optim.steps": 600,
            "optim.batch_size": 32, "optim.lr": 0.05, "optim.warmup_steps": 30, "run.checkpoint_every": 200}


def relabel_config(folder, settings: dict | None = None) -> RunConfig:
    return RunConfig().override({**DEFAULTS, "data.root": str(folder)}).override(settings or {})


def relabel(folder, out_csv=None, settings: dict | None = None, run=None, results_dir="results",
            threshold: float | None = None, log=print) -> pd.DataFrame:
    """Train (or load `run`), predict every image of `folder`, write the CSV; return its table."""
    folder = Path(folder).expanduser()
    if run is not None and settings:
        raise ValueError(f"--set {', '.join(settings)} would be ignored: a run given with --run keeps the settings it "
                         f"was trained with; drop --run to train a new one")
    if run is None:
        cfg = relabel_config(folder, settings)
        out = run_dir(Path(results_dir) / "relabel" / folder.name, cfg)
        log(f"training MILe on {folder} into {out}", flush=True)
        metrics = train(cfg.override({"run.out_dir": str(out)}))
        log(f"held-out images: accuracy {metrics['accuracy']:.1%}, mAP on their single labels {metrics['map']:.1%}",
            flush=True)
        run = out
    images, learned = image_folder(folder), _classes(run)
    given = images.classes
    if given != learned:
        raise ValueError(f"{folder} has other class folders than the run {run} learned ({len(given)} vs "
                         f"{len(learned)} classes; first difference {sorted(set(given) ^ set(learned))[:1]}): "
                         f"relabel the folder the run was trained on")
    method, cfg = load_run(run)
    images.transform = transforms(False, cfg.data.image_size, crop=False)  # the run's evaluation transform
    device = pick_device(cfg.run.device)
    labels = np.array([label for _, label in images.samples])
    probs = predict(method.eval_net.to(device), LoaderData(images, labels), method.probabilities, device,
                    workers=cfg.run.workers)
    t = threshold if threshold is not None else getattr(cfg.method, "rho", 0.5)
    table = label_table(folder, images, probs, t)
    out_csv = Path(out_csv) if out_csv else Path(run) / "relabelled.csv"
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    atomic_write_bytes(out_csv, buffer.getvalue().encode())
    log(summary(table, t), flush=True)
    log(f"wrote {out_csv}: one row per image ({len(table)})", flush=True)
    return table


def label_table(folder: Path, images: ImageFiles, probs: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per image: path (under folder), label, predicted set (';'-joined), p(<class>) columns."""
    names = images.classes
    chosen = M.predicted_sets(probs, threshold)  # the top class and every class above the threshold
    rows = {"path": [str(Path(p).relative_to(folder)) for p, _ in images.samples],
            "label": [names[y] for _, y in images.samples],
            "predicted": [";".join(names[c] for c in np.flatnonzero(row)) for row in chosen],
            "labels_predicted": chosen.sum(axis=1)}
    return pd.DataFrame({**rows, **{f"p({name})": probs[:, c].round(4) for c, name in enumerate(names)}})


def summary(table: pd.DataFrame, threshold: float, top: int = 5) -> str:
    """Share of images given more than one label, and the class pairs predicted together most often."""
    pairs = Counter(itertools.chain.from_iterable(
        itertools.combinations(sorted(s.split(";")), 2) for s in table.predicted if ";" in s))
    lines = [f"{(table.labels_predicted > 1).mean():.1%} of {len(table)} images predicted with 2+ labels "
             f"(threshold {threshold}); mean {table.labels_predicted.mean():.2f} labels per image"]
    lines += [f"  {a} + {b}: {n} images" for (a, b), n in pairs.most_common(top)] or ["  no class pairs co-occur"]
    return "\n".join(lines)


def _classes(run) -> list[str]:
    path = Path(run) / "classes.txt"  # written by the image_folder data module beside the run
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --run takes a finished run trained on an image folder")
    return path.read_text().splitlines()

