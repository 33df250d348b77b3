"""Notebooks 04-06: every claim a paired 95% interval over seeds, on tables whose per-seed
statistics are worked out by hand (points; t_{0.975, 2} = 4.302653 for three seeds)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from milelib import experiments
from milelib.evidence import VERDICTS

T_975_2 = 4.302653
SEEDS = (0, 1, 2)
SCHEMA = ["claim", "paper", "metric", "a", "b", "seeds", "gap", "low", "high", "verdict", "paper gap", "paper gap inside", "reads",
          "p", "detectable", "seeds for paper gap", "gaps"]


def run(label: str, seed: int, value: float, **extra) -> dict:
    """One run's row: every metric a claim reads at `value` (a fraction), the rest as given."""
    keys = ("f1@0.5", "f1@0.25", "val/f1@0.5", "f1@best", "map", "accuracy")
    return {"label": label, "seed": seed, **dict.fromkeys(keys, value), **extra}


def by_claim(rows: pd.DataFrame) -> dict:
    assert list(rows.columns) == SCHEMA and set(rows.verdict) <= set(VERDICTS)
    return rows.set_index("claim").to_dict("index")


def test_kt_ks_grid_claims_by_hand():
    # seed s adds s points to the small corner (2, 2) only: cells 90 + s, 86 (k_s=4), 88 (k_t=4), 84; Sigmoid 85
    cells = {(2, 2): 0.90, (2, 4): 0.86, (4, 2): 0.88, (4, 4): 0.84}
    rows = [run(f"MILe k_t={kt}, k_s={ks}", s, v + (s / 100 if (kt, ks) == (2, 2) else 0),
                **{"method.teacher_steps": float(kt), "method.student_steps": float(ks)})
            for (kt, ks), v in cells.items() for s in SEEDS]
    rows += [run("Sigmoid", s, 0.85) for s in SEEDS]
    found = by_claim(experiments.get("kt_ks_heatmap").claims(pd.DataFrame(rows)))
    small, ks, more, wide, *best = found.values()
    half = T_975_2 / math.sqrt(3)  # sd 1 point
    assert (small["gap"], small["low"], small["high"]) == pytest.approx((7, 7 - half, 7 + half), abs=0.01)  # 6 + s
    assert (ks["gap"], ks["low"]) == pytest.approx((4.5, 4.5 - half / 2), abs=0.01)  # (90+s+88)/2 - 85 = 4 + s/2
    assert (more["gap"], more["low"], more["high"]) == pytest.approx((2, 2, 2))  # the range over k_t is 2 + s/2
    assert (wide["gap"], wide["low"]) == pytest.approx((2, 2))  # the median of 5 + s, 1, 3, -1 above Sigmoid
    assert all(r["verdict"] == "holds" and r["seeds"] == 3 for r in (small, ks, more, wide))
    assert [r["a"] for r in best] == ["MILe k_t=2, k_s=2"] * 3  # chosen on val: the best cell
    assert best[0]["gap"] == pytest.approx(6)  # 91 - 85 on average


def test_k_t_mattering_more_contradicts_most_sensitive_to_k_s():
    # small k_t collapses (20, 15) while k_s moves F1 by 3 points: ranges 3 over k_s, 67 over k_t
    cells = {(2, 2): 0.20, (2, 4): 0.15, (4, 2): 0.85, (4, 4): 0.84}
    rows = [run(f"MILe k_t={kt}, k_s={ks}", s, v + s / 1000, **{"method.teacher_steps": kt, "method.student_steps": ks})
            for (kt, ks), v in cells.items() for s in SEEDS] + [run("Sigmoid", s, 0.85) for s in SEEDS]
    found = by_claim(experiments.get("kt_ks_heatmap").claims(pd.DataFrame(rows)))
    assert found["most sensitive to large k_s (ii): ReaL-F1 varies more over k_s than over k_t"]["gap"] == -64
    assert [r["verdict"] for r in list(found.values())[:4]] == ["contradicted", "holds", "contradicted", "contradicted"]


def test_rho_curve_claims_by_hand():
    # ReaL-F1 90 + s, 88, 86, 80; accuracy 80, 82, 81, 78 (peak at 0.25); empty 0, 0, 10, 60 percent
    rhos = {0.1: (0.90, 0.80, 0.0), 0.25: (0.88, 0.82, 0.0), 0.5: (0.86, 0.81, 0.1), 0.9: (0.80, 0.78, 0.6)}
    rows = [{**run(f"MILe rho={rho}", s, f1 + (s / 100 if rho == 0.1 else 0), **{"method.rho": rho}),
             "accuracy": acc, "final_empty_share": empty} for rho, (f1, acc, empty) in rhos.items() for s in SEEDS]
    rows += [{**run(label, s, 0.85), "final_empty_share": math.nan} for label in ("Sigmoid", "Softmax") for s in SEEDS]
    f1, acc, peak, empty, *best = by_claim(experiments.get("rho_sweep").claims(pd.DataFrame(rows))).values()
    assert (f1["gap"], f1["low"]) == pytest.approx((6.5, 6.5 - T_975_2 / 2 / math.sqrt(3)), abs=0.01)  # 6 + s/2
    assert (acc["gap"], acc["low"]) == pytest.approx((1.5, 1.5))   # (80 + 82) / 2 - (81 + 78) / 2
    assert (peak["gap"], peak["metric"]) == (pytest.approx(0.15), "rho at the peak")  # 0.25 - 0.1
    assert empty["gap"] == pytest.approx(60)
    assert all(r["verdict"] == "holds" for r in (f1, acc, peak, empty))
    assert best[0]["a"] == "MILe rho=0.1"


def test_rho_claims_contradicted_when_the_curve_rises():
    rows = [run(f"MILe rho={rho}", s, v + s / 1000, **{"method.rho": rho}, final_empty_share=0.2 - rho / 10)
            for rho, v in ((0.1, 0.80), (0.9, 0.88)) for s in SEEDS]
    rows += [run("Sigmoid", s, 0.85 + s / 500) for s in SEEDS]
    found = by_claim(experiments.get("rho_sweep").claims(pd.DataFrame(rows)))
    assert found["lower rho gives higher ReaL-F1"]["verdict"] == "contradicted"
    assert found["a high rho makes empty pseudo-label sets"]["verdict"] == "contradicted"


def test_table5_claims_are_paired_with_the_papers_gaps():
    mm = experiments.get("multi_mnist")
    rows = [run(label, s, v + s / 100) for label, v in (("Softmax", 0.30), ("Sigmoid", 0.30), ("MILe (released code)", 0.40))
            for s in SEEDS]
    rows[-1]["f1@0.25"] += 0.03  # seed 2 of MILe: gaps to Sigmoid on F1@0.25 are 10, 10, 13 points
    table = mm.with_predict_all(pd.DataFrame(rows), mm.EXPERIMENT.config("smoke"))  # a row without seed changes nothing
    found = mm.claims(table)
    assert len(found) == 5 and list(found.columns) == SCHEMA
    first = found.iloc[0]
    assert (first["a"], first["b"], first["metric"], first["gap"]) == ("MILe (released code)", "Sigmoid", "f1@0.25", 11)
    half = T_975_2  # the sd of 10, 10, 13 is sqrt(3): half-width t * sqrt(3) / sqrt(3)
    assert (first["low"], first["high"]) == pytest.approx((11 - half, 11 + half), abs=0.01)
    assert list(found["paper gap"][:3]) == [12.25, 5.65, 12.66] and found["paper gap"][3:].isna().all()
    assert first["paper gap inside"] is True and first["verdict"] == "holds"


def test_multi_mnist_trains_ll_r_and_reads_its_oracle_as_a_control(tmp_path):
    mm = experiments.get("multi_mnist")
    base = mm.EXPERIMENT.config("smoke")
    assert set(mm.EXPERIMENT.points_for("smoke", base)) == set(mm.METHODS) | {"LL-R"}
    rows = [run(label, s, v + s / 100) for label, v in (("Sigmoid", 0.6), (mm.ORACLE, 0.9), ("LL-R", 0.7)) for s in SEEDS]
    found = mm.positive_controls(pd.DataFrame(rows), base, "smoke", tmp_path)
    assert list(found.a) == [mm.ORACLE, "LL-R", f"{base.optim.steps} steps", "every run"]
    assert list(found.verdict) == ["holds", "holds", "not measured", "holds"]  # no convergence record under tmp_path
