"""Claims decided by paired 95% intervals, then by Holm's correction within a family, checked on
values computed by hand."""
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
                          "paper's gap", "p", "detectable (80% power)", "seeds for the paper's gap"]
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
    assert lines[1].startswith("Untestable here, because a positive control that concerns them did not hold or could "
                               "not be checked (control: the oracle above Sigmoid)")
    assert len(lines) == 2  # the control named once, not on every row
    unread = pd.DataFrame([{"claim": "control: trained to their plateau", "verdict": "not measured"}])
    assert "(control: trained to their plateau (not measured))" in prose(untestable_unless(unread, _three_claims()))[1]
    shown = Verdicts(failed, banner="SMOKE PROFILE: wiring only")
    assert repr(shown).startswith("SMOKE PROFILE: wiring only\n3 claims")
    page = shown._repr_html_()
    assert page.index("SMOKE PROFILE") < page.index("<table") and 'overflow-x:auto' in page
    assert "controls" not in compact_headers(page)


def compact_headers(page: str) -> list[str]:
    return [h.split(">")[-1] for h in page.split("</th>")[:-1]]


# --- p-values, power, Holm, the paper-size verdict, `decide` ---------------------------------------

def test_paired_t_p_by_hand():
    """Gaps 2, 3, 1: t = 2 / (1 / sqrt 3) = sqrt 12 on 2 df, whose tail is closed-form:
    P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2, so p = 1 - sqrt(12) / sqrt(14) = 0.074180."""
    from milelib.evidence import t_test

    assert t_test([2.0, 3.0, 1.0]) == pytest.approx(1 - math.sqrt(12 / 14), abs=1e-9)
    assert math.isnan(t_test([2.0])) and t_test([1.0, 1.0]) == 0.0 and t_test([0.0, 0.0]) == 1.0


def test_p_from_a_recorded_interval_matches_the_per_seed_gaps():
    """A row's p derived from its rounded mean, interval and seeds (no per-seed gaps) agrees with the
    p of its gaps, which the row also carries."""
    from milelib.evidence import gap_claim, p_from_interval

    for gaps in ([2.0, 2.5, 1.5, 2.0, 2.0], [0.3, -0.2, 0.9, 0.1, 0.4], [-1.0, -3.0, 0.5]):
        row = gap_claim(pd.Series(gaps), "map", "A", "B", "")
        derived = p_from_interval(row["gap"], row["low"], row["high"], row["seeds"])
        assert derived == pytest.approx(row["p"], rel=0.05, abs=2e-4)
    assert math.isnan(p_from_interval(1.0, math.nan, math.nan, 1))


def test_detectable_effect_and_seeds_for_a_gap_by_the_noncentral_t():
    """sd 1, 5 seeds, two-sided 5%, 80% power: 1.681997 (statsmodels' TTestPower().solve_power(nobs=5,
    alpha=0.05, power=0.8), computed once by hand outside the project); 3 seeds: 3.264044. A gap of
    1 sd needs 9.94 seeds by the same solver, so 10: power at 9 is below 80%, at 10 above."""
    from milelib.evidence import detectable, power, seeds_needed

    assert detectable(1.0, 5) == pytest.approx(1.681997, abs=1e-5)
    assert detectable(1.0, 3) == pytest.approx(3.264044, abs=1e-5)
    assert detectable(2.0, 5) == pytest.approx(2 * 1.681997, abs=1e-5)  # it scales with sd
    assert power(1.681997, 1.0, 5) == pytest.approx(0.8, abs=1e-5)
    assert seeds_needed(1.0, 1.0) == 10 and seeds_needed(-1.0, 1.0) == 10
    assert power(1.0, 1.0, 9) < 0.8 <= power(1.0, 1.0, 10)
    assert seeds_needed(None, 1.0) is None and seeds_needed(0.0, 1.0) is None
    assert math.isnan(detectable(1.0, 1))


def test_gap_claim_carries_p_detectable_and_seeds_for_the_paper_gap():
    from milelib.evidence import detectable, gap_claim, seeds_needed, t_test

    gaps = pd.Series([0.3, -0.2, 0.9, 0.1, 0.4])
    row = gap_claim(gaps, "map", "A", "B", "A beats B", paper_gap=1.0)
    sd = gaps.std(ddof=1)
    assert row["p"] == pytest.approx(t_test(gaps), rel=1e-3)
    assert row["detectable"] == pytest.approx(detectable(sd, 5), abs=0.005)
    assert row["seeds for paper gap"] == seeds_needed(1.0, sd)
    assert gap_claim(gaps, "map", "A", "B", "")["seeds for paper gap"] is None


def test_holm_by_hand():
    """p = 0.01, 0.04, 0.03, 0.005: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03,
    0.06, 0.04; made non-decreasing: 0.02, 0.03, 0.06, 0.06. Back in order: 0.03, 0.06, 0.06, 0.02
    (statsmodels' multipletests(method='holm') gives the same). A NaN is out of the family."""
    from milelib.evidence import holm

    assert list(holm([0.01, 0.04, 0.03, 0.005])) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, math.nan, 0.02])
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert list(holm([0.5, 0.9])) == pytest.approx([1.0, 1.0])  # capped at 1


def test_paper_size_verdicts():
    from milelib.evidence import paper_size

    assert paper_size(1.0, 3.0, 2.0) == "consistent with the paper's gap"
    assert paper_size(-0.5, 1.0, 2.0) == "smaller than reported"  # zero inside, the paper's gap excluded
    assert paper_size(3.0, 4.0, 2.0) == "larger than reported"
    assert paper_size(1.0, 3.0, None) is None and paper_size(1.0, 3.0, math.nan) is None
    assert paper_size(1.0, 3.0, 2.0, testable=False) == "untestable here"
    assert paper_size(math.nan, math.nan, 2.0) == "no interval"


def _row(text, p, gap=1.0, verdict_="holds", seeds=5, **more):
    """A recorded claim row with the p given: its 95% interval is the one that p implies."""
    from scipy import stats

    se = abs(gap) / stats.t.ppf(1 - p / 2, seeds - 1)
    half = stats.t.ppf(0.975, seeds - 1) * se
    return {"claim": text, "seeds": seeds, "gap": gap, "low": gap - half, "high": gap + half, "verdict": verdict_,
            "p": p, **more}


def test_adjust_applies_holm_over_the_testable_claims_only():
    """The hand case above as a family of claims: only the claims at p 0.03 (adjusted) and 0.02 are
    decided. An untestable claim with p 0.001 and a one-seed claim are not in the family: the
    adjusted p-values stay those of four claims."""
    from milelib.evidence import adjust

    claims = pd.DataFrame([_row("a", 0.01), _row("b", 0.04, gap=-1.0, verdict_="contradicted"), _row("c", 0.03),
                           _row("d", 0.005, gap=-1.0, verdict_="contradicted"),
                           _row("e", 0.001, verdict_="untestable here"),
                           {"claim": "f", "seeds": 1, "gap": 3.0, "low": math.nan, "high": math.nan,
                            "verdict": "inconclusive", "p": math.nan}])
    out = adjust(claims)
    assert list(out["p adjusted"][:4]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(out["p adjusted"][4]) and math.isnan(out["p adjusted"][5])
    assert list(out.verdict) == ["holds", "inconclusive", "inconclusive", "contradicted", "untestable here",
                                 "inconclusive"]
    assert list(out["raw verdict"]) == ["holds", "contradicted", "holds", "contradicted", "untestable here",
                                        "inconclusive"]
    pd.testing.assert_series_equal(out.low, claims.low)  # the unadjusted interval stays


def test_a_row_without_p_gets_it_from_its_interval():
    from milelib.evidence import adjust

    with_p = pd.DataFrame([_row("a", 0.01), _row("b", 0.2)])
    without = with_p.drop(columns=["p"])
    assert list(adjust(without)["p adjusted"]) == pytest.approx(list(adjust(with_p)["p adjusted"]), rel=1e-6)


def test_the_adjusted_interval_excludes_zero_iff_holm_decides():
    """On 40 random families, and on the case where a claim's own Holm step would pass (p 0.027 <
    0.05 / 1) but an earlier step stopped Holm (0.026 x 2 > 0.05): its adjusted interval holds zero."""
    import numpy as np

    from milelib.evidence import adjust, gap_claim

    rng = np.random.default_rng(0)
    for _ in range(40):
        claims = pd.DataFrame([gap_claim(pd.Series(rng.normal(rng.normal(0, 1.5), 1, 5)), "map", "A", "B", str(i))
                               for i in range(6)])
        out = adjust(claims)
        excludes = (out["adjusted low"] > 0) | (out["adjusted high"] < 0)
        decided = out.verdict.isin(["holds", "contradicted"])
        assert (excludes == decided).all()
        assert ((out["adjusted low"] <= out.low + 0.02) & (out["adjusted high"] >= out.high - 0.02)).all()  # wider
    stopped = adjust(pd.DataFrame([_row("first", 0.026), _row("second", 0.027)]))
    assert list(stopped.verdict) == ["inconclusive", "inconclusive"]
    assert list(stopped["p adjusted"]) == pytest.approx([0.052, 0.052])
    assert (stopped["adjusted low"] < 0).all() and (stopped["adjusted high"] > 0).all()


def test_decide_keeps_controls_out_of_the_family():
    """A control with a tiny p does not enlarge the family: two claims at p 0.02 are each multiplied
    by 2 (0.04, decided), not by 3 (0.06). A failed control leaves no testable claim."""
    from milelib.evidence import decide

    claims = pd.DataFrame([_row("MILe beats A", 0.02), _row("MILe beats B", 0.02)])
    controls = pd.DataFrame([_row("control: the oracle above Sigmoid", 1e-6)])
    out = decide(controls, claims)
    assert list(out["p adjusted"]) == pytest.approx([0.04, 0.04]) and list(out.verdict) == ["holds", "holds"]
    failed = decide(pd.DataFrame([_row("control: LL-R above AN", 0.3, verdict_="inconclusive")]), claims)
    assert list(failed.verdict) == ["untestable here"] * 2 and failed["p adjusted"].isna().all()
    assert list(failed["raw verdict"]) == ["untestable here"] * 2


def test_decided_claims_in_prose_and_table():
    from milelib.evidence import Verdicts, compact, decide, prose

    out = decide(pd.DataFrame(), pd.DataFrame([_row("A beats B", 0.01, **{"paper gap": 5.0}),
                                               _row("A beats C", 0.04, **{"paper gap": 1.0}),
                                               _row("A beats D", 0.2)]))
    lines = prose(out)
    assert lines[0] == ("3 claims, decided by Holm's correction over the 3 testable ones at 5%: 1 holds, "
                        "2 inconclusive.")
    assert lines[1] == "By each claim's unadjusted 95% interval alone: 3 holds."  # the rows say holds as recorded
    assert lines[2] == ("Against the paper's own gap (2 claims give one), by the 95% interval: 1 consistent with the "
                        "paper's gap, 1 smaller than reported.")
    assert lines[3].startswith("Holds: A beats B (gap +1.00, 95% interval ") and "p 0.010, Holm 0.030" in lines[3]
    assert "holds unadjusted" in lines[4] and lines[4].startswith("Inconclusive: A beats C")
    view = compact(out)
    assert list(view) == ["claim", "seeds", "gap", "verdict", "95% interval", "p (Holm)", "paper's gap", "paper size"]
    assert view.verdict[1] == "inconclusive (unadjusted: holds)" and view["p (Holm)"][0] == "0.010, Holm 0.030"
    assert view["paper size"][0] == "smaller than reported" and view["paper's gap"][2] == ""
    assert "Holm's correction over the 3 testable ones" in repr(Verdicts(out))
