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


def test_a_control_on_some_runs_makes_only_the_claims_reading_them_untestable():
    """'Every run learned' failed for C's runs: a claim comparing A and B stands; one reading C, or one
    that does not say what it reads (a statistic of many runs), is untestable; a control with no
    scope still concerns every claim."""
    from milelib.evidence import gap_claim
    from milelib.experiments.controls import trained

    runs = pd.DataFrame([{"label": m, "seed": s, "val/accuracy": 0.05 if m == "C" and s == 1 else 0.8}
                         for m in "ABC" for s in range(3)])
    learned = pd.DataFrame([trained(runs)])
    assert learned.scope[0] == "C" and learned.verdict[0] == "fails"
    t = table([0.90, 0.92, 0.91], [0.88, 0.895, 0.89])  # gaps 2, 2.5, 2 points
    claims = pd.DataFrame([claim(t, "A", "B", "map", "A beats B"),
                           {**claim(t, "A", "B", "map", "A beats C"), "reads": "A; C"},
                           gap_claim(pd.Series([1.0, 2.0, 3.0]), "map", "A - B", "C - B", "a difference of gaps")])
    out = untestable_unless(learned, claims)
    assert list(out.verdict) == ["holds", "untestable here", "untestable here"]
    assert out.controls[0] == "all that concern its runs hold"
    assert out.controls[1] == ("failed: control: every run learned (validation accuracy above twice chance) "
                               "(runs of C)")
    wide = pd.concat([learned, pd.DataFrame([{"claim": "LL-R > AN", "verdict": "inconclusive"}])], ignore_index=True)
    assert list(untestable_unless(wide, claims).verdict) == ["untestable here"] * 3


def test_unknown_label_is_named():
    with pytest.raises(ValueError, match="no runs labelled 'C' in the table: its labels are A, B"):
        claim(table([0.9], [0.8]), "C", "B", "map", "")


def _three_claims():
    a = [0.90, 0.925, 0.915, 0.93, 0.91]
    return pd.DataFrame([
        claim(table(a, [0.88, 0.90, 0.90, 0.91, 0.89]), "A", "B", "map", "A beats B on map", "holds (Table 1)", 2.3),
        claim(table(a, [0.92, 0.94, 0.93, 0.95, 0.93]), "A", "B", "map", "A beats C on map", "holds (Table 1)", 5.0),
        claim(table([0.9], [0.9]), "A", "B", "map", "A ties B on map")])


def test_compact_view_merges_the_interval_and_drops_the_keys():
    from milelib.evidence import compact

    view = compact(untestable_unless(pd.DataFrame(), _three_claims()))
    assert list(view) == ["claim", "in the paper", "seeds", "gap", "95% interval", "verdict",
                          "paper's gap"]
    first = view.iloc[0]  # gaps 2, 2.5, 1.5, 2, 2 points: half-width 0.439 (test above)
    assert (first["gap"], first["95% interval"]) == ("+2.00", "+1.56 to +2.44")
    assert first["paper's gap"] == "+2.30, inside ours"
    assert view.iloc[1]["paper's gap"] == "+5.00, outside ours"
    assert view.iloc[2]["paper's gap"] == "" and view.iloc[2]["95% interval"] == "n/a"  # none given; one seed


def test_prose_counts_the_verdicts_and_names_failed_controls_once():
    from milelib.evidence import Verdicts, prose

    lines = prose(untestable_unless(pd.DataFrame(), _three_claims()))
    assert lines[0] == "3 claims: 1 holds, 1 contradicted, 1 inconclusive."
    assert lines[1] == "Holds: A beats B on map (gap +2.00, 95% interval +1.56 to +2.44)."
    assert lines[2].startswith("Contradicted: A beats C on map (gap -1.80, ")
    controls = pd.DataFrame([{"claim": "control: the oracle above Sigmoid", "verdict": "inconclusive"}])
    failed = untestable_unless(controls, _three_claims())
    lines = prose(failed)
    assert lines[0] == "3 claims: 3 untestable here."
    assert lines[1].startswith("Untestable here, because a positive control that concerns them failed (control: the "
                               "oracle above Sigmoid)")
    assert len(lines) == 2  # the control named once, not on every row
    shown = Verdicts(failed, banner="SMOKE PROFILE: wiring only")
    assert repr(shown).startswith("SMOKE PROFILE: wiring only\n3 claims")
    page = shown._repr_html_()
    assert page.index("SMOKE PROFILE") < page.index("<table") and 'overflow-x:auto' in page
    assert "controls" not in compact_headers(page)


def compact_headers(page: str) -> list[str]:
    return [h.split(">")[-1] for h in page.split("</th>")[:-1]]
