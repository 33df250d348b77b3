"""Claims decided by paired 95% intervals, checked on gaps computed by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from milelib.evidence import claim, paired_interval, untestable_unless, verdict

T_975_2, T_975_4 = 4.302653, 2.776445  # Student's t quantiles, from a printed table


def table(a, b, key="map"):
    """Runs labelled A and B on seeds 0.. with `key` values given as fractions."""
    rows = [{"label": "A", "seed": s, key: v} for s, v in enumerate(a)]
    rows += [{"label": "B", "seed": s, key: v} for s, v in enumerate(b)]
    return pd.DataFrame(rows)


def test_three_seeds_by_hand():
    # gaps 2, 3, 1 points: mean 2, sd 1, half-width t * 1 / sqrt(3)
    mean, low, high = paired_interval([2.0, 3.0, 1.0])
    half = T_975_2 / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half), abs=1e-5)
    assert verdict(low, high) == "inconclusive"  # -0.48 .. 4.48


def test_five_seeds_by_hand_holds_and_the_paper_gap_is_placed():
    # gaps 2, 2.5, 1.5, 2, 2: mean 2, sd sqrt(0.125), half-width t * sd / sqrt(5) = 0.439
    a, b = [0.90, 0.925, 0.915, 0.93, 0.91], [0.88, 0.90, 0.90, 0.91, 0.89]
    row = claim(table(a, b), "A", "B", "map", "A beats B", paper_gap=2.3)
    half = T_975_4 * math.sqrt(0.125) / math.sqrt(5)
    assert row["seeds"] == 5 and row["gap"] == pytest.approx(2.0, abs=0.005)
    assert (row["low"], row["high"]) == pytest.approx((2 - half, 2 + half), abs=0.005)
    assert row["verdict"] == "holds" and row["paper gap inside"] is True
    assert claim(table(a, b), "A", "B", "map", "", paper_gap=5.0)["paper gap inside"] is False


def test_direction_and_contradiction():
    a, b = [0.80, 0.81, 0.79], [0.85, 0.86, 0.85]  # gaps -5, -5, -6
    assert claim(table(a, b), "A", "B", "map", "A beats B")["verdict"] == "contradicted"
    assert claim(table(a, b), "A", "B", "map", "A stays below B", higher=False)["verdict"] == "holds"


def test_pairs_only_seeds_both_have_and_one_seed_decides_nothing():
    t = table([0.9, 0.8], [0.7])  # seed 1 has no B: one pair
    row = claim(t, "A", "B", "map", "")
    assert row["seeds"] == 1 and row["gap"] == pytest.approx(20.0) and row["verdict"] == "inconclusive"
    assert math.isnan(row["low"]) and row["paper gap inside"] is None


def test_coverage_is_not_scaled_to_percent():
    t = table([1.2, 1.3, 1.25], [1.0, 1.0, 1.0], key="coverage@0.5")
    assert claim(t, "A", "B", "coverage@0.5", "")["gap"] == pytest.approx(0.25)


def test_a_failed_control_makes_every_claim_untestable():
    claims = pd.DataFrame([{"claim": "MILe > Sigmoid", "verdict": "contradicted"}])
    good = pd.DataFrame([{"claim": "oracle > Sigmoid", "verdict": "holds"}])
    bad = pd.DataFrame([{"claim": "oracle > Sigmoid", "verdict": "holds"},
                        {"claim": "LL-R > AN", "verdict": "inconclusive"}])
    assert list(untestable_unless(good, claims).verdict) == ["contradicted"]
    out = untestable_unless(bad, claims)
    assert list(out.verdict) == ["untestable here"] and out.controls[0] == "failed: LL-R > AN"


def test_unknown_label_is_named():
    with pytest.raises(ValueError, match="no runs labelled 'C' in the table: its labels are A, B"):
        claim(table([0.9], [0.8]), "C", "B", "map", "")
