"""Fig. 5: soft distillation (softmax + KL), hard distillation (argmax + CE) and MILe (sigmoid +
threshold + BCE), each as one distillation round (one teacher phase, then one student phase: no
iterated learning), two iterations, and many (the profile's k_t and k_s), at the same total steps,
on the ReaL-like stand-in. All nine are settings of one teacher/student method.

The paper: "Hard labels outperform soft labels when training with many iterations"; and MILe with
iterated learning beats one distillation round.
"""
from __future__ import annotations

import pandas as pd

from ..report import seed_stats
from .protocol import Experiment, register
from ..evidence import claim
from .real_like import CONTROL_RUNS, PROFILES, baselines, positive_controls

TARGETS = {"Soft": "soft_distillation", "Hard": "hard_distillation", "MILe": "mile"}
SCHEDULES = {"one round": 1, "two iterations": 2, "many iterations": None}  # cycles; None: the profile's k_t, k_s


def points(profile: str, base) -> dict[str, dict]:
    out = baselines(base)
    for target, name in TARGETS.items():
        for schedule, cycles in SCHEDULES.items():
            k = base.optim.steps // (2 * cycles) if cycles else None
            out[f"{target}, {schedule}"] = {"method": name, "method.teacher_steps": k or base.method.teacher_steps,
                                            "method.student_steps": k or base.method.student_steps}
    return out




def bar_stats(table: pd.DataFrame, keys=("accuracy", "f1@0.5")) -> pd.DataFrame:
    """Mean and spread over seeds per target (group), schedule (hue) and metric, for the figure."""
    runs = table[table.label.str.contains(", ")]
    stats = seed_stats(runs, list(keys))
    parts = stats.label.str.split(", ", n=1)
    return stats.assign(group=parts.str[0], hue=parts.str[1])


def claims(table: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    rows = [claim(table, "Hard, many iterations", "Soft, many iterations", k,
                    f"hard labels beat soft labels with many iterations ({k})", "holds (Fig. 5)")
            for k in ("f1@0.5", "accuracy")]
    rows += [claim(table, "MILe, many iterations", "MILe, one round", k,
                     f"iterated learning beats one distillation round, MILe ({k})", "holds (Fig. 5)")
             for k in ("f1@0.5", "accuracy")]
    rows += [claim(table, "MILe, many iterations", "Sigmoid", k, f"MILe > Sigmoid on {k}", "not in Fig. 5")
             for k in ("f1@0.5", "f1@best", "map")]
    return pd.DataFrame(rows)


EXPERIMENT = register(Experiment(name="distillation", notebook="07_distillation", profiles=PROFILES, points=points,
                                     axes=("method.name", "method.teacher_steps"), control_runs=CONTROL_RUNS,
                                     controls=positive_controls, claims=claims), __name__)
