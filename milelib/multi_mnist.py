"""Table 5 (Multi-MNIST, section 4.3): the methods compared, the paper's numbers, the two rows that
frame them (predict every class; an oracle trained on the true sets), and the claims checked."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import metrics as M
from .config import TrainConfig
from .report import seed_stats
from .training import GridTensors, grids_for, load_model, predict

METHODS = {
    "Softmax": dict(method="softmax"),
    "Sigmoid": dict(method="sigmoid"),
    "MILe (released code)": dict(method="mile", mile_variant="released"),
    "MILe (Algorithm 1)": dict(method="mile", mile_variant="algorithm1"),
    "Oracle (BCE on true sets)": dict(method="oracle"),
}
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


def predict_every_class(cfg: TrainConfig) -> dict:
    """The metrics of a 'model' that puts every class in every predicted set."""
    test = grids_for(cfg)["test"]
    return M.evaluate(np.ones(test.true_sets.shape), test.labels, test.true_sets, extra_threshold=0.5)


def claims(records: list[dict], mile: str = "MILe (released code)", baseline: str = "Sigmoid") -> pd.DataFrame:
    """The paper's Table 5 claims, and the issue's bars, checked on our runs (gaps in points)."""
    stats = seed_stats(records, ["f1@0.25", "f1@0.5", "f1@best", "map"]).set_index(["method", "metric"])

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


def example_predictions(runs: dict[str, Path], cfg: TrainConfig, n: int = 4, threshold: float = 0.25):
    """The first n test grids, and each run's predicted set (argmax + p > threshold) for them."""
    first = grids_for(cfg)["test"].subset(slice(0, n))
    data = GridTensors(first, torch.device("cpu"))
    sets = {}
    for label, run_dir in runs.items():
        net, run_cfg = load_model(run_dir)
        sets[label] = M.predicted_sets(predict(net, data, run_cfg.method), threshold)
    return first, sets
