"""Fig. 3b: ReaL-F1, accuracy and mAP against the pseudo-label threshold rho, on the ReaL-like stand-in.

The paper: "lower threshold values result in higher ReaL-F1 score and better accuracy. In fact, the
ReaL-F1 score benefits from lower rho than the accuracy ... In the extreme, a high threshold
constrains the teacher to predict empty label vectors." MILe at the profile's k_t and k_s;
Sigmoid and Softmax frame it, and the control runs of `controls.points` (the oracle, LL-R) run
beside them.

Every claim is decided by a paired 95% interval over seeds; a claim about the curve is a statistic
of each seed's curve (notebook 04's `seed_values`): the mean over the lower half of the rhos minus
the mean over the upper half, the rho of the accuracy peak minus that of the ReaL-F1 peak, the
empty share at the highest rho minus at the lowest.
"""
from __future__ import annotations

import pandas as pd

from ..evidence import claim, gap_claim
from ..report import seed_stats
from .protocol import Experiment, grid, register
from .kt_ks_heatmap import seed_values
from .real_like import CONTROL_RUNS, PROFILES, baselines, best_on_val, positive_controls

RHOS = {"smoke": [0.1, 0.9], "quick": [0.05, 0.1, 0.25, 0.5, 0.75, 0.9], "paper": [0.05, 0.1, 0.25, 0.5, 0.75, 0.9]}
AXES = ("method.rho",)
KEYS = ["f1@0.5", "f1@0.25", "accuracy", "real_accuracy", "map", "f1@best", "coverage@0.5", "final_empty_share"]
PAPER = "Fig. 3b"


def points(profile: str, base) -> dict[str, dict]:
    return {**baselines(base), **grid({"method.rho": RHOS[profile]}, label=lambda s: f"MILe rho={s['method.rho']}")}




def curve(table: pd.DataFrame) -> pd.DataFrame:
    """Per rho and metric of KEYS: mean, standard deviation and seeds (percent, but for coverage)."""
    mile = table[table.label.str.startswith("MILe")]
    stats = seed_stats(mile, KEYS)
    return stats.assign(rho=stats.label.map(dict(zip(mile.label, mile["method.rho"]))))


def curve_claims(table: pd.DataFrame) -> list[dict]:
    """Fig. 3b's three statements, each a per-seed statistic of MILe's curve over rho."""
    at = {key: seed_values(table, key, AXES) for key in ("f1@0.5", "accuracy", "final_empty_share")}
    rhos = list(at["f1@0.5"].columns)
    low, high = rhos[:len(rhos) // 2], rhos[-(len(rhos) // 2):]
    rows = [gap_claim(at[key][low].mean(axis=1) - at[key][high].mean(axis=1), key, f"MILe, mean over rho in {low}",
                      f"MILe, mean over rho in {high}", f"lower rho gives higher {name}", f"holds ({PAPER})")
            for key, name in (("f1@0.5", "ReaL-F1"), ("accuracy", "accuracy"))]
    peaks = at["accuracy"].idxmax(axis=1) - at["f1@0.5"].idxmax(axis=1)
    rows.append(gap_claim(peaks, "rho at the peak", "rho of the accuracy peak", "rho of the ReaL-F1 peak",
                          "ReaL-F1 peaks at a lower rho than accuracy", f"holds ({PAPER})"))
    empty = at["final_empty_share"]
    rows.append(gap_claim(empty[rhos[-1]] - empty[rhos[0]], "final_empty_share", f"MILe rho={rhos[-1]}",
                          f"MILe rho={rhos[0]}", "a high rho makes empty pseudo-label sets", f"holds ({PAPER}: in the "
                          "extreme)"))
    return rows


def claims(table: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    best = best_on_val(table)
    rows = curve_claims(table)
    rows += [claim(table, best, "Sigmoid", k, f"{best} (best on val) > Sigmoid on {k}", f"not in {PAPER}")
             for k in ("f1@0.5", "f1@best", "map")]
    return pd.DataFrame(rows)


EXPERIMENT = register(Experiment(name="rho_sweep", notebook="05_rho_sweep", profiles=PROFILES, points=points, axes=AXES,
                                     control_runs=CONTROL_RUNS, controls=positive_controls, claims=claims), __name__)
