"""The ReaL-like stand-in for ImageNet, shared by notebooks 04, 05 and 07: its profiles, the
baselines every figure sets beside MILe, what its labels look like, and a claims helper.

The grids hold the centre digit plus 0 to 2 others (weights 0.8 / 0.15 / 0.05): 1.23 distinct
classes per image, as ImageNet ReaL (57,553 labels on 46,837 images). The single label is the
centre digit with probability 0.6, else one of the others. A perfect single-label classifier scores
a ReaL-F1 of about 93 here: F1 above that comes only from recovering the hidden labels.

All three notebooks build on the same base config, so a run one needs (Sigmoid, or MILe at the
default k_t, k_s, rho) is trained once and read back by the others from the run store.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import data as datasets, metrics as M
from ..data.grids import REAL_LIKE
from . import controls
from .protocol import Profile

# MILe's schedule when not swept, for `quick`: k_t=400, k_s=25, rho=0.25, the best of a 3 x 2 x 2 grid
# (k_t 100/200/400, k_s 25/100, rho 0.25/0.5) by mean VALIDATION mAP over seeds 100-102 at the
# profile's length (results/convergence/real_like/quick/mile.csv); test numbers were not looked at.
MILE = {"method": "mile", "method.rho": 0.25}

PROFILES = {
    "smoke": Profile(
        {**REAL_LIKE, **MILE, "data.digit_size": 7, "data.train": 256, "data.val": 64, "data.test": 128,
         "model.width": 8, "optim.steps": 16, "optim.batch_size": 32, "optim.warmup_steps": 2, "optim.bce": "mean",
         "method.teacher_steps": 4, "method.student_steps": 2, "run.threads": 1, "run.log_every": 4,
         "run.checkpoint_every": 8},
        seeds=(0,),
        note="wiring only: 16 steps on 256 ReaL-like grids of 7x7 digits, one seed",
    ),
    # Length, loss and lr by `python -m milelib.convergence real_like` (results/convergence/real_like/
    # quick/): BCE averaged at lr 0.4, of averaged {0.2, 0.4, 0.8} and summed {0.02, 0.04, 0.08} at 6,400
    # steps, the pair whose worse method of Sigmoid and Softmax is best (at 0.8 Softmax stays at chance);
    # 3,200 steps, the shortest length whose doubling adds at most 0.5 points of validation mAP to
    # Sigmoid (+0.07) and MILe (+0.00), seeds 100-102. Doubling again, to 12,800, adds 0.8-1.0 more:
    # the curve has a shoulder, not a flat plateau (see lengths.png).
    "quick": Profile(
        {**REAL_LIKE, **MILE, "data.digit_size": 7, "data.train": 10_000, "data.val": 1_000, "data.test": 2_000,
         "model.width": 8, "optim.steps": 3_200, "optim.batch_size": 64, "optim.warmup_steps": 50,
         "optim.lr": 0.4, "optim.bce": "mean", "method.teacher_steps": 400, "method.student_steps": 25,
         "run.threads": 1, "run.checkpoint_every": 1_600},
        seeds=(0, 1, 2, 3, 4),
        control_seeds=tuple(range(10)),  # LL-R above AN: +0.6 mAP, interval -0.1 to +1.3 over 5 seeds
        note="ReaL-like grids (1.23 labels per image) of the embedded 5,000 MNIST digits downsampled to 7x7, "
             "so 21x21 images; 10k/1k/2k train/val/test grids from disjoint digits; small CNN of width 8; "
             "3,200 steps of batch 64 (20 epochs: doubling them adds at most 0.5 points of validation mAP), "
             "lr 0.4, BCE averaged over classes; MILe k_t=400, k_s=25, rho=0.25 unless swept (chosen on "
             "validation); 5 seeds",
    ),
    "paper": Profile(
        {**REAL_LIKE, **MILE, "data.digits": "mnist", "data.digit_size": 28, "model": "resnet18",
         "data.train": 60_000, "data.val": 5_000, "data.test": 10_000, "optim.steps": 16_000,
         "optim.bce": "sum", "optim.lr": 0.02,  # summed over 10 classes: 10x averaged BCE's gradient, so the
                                                # quick protocol's best summed lr (not run on a GPU here)
         "optim.batch_size": 256, "optim.warmup_steps": 500, "method.teacher_steps": 2_000,
         "method.student_steps": 500, "run.checkpoint_every": 2_000},
        seeds=(0, 1, 2),
        data_root=True,
        note="ReaL-like grids of the full MNIST (torchvision's files, DATA_ROOT), 84x84, ResNet-18, 16k "
             "steps of batch 256; BCE summed over classes, bias at -log(C), as the authors ran it; a GPU. "
             "A stand-in still: ImageNet itself comes with notebook 01's loaders",
    ),
}

BASELINES = {"Softmax": {"method": "softmax"}, "Sigmoid": {"method": "sigmoid"}}
CONTROL_RUNS = (controls.SIGMOID, controls.ORACLE, controls.LL_R)  # the runs the controls read
STAND_IN = "real_like"  # its training length and loss were chosen by `python -m milelib.convergence real_like`


def baselines(base) -> dict[str, dict]:
    """Softmax and Sigmoid, and the control runs (oracle, LL-R) every notebook shows first."""
    return {**BASELINES, **controls.points(base, STAND_IN)}


def positive_controls(table, base, profile: str, results_dir, learned=None) -> pd.DataFrame:
    """The controls of `controls.controls` on this stand-in's table (`learned`: see there)."""
    return controls.controls(table, base, STAND_IN, profile, results_dir, learned=learned)


KEYS = ["f1@0.5", "f1@0.25", "f1@best", "accuracy", "real_accuracy", "map", "precision@0.5", "recall@0.5",
        "coverage@0.5"]  # a table's columns; F1@0.5 is the headline ReaL-F1


def describe(cfg) -> pd.DataFrame:
    """The test grids' measured labels per image, and the F1 of two label-free predictions: every
    class in every set, and exactly the single given label (a perfect single-label classifier)."""
    test = datasets.build(cfg.data).splits["test"]
    sizes = test.true_sets.sum(axis=1)
    single = np.eye(test.true_sets.shape[1], dtype=bool)[test.labels]
    rows = [("distinct labels per image", sizes.mean()), ("share of images with 2 or more labels", (sizes > 1).mean()),
            ("ReaL-F1 of predicting every class", M.set_scores(np.ones_like(test.true_sets), test.true_sets)["f1"]),
            ("ReaL-F1 of predicting only the single label", M.set_scores(single, test.true_sets)["f1"])]
    return pd.DataFrame(rows, columns=["test grids", "value"]).set_index("test grids").round(3)


def best_on_val(table, prefix: str = "MILe", key: str = "f1@0.5") -> str:
    """The label (among those starting with `prefix`) with the best mean validation `key`: settings
    are chosen on validation grids, never on the test numbers they are then reported with."""
    runs = table[table.label.str.startswith(prefix)]
    return runs.groupby("label", sort=False)[f"val/{key}"].mean().idxmax()
