"""What `milelib relabel` finds, on folders whose every image's full label set is known: how many
hidden labels it recovers and how precise the labels it adds are, out of sample (K-fold
cross-fitting) against in sample, MILe against Sigmoid, and the minutes it takes.

- digits: 3x3 grids of 2 or 3 real MNIST digits (the embedded ones), each filed under one of them
  (fixtures.digit_grid_folder); 1,000 images, 10 classes.
- photos: crops of four real photographs scikit-image ships (astronaut, coffee, cat, rocket),
  30 per class, 24 of the 120 split down the middle between two photos and filed under one.

`--select` first chooses relabel's defaults on validation data (each candidate's fold-0 run, scored
on its held-out slice of fold 0's training images, single labels only; no hidden label is looked at).

    python benchmarks/relabel.py [--select] [--store results/runs/relabel_benchmark]

Writes results/benchmarks/relabel.json (+ provenance), and each case's CSV and review under
results/benchmarks/relabel/. The minutes are those of a store without the runs (a rerun reads
them back in seconds).
"""
import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from milelib import fixtures, relabel as R, sweep
from milelib import metrics as M
from milelib.results import atomic_write_json, provenance, read_json

CANDIDATES = {**{f"small_cnn lr {lr}": {"model": "small_cnn", "optim.lr": lr} for lr in (0.02, 0.05, 0.1)},
              **{f"resnet18 lr {lr}" + (f" {steps} steps" if steps != 300 else ""):
                 {"model": "resnet18", "optim.lr": lr, "optim.steps": steps}
                 for lr in (0.02, 0.05, 0.1, 0.2) for steps in (300, 600)}}
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
SIDE = 96


def photo_folder(root: Path, per_class: int = 30, composites: int = 24, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Random crops (40-90% of the side, flipped, brightness jittered) of four real photographs; the
    first `composites` images (spread over the classes) join their left half to another photo's right."""
    import skimage.data

    rng, photos = np.random.default_rng(seed), [getattr(skimage.data, name)() for name in PHOTOS]

    def crop(c):
        h, w = photos[c].shape[:2]
        s = int(min(h, w) * rng.uniform(0.4, 0.9))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        img = Image.fromarray(photos[c][y:y + s, x:x + s]).resize((SIDE, SIDE))
        array = np.asarray(img, np.float32)[:, ::-1 if rng.random() < 0.5 else 1] * rng.uniform(0.8, 1.2)
        return np.clip(array, 0, 255).astype(np.uint8)

    truth, paths = [], []
    for i in range(per_class * len(PHOTOS)):
        c, image, true = i % len(PHOTOS), None, {i % len(PHOTOS)}
        image = crop(c)
        if i < composites:
            other = (c + 1 + rng.integers(len(PHOTOS) - 1)) % len(PHOTOS)
            image[:, SIDE // 2:] = crop(other)[:, SIDE // 2:]
            true.add(other)
        path = root / PHOTOS[c] / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        paths.append(str(path.relative_to(root)))
        truth.append([k in true for k in range(len(PHOTOS))])
    columns = [PHOTOS.index(name) for name in sorted(PHOTOS)]  # classes in the folder's (sorted) order
    return root, np.array(truth)[np.argsort(paths)][:, columns]


def scores(table: pd.DataFrame, truth: np.ndarray) -> dict:
    """Hidden labels (true, not given) recovered and the precision of the added labels (predicted,
    not given): at the method's own threshold (the CSV's sets: rho 0.25 for MILe, 0.5 for Sigmoid)
    and at 0.25 and 0.5 for both, so the methods also compare at one threshold; the share of given
    labels flagged as not predicted (every given label here is right: false alarms); mAP against
    the full sets, threshold-free."""
    classes = [c[2:-1] for c in table.columns if c.startswith("p(")]
    given = np.eye(len(classes), dtype=bool)[[classes.index(label) for label in table.label]]
    probs = table[[f"p({c})" for c in classes]].to_numpy()
    hidden = truth & ~given
    out = {"hidden_labels": int(hidden.sum()), "map": float(M.mean_average_precision(probs, truth)),
           "accuracy": float(M.top1_accuracy(probs, given.argmax(1))),
           "false_label_error_flags": float(table.given_not_predicted.mean())}
    sets = {"": np.array([[c in row.split(";") for c in classes] for row in table.predicted]),
            "@0.25": M.predicted_sets(probs, 0.25), "@0.5": M.predicted_sets(probs, 0.5)}
    for at, predicted in sets.items():
        added = predicted & ~given
        out |= {f"recovered{at}": float((added & hidden).sum() / hidden.sum()), f"added_labels{at}": int(added.sum()),
                f"added_precision{at}": float((added & truth).sum() / added.sum()) if added.any() else None}
    return out


def select(folder: Path, store: Path) -> list[dict]:
    """Each candidate's fold-0 run (the first of relabel's 5) on the digit folder, scored on the
    validation slice of its own training images against their given labels; relabel's defaults
    are the candidate with the best validation mAP (threshold-free, steadier than accuracy on 80
    images)."""
    base = R.relabel_config(folder, {"run.progress": False}).override({"data.folds": R.FOLDS, "data.fold": 0})
    table = sweep.run(CANDIDATES, base, [0], store / "select")
    return table[["label", "accuracy", "map", "train_wall_time_s"]].to_dict("records")


def folders(root: Path) -> dict[str, tuple[Path, np.ndarray]]:
    """The two generated folders, made once under `root` (with their truth beside them) and read
    back after: a folder made again has new file times, so new runs."""
    made = {}
    for name, make in (("digits", lambda: fixtures.digit_grid_folder(root / "digits", 1000)),
                       ("photos", lambda: photo_folder(root / "photos"))):
        truth = root / f"{name}.truth.npy"
        if not truth.exists():
            shutil.rmtree(root / name, ignore_errors=True)
            np.save(truth, make()[1])
        made[name] = root / name, np.load(truth)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", action="store_true", help="first score the candidate defaults on validation data")
    parser.add_argument("--store", default="results/runs/relabel_benchmark", help="the runs (read back on a rerun)")
    parser.add_argument("--folders", help="where the generated folders are made (default: STORE/folders)")
    parser.add_argument("--out", default="results/benchmarks")
    parser.add_argument("--rescore", action="store_true", help="only score the CSVs written before again (after a "
                                                                   "change to `scores`), keeping their minutes")
    args = parser.parse_args()
    started, store, out = time.time(), Path(args.store), Path(args.out)
    made = folders(Path(args.folders or store / "folders").resolve())
    if args.rescore:
        result = read_json(out / "relabel.json")
        for case in result["cases"]:
            table = pd.read_csv(out / "relabel" / _csv_name(case["folder"], case["method"], case["folds"]))
            case.update(scores(table, made[case["folder"]][1]))
        atomic_write_json(out / "relabel.json", result)
        return
    result = {"select": select(made["digits"][0], store) if args.select else None, "defaults": R.DEFAULTS,
              "folds": R.FOLDS, "cases": []}
    for name, (folder, truth) in made.items():
        for method in ("mile", "sigmoid"):
            for folds in (R.FOLDS, 1):
                csv = out / "relabel" / _csv_name(name, method, folds)
                t0 = time.time()
                table = R.relabel(folder, csv, _for(method), folds, store=store / name)
                result["cases"].append({"folder": name, "method": method, "folds": folds,
                                        "minutes": (time.time() - t0) / 60, **scores(table, truth)})
                print(result["cases"][-1], flush=True)
    atomic_write_json(out / "relabel.json", result)
    atomic_write_json(out / "relabel.provenance.json", provenance({}, time.time() - started))


def _csv_name(folder: str, method: str, folds: int) -> str:
    return f"{folder}_{method}_{'out' if folds > 1 else 'in'}_of_sample.csv"


def _for(method: str) -> dict:
    return {"run.progress": False} if method == "mile" else {"method": "sigmoid", "run.progress": False}


if __name__ == "__main__":
    main()
