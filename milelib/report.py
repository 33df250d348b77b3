"""Tables from run records: mean and spread over seeds, in percent, beside the paper's numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd

NOT_PERCENT = ("coverage", "best_threshold")  # labels per image, and a probability: shown as they are


def scale(key: str) -> float:
    return 1.0 if key.startswith(NOT_PERCENT) else 100.0


NAMES = {"accuracy": "top-1", "top5_accuracy": "top-5", "real_accuracy": "ReaL accuracy", "map": "mAP",
         "f1": "F1", "coverage": "labels per image", "final_empty_share": "empty sets (share)",
         "best_threshold": "best threshold"}


def heading(key: str) -> str:
    """A metric key as a column heading: "f1@0.25" -> "F1 @0.25", "imagenet/accuracy" -> "ImageNet top-1"."""
    if key.startswith("imagenet/"):
        return "ImageNet " + heading(key[len("imagenet/"):])
    name, at, threshold = key.partition("@")
    return NAMES.get(name, name) + (f" @{threshold}" if at else "")


def seed_stats(records: list[dict], keys) -> pd.DataFrame:
    """Per method and metric: mean, sample standard deviation and number of seeds (in percent,
    but for coverage and thresholds)."""
    df = pd.DataFrame(records)
    rows = []
    for label, group in df.groupby("label", sort=False):
        for key in keys:
            values = scale(key) * group[key].to_numpy(dtype=float)
            rows.append({"label": label, "metric": key, "mean": values.mean(),
                         "std": values.std(ddof=1) if len(values) > 1 else np.nan, "seeds": len(values)})
    return pd.DataFrame(rows)


def mean_std_table(records: list[dict], keys, digits: int = 1) -> pd.DataFrame:
    """Methods as rows, metrics as columns, cells 'mean ± std' over seeds (percent, but for
    coverage with two decimals and thresholds with three significant digits)."""
    stats = seed_stats(records, keys)

    def cell(r):
        fmt = ".3g" if r["metric"].startswith("best_threshold") else ".2f" if r["metric"].startswith("coverage") else f".{digits}f"
        return f"{r['mean']:{fmt}}" + ("" if np.isnan(r["std"]) else f" ± {r['std']:{fmt}}")

    cell = stats.apply(cell, axis=1)
    table = stats.assign(cell=cell).pivot(index="label", columns="metric", values="cell")
    table = table.loc[list(dict.fromkeys(stats["label"])), list(keys)]
    return table.rename(columns=heading).rename_axis(index="method", columns=None)


def beside_paper(records: list[dict], paper: dict[str, dict], rename: dict[str, str], keys) -> pd.DataFrame:
    """Paper, ours (mean over seeds) and ours minus paper, for the rows the paper has.

    `rename` maps our method labels to the paper's row names. Different data: read the
    difference as a sanity check of scale, not as a measurement error.
    """
    mean = seed_stats(records, keys).set_index(["label", "metric"])["mean"]
    rows = []
    for ours, theirs in rename.items():
        for key in keys:
            ours_mean = mean.get((ours, key), np.nan)
            paper_value = paper.get(theirs, {}).get(key, np.nan)
            rows.append({"method": theirs, "metric": heading(key), "paper": paper_value, "ours": round(ours_mean, 2),
                         "ours - paper": round(ours_mean - paper_value, 2)})
    return pd.DataFrame(rows).set_index(["method", "metric"])
