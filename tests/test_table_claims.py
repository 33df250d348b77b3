"""Notebooks 01-03: their control runs are the other notebooks' runs (same config hashes), and their
claims that span several runs are paired statistics per seed, checked on gaps computed by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from milelib import experiments
from milelib.evidence import claim, gap_claim, seed_gaps
from milelib.experiments import real_like

FRACTIONS, WEBVISION, SELF_SUPERVISED = map(experiments.get, ("imagenet_fractions", "webvision", "self_supervised"))
KEYS = ["claim", "paper", "metric", "a", "b", "seeds", "gap", "low", "high", "verdict", "paper gap", "paper gap inside",
        "reads", "p", "detectable", "seeds for paper gap", "gaps"]


def runs(values: dict[str, list[float]], key: str = "accuracy", **columns) -> pd.DataFrame:
    """Runs per label on seeds 0.., `key` given as fractions (points / 100)."""
    return pd.DataFrame([{"label": label, "seed": s, key: v / 100, **columns} for label, vs in values.items()
                         for s, v in enumerate(vs)])


def hashes(base, points: dict) -> dict[str, str]:
    return {label: base.override(point).config_hash() for label, point in points.items()}


def test_control_runs_are_shared_with_the_stand_in_notebooks():
    base = FRACTIONS.EXPERIMENT.config("smoke")
    shared = hashes(base, {k: v for k, v in real_like.baselines(base).items() if k in ("Oracle", "LL-R")})

    def controls(points):
        return {k: h for k, h in hashes(base, points).items() if k.startswith(("Oracle", "LL-R"))}

    assert controls(FRACTIONS.points("smoke", base)) == {f"{k}, 100%": h for k, h in shared.items()}  # at 100% only
    assert controls(WEBVISION.points("smoke", base)) == {f"{k}, noise 0%": h for k, h in shared.items()}  # clean only
    scratch = SELF_SUPERVISED.finetune_points("smoke", base, {SELF_SUPERVISED.SCRATCH: None})
    assert controls(scratch) == {f"{k}, scratch, 100%": h for k, h in shared.items()}


def test_under_paper_ll_r_per_model_and_none_on_webvision():
    base = FRACTIONS.EXPERIMENT.config("paper", data_root="/data")
    controls = [k for k in FRACTIONS.points("paper", base) if k.startswith(("Oracle", "LL-R"))]
    assert controls == ["LL-R, 100%, resnet50", "LL-R, 100%, resnet18"]
    assert WEBVISION.points("paper", WEBVISION.EXPERIMENT.config("paper", data_root="/data")) == WEBVISION.PAPER_RUNS
    found = {"MoCo-v2": "/m.pth", "SimCLR-v2 (sk0)": "/s.pth"}
    tuned = SELF_SUPERVISED.finetune_points("paper", SELF_SUPERVISED.EXPERIMENT.config("paper", data_root="/d"), found)
    assert [k for k in tuned if k.startswith("LL-R")] == ["LL-R, SimCLR-v2 (sk0), 100%"]


def test_a_gap_to_the_best_of_several_per_seed_by_hand():
    table = runs({"A": [50, 60, 70], "B": [48, 61, 65], "C": [49, 55, 69]})
    assert list(seed_gaps(table, "A", ["B", "C"], "accuracy")) == pytest.approx([1, -1, 1])
    row = gap_claim(seed_gaps(table, "A", ["B"], "accuracy"), "accuracy", "A", "B", "A beats B", paper_gap=3.0,
                    reads=("A", "B"))
    assert list(row) == KEYS and row == claim(table, "A", "B", "accuracy", "A beats B", paper_gap=3.0)


def test_01_every_claim_is_paired_and_the_small_fraction_gain_by_hand():
    methods = {"Softmax": 0, "ELR": 1, "Sigmoid": 2}
    values = {f"{m}, {f}": [40 + off + s for s in range(3)] for m, off in methods.items() for f in ("25%", "100%")}
    values |= {"MILe, 25%": [45, 46, 49], "MILe, 100%": [43, 44, 45]}  # gains over the best (Sigmoid): 3,3,5 and 1,1,1
    table = runs(values).assign(**{k: runs(values).accuracy for k in ("real_accuracy", "f1@0.5", "map", "f1@best")},
                                **{"coverage@0.5": 1.0})
    rows = FRACTIONS.claims(table)
    assert list(rows.columns) == KEYS and set(rows.verdict) <= {"holds", "contradicted", "inconclusive"}
    small = rows[rows.claim.str.startswith("MILe's ReaL-F1 gain")].iloc[0]
    assert (small.gap, small.seeds) == (pytest.approx(2 + 2 / 3, abs=0.01), 3) and pd.isna(small["paper gap"])  # no 25%
    best = rows[rows.claim == "MILe beats Softmax, ELR and Sigmoid on accuracy at 25% (small CNN)"].iloc[0]
    assert (best.gap, best.verdict) == (pytest.approx(11 / 3, abs=0.01), "holds")


def test_02_robustness_is_the_per_seed_difference_of_the_two_drops():
    table = runs({"MILe, noise 0%": [80, 82, 81], "MILe, noise 30%": [75, 78, 74],  # drops 5, 4, 7
                  "Sigmoid, noise 0%": [80, 81, 80], "Sigmoid, noise 30%": [70, 72, 71],  # drops 10, 9, 9
                  "Softmax, noise 0%": [79, 80, 80], "Softmax, noise 30%": [69, 70, 70]}, top5_accuracy=0.9)
    rows = WEBVISION.claims(table)
    robust = rows[rows.claim.str.startswith("MILe is more robust")].iloc[0]
    assert list(rows.columns) == KEYS and robust.gap == pytest.approx((5 + 5 + 2) / 3, abs=0.01)
    sigmoid = rows[rows.claim == "MILe beats Sigmoid on accuracy (noise 30%)"].iloc[0]
    assert sigmoid["paper gap"] == pytest.approx(75.2 - 72.1)  # Table 2, ResNet-50


def test_02_a_noise_level_that_does_not_hurt_makes_only_its_own_claims_untestable(monkeypatch):
    """30% noise leaves Softmax's top-1 as it was, 60% lowers it: the claims at 30% (the robustness
    one included, which reads the clean runs too) read untestable, those at 60% are decided."""
    from milelib.evidence import untestable_unless

    monkeypatch.setitem(WEBVISION.NOISE, "smoke", [0.0, 0.3, 0.6])
    by = {0: [80, 81, 80], 0.3: [80, 81, 80], 0.6: [70, 72, 71]}  # Softmax's top-1 per noise level
    values = {f"Softmax, {WEBVISION.noise_label(n)}": v for n, v in by.items()}
    values |= {f"{m}, {WEBVISION.noise_label(n)}": [x + d for x in v] for n, v in by.items()
               for m, d in (("Sigmoid", 1), ("MILe", 2))}
    table = runs(values, top5_accuracy=0.9)
    table["val/accuracy"] = table["accuracy"]  # the control reads validation top-1, never a test number
    table["accuracy"] = 0.5
    controls = WEBVISION.noise_controls(table, "smoke")
    assert set(controls.metric) == {"val/accuracy"}
    assert list(controls.verdict) == ["inconclusive", "holds"]  # drops 0, 0, 0 and 10, 9, 9
    table["accuracy"] = table["val/accuracy"]
    assert controls.scope[1] == "Softmax, noise 60%; Sigmoid, noise 60%; MILe, noise 60%"
    out = untestable_unless(controls, WEBVISION.claims(table))
    at = lambda level: out[out.claim.str.endswith(f"({level})")].verdict  # noqa: E731
    assert set(at("noise 30%")) == {"untestable here"} and "untestable here" not in set(at("noise 60%"))
    assert len(at("noise 30%")) == len(at("noise 60%")) == 5  # 2 rivals x top-1, top-5, and robustness


def test_03_the_gain_from_an_encoder_minus_the_gain_from_scratch_per_seed():
    values = {"Sigmoid, scratch, 100%": [60, 61, 62], "MILe, scratch, 100%": [61, 61, 63],  # gains 1, 0, 1
              "Sigmoid, SimCLR, 100%": [70, 70, 71], "MILe, SimCLR, 100%": [73, 72, 73]}  # gains 3, 2, 2
    values |= {label.replace("100%", "25%"): v for label, v in values.items()}
    table = runs(values).assign(**{k: runs(values).accuracy for k in ("f1@0.5", "map", "f1@best")}, stage="fine-tuning")
    rows = SELF_SUPERVISED.claims(table, "smoke")
    grows = rows[rows.claim.str.startswith("MILe's gain over Sigmoid is larger")]
    assert list(rows.columns) == KEYS and len(grows) == 4  # accuracy and ReaL-F1 at 25% and 100%
    assert list(grows.gap) == pytest.approx([5 / 3] * 4, abs=0.01) and set(grows.seeds) == {3}
