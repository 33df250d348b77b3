"""`milelib relabel FOLDER`: what a single-labelled image folder's labels hide, found with MILe.

Every image is scored by a network that never trained on it (K-fold cross-fitting, as cleanlab's
confident learning does): a network that memorised an image's single label gives it back, so an
in-sample pass (`folds=1`, kept as an option) finds almost nothing. The K fold runs are one sweep
in a run store keyed by the folder's content and the settings: rerunning reads them back, a
changed folder trains anew. Written: a CSV (one row per image: its fold, the given label's
probability and rank, the predicted set, "given label not predicted", an ambiguity score,
cleanlab's label-issue flag and quality score, every class's probability) and a review beside it
(`review.write`); printed: a summary with the lists a person looks at first, and warnings when the
label sets collapse or the networks memorised their training images.
"""
from __future__ import annotations

import csv
import io
import itertools
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics as M
from . import review, sweep
from .config import RunConfig
from .data import LoaderData
from .data.images import ImageFiles, fingerprint, folds_of, image_folder, transforms
from .evaluate import predict
from .store import atomic_write_bytes
from .training import load_run, pick_device

FOLDS = 5  # cleanlab's default: each network trains on 80% of the images; 5 runs stay minutes on a CPU
# Chosen by validation mAP on a generated digit-grid folder (benchmarks/relabel.py --select): a
# ResNet-18 at 32 px, 600 steps at lr 0.1 (the small CNN stays at chance there); larger photos
# want data.image_size=64 or more, and a small folder a pretrained start (model.pretrained=FILE).
DEFAULTS = {"data": "image_folder", "model": "resnet18", "data.image_size": 32, "method": "mile",
            "method.rho": 0.25, "method.teacher_steps": 60, "method.student_steps": 15, "optim.steps": 600,
            "optim.batch_size": 32, "optim.lr": 0.1, "optim.warmup_steps": 30, "run.checkpoint_every": 200}
CSV_HEAD = "path,label,fold,"  # how a CSV this command wrote begins: the only kind --out may replace
MEMORISED = 0.25  # training accuracy this far above held-out accuracy: the networks fit what they saw, not the task


def default_store() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "milelib" / "relabel"


OWN = {"run.out_dir": "--store (each fold's run has its folder there)", "data.root": "the FOLDER argument",
       "data.content": "nothing: relabel reads the folder's content itself",
       "data.exclude": "nothing: relabel leaves out what it cannot read (data.bad_images=skip)",
       "data.folds": "--folds", "data.fold": "--folds (every fold is trained)"}  # settings relabel sets itself


def relabel_config(folder, settings: dict | None = None) -> RunConfig:
    taken = sorted(set(settings or {}) & set(OWN))
    if taken:
        raise ValueError(f"--set {taken[0]} cannot be honoured: relabel sets it itself; give {OWN[taken[0]]}")
    cfg = RunConfig().override({**DEFAULTS, "data.root": str(folder)}).override(settings or {})
    if cfg.data.name != "image_folder":
        raise ValueError(f"relabel reads a folder of images (data=image_folder), not data={cfg.data.name}: drop that setting")
    return cfg


@dataclass
class Scan:
    images: ImageFiles   # every image of the folder, sorted by path
    content: str         # data.images.fingerprint
    unreadable: list[str]  # paths under the folder left out (bad_images=skip)


def scan(folder: Path, bad_images: str) -> Scan:
    """Read every image once before any training: a bad one stops here in one line (or, with
    bad_images=skip, is listed and left out of every pass), as do layouts relabel cannot label."""
    images = image_folder(folder)
    if len(images.classes) < 2:
        raise ValueError(f"{folder} has one class folder ({images.classes[0]}): relabelling needs 2 or more classes")
    joined = [c for c in images.classes if ";" in c]
    if joined:
        raise ValueError(f"class folder {joined[0]!r} holds ';', which separates the classes of a predicted set in "
                         f"the CSV: rename the folder")
    check = ImageFiles(images.samples, images.classes, bad_images=bad_images)
    readable = [check[i] is not None for i in range(len(check))]
    unreadable = [str(Path(path).relative_to(folder)) for (path, _), ok in zip(images.samples, readable) if not ok]
    kept = [sample for sample, ok in zip(images.samples, readable) if ok]
    return Scan(ImageFiles(kept, images.classes), fingerprint(folder, images.samples), unreadable)


def relabel(folder, out=None, settings: dict | None = None, folds: int = FOLDS, threshold: float | None = None,
            store=None, jobs: int | None = None, log=print) -> pd.DataFrame:
    """Train the K fold runs (or read them back), score every image out of sample, write the CSV
    and the review; return the CSV's table."""
    if threshold is not None and not 0 <= threshold <= 1:  # NaN fails both
        raise ValueError(f"--threshold must lie in [0, 1] (a probability), got {threshold}")
    if folds < 1:
        raise ValueError(f"--folds must be >= 2 (cross-fitting), or 1 (in-sample: every image scored by a network "
                         f"that trained on it), got {folds}")
    if out is not None:
        check_out(Path(out).expanduser())
    folder = Path(folder).expanduser().resolve()
    cfg = relabel_config(folder, settings)
    if out is not None and Path(out).expanduser().resolve().is_relative_to(folder):
        raise ValueError(f"--out {out} lies inside the image folder {folder}: its review images would be read as "
                         f"images of a class on the next run; write it outside that folder")
    found = scan(folder, cfg.data.bad_images)
    labels = np.array([label for _, label in found.images.samples])
    fold = folds_of(labels, folds, found.images.classes) if folds > 1 else np.full(len(labels), -1)
    cfg = cfg.override({"data.content": found.content, "data.exclude": found.unreadable,
                        "data.folds": folds if folds > 1 else 0})
    runs = Path(store).expanduser() if store else default_store()
    out = Path(out).expanduser() if out else runs / folder.name / f"relabelled-{cfg.config_hash()}.csv"
    check_out(out)  # again: a default name may be taken too
    t = threshold if threshold is not None else getattr(cfg.method, "rho", 0.5)
    how = f"{folds}-fold cross-fitting" if folds > 1 else "in-sample (every image scored by a network trained on it)"
    log(f"{cfg.method.name} on {folder} ({len(labels)} images, {len(found.images.classes)} classes), {how}; "
        f"runs in {runs / folder.name}", flush=True)
    points = {f"fold {k}": {"data.fold": k} for k in range(folds)} if folds > 1 else {"in-sample": {}}
    table = sweep.run(points, cfg, [cfg.seed], runs / folder.name, jobs=jobs, log=log)
    probs, fits = score(table.run_dir, found.images, fold, cfg)
    rows = label_table(folder, found.images, probs, fold, t)
    held_out = float(M.top1_accuracy(probs, labels)) if folds > 1 else float(table.accuracy.iloc[0])
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
    atomic_write_bytes(out, buffer.getvalue().encode())
    written = review.write(out, rows, found.images, found.images.classes)
    log(summary(rows, t, cfg.method.name, held_out, fits, found.unreadable), flush=True)
    log(f"wrote {out}: one row per image ({len(rows)}); review: {', '.join(str(p) for p in written)}", flush=True)
    return rows


def score(run_dirs, images: ImageFiles, fold: np.ndarray, cfg: RunConfig) -> tuple[np.ndarray, list[float]]:
    """Each image's probabilities from the network of its fold (the one that did not train on it),
    and each network's accuracy on the images it did train on (memorisation shows there)."""
    labels = np.array([label for _, label in images.samples])
    scored = ImageFiles(images.samples, images.classes, transforms(False, cfg.data.image_size, crop=False),
                        decoder=cfg.data.decoder)
    device = pick_device(cfg.run.device)
    probs, fits, in_sample = None, [], (fold < 0).all()
    for k, run in enumerate(run_dirs):
        method, _ = load_run(run)
        mine = predict(method.eval_net.to(device), LoaderData(scored, labels), method.probabilities, device,
                       workers=cfg.run.loader_workers())
        probs = np.zeros_like(mine) if probs is None else probs
        held = np.ones(len(labels), bool) if in_sample else fold == k
        probs[held] = mine[held]
        trained = held if in_sample else ~held
        fits.append(float(M.top1_accuracy(mine[trained], labels[trained])))
    return probs, fits


def label_table(folder: Path, images: ImageFiles, probs: np.ndarray, fold: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per image: see the module's docstring. `ambiguity` is the second-highest class
    probability (how strongly a second class shows); cleanlab reads the rows renormalised to sum 1."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    names = images.classes
    given = np.array([label for _, label in images.samples])
    chosen = M.predicted_sets(probs, threshold)  # the top class and every class above the threshold
    p_given = probs[np.arange(len(given)), given]
    shares = np.clip(probs, 1e-6, None) / np.clip(probs, 1e-6, None).sum(axis=1, keepdims=True)
    rows = {"path": [str(Path(p).relative_to(folder)) for p, _ in images.samples],
            "label": [names[y] for y in given],
            "fold": np.where(fold >= 0, fold, pd.NA),
            "p_given": p_given.round(4),
            "given_rank": 1 + (probs > p_given[:, None]).sum(axis=1),
            "predicted": [";".join(names[c] for c in np.flatnonzero(row)) for row in chosen],
            "labels_predicted": chosen.sum(axis=1),
            "given_not_predicted": ~chosen[np.arange(len(given)), given],
            "ambiguity": np.sort(probs, axis=1)[:, -2].round(4),
            "cleanlab_issue": find_label_issues(given, shares, n_jobs=1),  # its default forks a pool from a process
            # holding torch threads, which can deadlock: one process is fast enough at any folder size relabel takes
            "cleanlab_quality": get_label_quality_scores(given, shares).round(4)}
    return pd.DataFrame({**rows, **{f"p({name})": probs[:, c].round(4) for c, name in enumerate(names)}})


def summary(table: pd.DataFrame, threshold: float, method: str, held_out: float, fits: list[float],
            unreadable: list[str], top: int = 5) -> str:
    """What a person reads first: how well the networks did, what they added, the lists, the warnings."""
    pairs = Counter(itertools.chain.from_iterable(
        itertools.combinations(sorted(s.split(";")), 2) for s in table.predicted if ";" in s))
    flagged, issues = table.given_not_predicted, table.cleanlab_issue
    lines = [f"{method}: held-out accuracy {held_out:.1%} on the given labels; the networks' accuracy on their own "
             f"training images {min(fits):.1%}-{max(fits):.1%}",
             f"{(table.labels_predicted > 1).mean():.1%} of {len(table)} images predicted with 2+ labels "
             f"(threshold {threshold}); mean {table.labels_predicted.mean():.2f} labels per image"]
    lines += [f"  {a} + {b}: {n} images" for (a, b), n in pairs.most_common(top)] or ["  no class pairs co-occur"]
    lines.append(f"given label not predicted (possible label errors): {flagged.sum()} images; cleanlab flags "
                 f"{issues.sum()}; both {(flagged & issues).sum()}, only {method} {(flagged & ~issues).sum()}, "
                 f"only cleanlab {(~flagged & issues).sum()}")
    for title, rows in (("most ambiguous", table.nlargest(top, "ambiguity")),
                        ("most likely mislabelled", table[flagged].nsmallest(top, "p_given"))):
        lines.append(f"{title}: " + ("; ".join(f"{r.path} ({r.label} -> {_short(r.predicted)})"
                                               for r in rows.itertuples()) or "none"))
    if unreadable:
        lines.append(f"left out {len(unreadable)} unreadable images (bad_images=skip): {', '.join(unreadable[:5])}"
                     + (" ..." if len(unreadable) > 5 else ""))
    lines += warnings(table, held_out, fits)
    return "\n".join(lines)


def _short(predicted: str, most: int = 4) -> str:
    chosen = predicted.split(";")
    return ";".join(chosen[:most]) + (f";+{len(chosen) - most} more" if len(chosen) > most else "")


def warnings(table: pd.DataFrame, held_out: float, fits: list[float]) -> list[str]:
    classes = table.filter(like="p(").shape[1]
    said = [] if held_out >= 1.5 / classes else [
        f"WARNING: held-out accuracy {held_out:.0%} is near chance (1/{classes}): the networks learned little, so the "
        f"sets mean little; train longer (optim.steps), use larger images (data.image_size) or a pretrained start "
        f"(model.pretrained=FILE)"]
    if (table.labels_predicted == 1).all():
        said.append("WARNING: no image got a second label (the label sets collapsed to the top class): lower "
                    "--threshold, or train longer (optim.steps) if held-out accuracy is low")
    if (table.labels_predicted == classes).mean() > 0.5:
        said.append("WARNING: most images got every class (the sets collapsed to all classes): raise --threshold")
    if min(fits) - held_out >= MEMORISED:
        said.append(f"WARNING: the networks memorised their training images ({min(fits):.0%} right on them, "
                    f"{held_out:.0%} held out)" + ("; in-sample scores give those labels back: use --folds 5"
                                                     if table.fold.isna().all() else
                                                     "; the scores are out of sample, but fewer optim.steps or a "
                                                     "pretrained start (model.pretrained=FILE) may generalise better"))
    return said


def check_out(path: Path) -> None:
    """--out may name a new file, or one this command wrote (with its review beside it); nothing else."""
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder: give a CSV file name, e.g. {path / 'relabelled.csv'}")
    if path.suffix.lower() != ".csv":
        raise ValueError(f"--out {path}: expected a file name ending in .csv")
    for each in (path, *review.paths(path)):
        if each.exists() and not (_wrote_csv(each) if each == path else review.wrote(each)):
            raise ValueError(f"{each} exists and was not written by milelib relabel: choose another --out, "
                             f"or move that file away")


def _wrote_csv(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(CSV_HEAD)) == CSV_HEAD.encode()
    except OSError:
        return False

