"""Fig. 3a: ReaL-F1 over a grid of teacher steps k_t x student steps k_s, on the ReaL-like stand-in.

The paper: "good performance can be achieved with a wide range of k_t and k_s combinations. The
best performance is achieved with smaller values of k_t and k_s ... the model being most sensitive
to large values of k_s." Each cell is MILe at the profile's rho (0.25, the paper's default);
Sigmoid and Softmax frame it, and the control runs of `controls.points` (the oracle, LL-R) run
beside them. The best cell is chosen on validation grids, then its test numbers are shown beside
Sigmoid's.

Every claim is decided by a paired 95% interval over seeds. A claim about the whole grid is a
statistic of each seed's grid (`seed_values`), e.g. the mean ReaL-F1 of the small-k cells minus
that of the large-k cells, and the interval is taken over those per-seed statistics.
"""
from __future__ import annotations

import pandas as pd

from ..evidence import claim, gap_claim
from ..report import scale
from . import real_like
from .protocol import Experiment, grid, register
from .real_like import CONTROL_RUNS, PROFILES, baselines, best_on_val

# k_t and k_s values per profile, in steps: quick's span 1/6 of an epoch (156 steps) to half of the
# 3,200-step run, by factors of 4 (its chosen k_t=400, k_s=25 is a cell).
VALUES = {"smoke": [2, 4], "quick": [25, 100, 400, 1_600], "paper": [500, 1_000, 2_000, 4_000]}
AXES = ("method.teacher_steps", "method.student_steps")
HEADLINE = "f1@0.5"  # ReaL-F1; Table 1's label coverage of 1.00 for Softmax implies the 0.5 threshold
PAPER = "Fig. 3a"


def points(profile: str, base) -> dict[str, dict]:
    ks = VALUES[profile]
    label = lambda s: f"MILe k_t={s['method.teacher_steps']}, k_s={s['method.student_steps']}"  # noqa: E731
    return {**baselines(base), **grid({"method.teacher_steps": ks, "method.student_steps": ks}, label=label)}




def positive_controls(table: pd.DataFrame, base, profile: str, results_dir) -> pd.DataFrame:
    """The ReaL-like controls, "every run learned" read on the runs beside the grid: where MILe's
    pseudo-label sets collapse (small k_t) is what Fig. 3a maps, not a learning rate that failed."""
    beside = table[~table.label.str.startswith("MILe k_t=")]
    return real_like.positive_controls(table, base, profile, results_dir, learned=("every run beside the grid", beside))


def cells(table: pd.DataFrame, key: str = HEADLINE) -> pd.DataFrame:
    """Mean over seeds of `key` (percent) per k_t (rows) x k_s (columns)."""
    mile = table[table.label.str.startswith("MILe")].astype({axis: int for axis in AXES})
    return (100 * mile.groupby(list(AXES))[key].mean()).unstack().rename_axis(index="k_t", columns="k_s")


def collapse(table: pd.DataFrame) -> pd.DataFrame:
    """Percent of images whose last-cycle pseudo-label set was empty or held every class, per cell."""
    return cells(table.assign(final_collapse=table.final_empty_share + table.final_full_share), "final_collapse")


def seed_values(table: pd.DataFrame, key: str, axes, prefix: str = "MILe") -> pd.DataFrame:
    """Per seed (rows), `key` of every run whose label starts with `prefix`, by its setting of
    `axes` (columns, sorted), in points (but for coverage); only the seeds that have every setting.
    The per-seed grid that notebooks 04 and 05 compute their statistics on."""
    runs = table[table.label.str.startswith(prefix)]
    return scale(key) * runs.pivot_table(index="seed", columns=list(axes), values=key, aggfunc="first").dropna()


def _by(f1: pd.DataFrame, level: int) -> pd.DataFrame:
    """Per seed (rows), ReaL-F1 at each value of axis `level` (columns, sorted), averaged over the
    other axis."""
    return f1.T.groupby(level=level).mean().T


def _range(means: pd.DataFrame) -> pd.Series:
    return means.max(axis=1) - means.min(axis=1)


def grid_claims(table: pd.DataFrame) -> list[dict]:
    """Fig. 3a's three statements (the second in two rows), each a per-seed statistic of the grid of
    ReaL-F1 (points)."""
    f1 = seed_values(table, HEADLINE, AXES).rename(columns=int)
    kt, ks = (f1.columns.get_level_values(i) for i in (0, 1))
    values = sorted(set(ks))
    small, large = values[:len(values) // 2], values[-(len(values) // 2):]
    corner = lambda half: f1.loc[:, kt.isin(half) & ks.isin(half)].mean(axis=1)  # noqa: E731
    sigmoid = seed_values(table, HEADLINE, ["label"], "Sigmoid")["Sigmoid"]
    by_ks = _by(f1, 1)
    text = lambda half: f"MILe, k_t and k_s in {half}, mean of the cells"  # noqa: E731
    return [
        gap_claim(corner(small) - corner(large), HEADLINE, text(small), text(large), "best results at small k_t "
                  "and k_s: the small-k cells beat the large-k cells on ReaL-F1", f"holds ({PAPER})"),
        gap_claim(by_ks.iloc[:, 0] - by_ks.iloc[:, -1], HEADLINE, f"MILe, k_s={values[0]}, mean over k_t",
                  f"MILe, k_s={values[-1]}, mean over k_t", "most sensitive to large k_s (i): the largest k_s lowers "
                  "ReaL-F1", f"holds ({PAPER}: dark regions at large k_s)"),
        gap_claim(_range(by_ks) - _range(_by(f1, 0)), HEADLINE, "range over k_s of the means over k_t",
                  "range over k_t of the means over k_s", "most sensitive to large k_s (ii): ReaL-F1 varies more "
                  "over k_s than over k_t", f"holds ({PAPER})"),
        gap_claim(f1.sub(sigmoid, axis=0).median(axis=1), HEADLINE, "MILe, the median cell", "Sigmoid",
                  "good ReaL-F1 over a wide range of k_t, k_s: the median cell beats Sigmoid (at least half the "
                  "cells above it)", f"holds ({PAPER}: most cells good)"),
    ]


def claims(table: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    best = best_on_val(table, key=HEADLINE)
    rows = grid_claims(table)
    rows += [claim(table, best, "Sigmoid", k, f"{best} (best on val) > Sigmoid on {k}", f"not in {PAPER}")
             for k in (HEADLINE, "f1@best", "map")]
    return pd.DataFrame(rows)


EXPERIMENT = register(Experiment(name="kt_ks_heatmap", notebook="04_kt_ks_heatmap", profiles=PROFILES, points=points,
                                     axes=AXES, control_runs=CONTROL_RUNS, controls=positive_controls, claims=claims),
                      __name__)
