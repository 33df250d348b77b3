"""tools/verdicts.py --against: two records of one notebook (two machines) side by side."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("verdicts", Path(__file__).parents[1] / "tools" / "verdicts.py")
verdicts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verdicts)


def claim(text, gap, low, high, verdict, **more):
    return {"claim": text, "gap": gap, "low": low, "high": high, "verdict": verdict, **more}


def test_a_verdict_that_differs_between_machines_is_marked():
    here = {"controls": [claim("control: oracle above Sigmoid", 4.2, 3.8, 4.6, "holds")],
            "claims": [claim("MILe > Sigmoid on map", -0.32, -0.63, -0.02, "contradicted"),
                       claim("lower rho is better", 0.15, -0.27, 0.56, "inconclusive"),
                       claim("MILe beats BoostLU on mAP", -9.2, -10.3, -8.1, "contradicted", stand_in="Multi-MNIST")]}
    there = {"controls": [claim("control: oracle above Sigmoid", 4.3, 3.8, 4.7, "holds")],
             "claims": [claim("MILe > Sigmoid on map", 0.03, -0.33, 0.39, "inconclusive"),
                        claim("lower rho is better", 0.01, -0.47, 0.49, "inconclusive")]}
    lines = verdicts.compare(here, there).splitlines()[2:]
    assert lines[0].endswith("| +4.30 (+3.80 to +4.70) **holds** | yes |")
    assert lines[1] == ("| MILe > Sigmoid on map | -0.32 (-0.63 to -0.02) **contradicted** | +0.03 (-0.33 to +0.39) "
                        "**inconclusive** | **no** |")
    assert lines[2].endswith("| yes |")
    assert lines[3].startswith("| MILe beats BoostLU on mAP (Multi-MNIST) |") and "not recorded" in lines[3]


def test_untestable_claims_are_compared_by_their_intervals():
    here = {"claims": [claim("MILe > Sigmoid on f1", -0.88, -1.27, -0.49, "untestable here"),
                       claim("MILe > Sigmoid on map", 0.18, -0.10, 0.46, "untestable here")]}
    there = {"claims": [claim("MILe > Sigmoid on f1", -0.10, -0.50, 0.30, "untestable here"),
                        claim("MILe > Sigmoid on map", 0.20, -0.05, 0.45, "inconclusive")]}
    lines = verdicts.compare(here, there).splitlines()[2:]
    assert lines[0] == ("| MILe > Sigmoid on f1 | -0.88 (-1.27 to -0.49) **untestable here** (as measured: contradicted) | "
                        "-0.10 (-0.50 to +0.30) **untestable here** (as measured: inconclusive) | **no** |")
    assert lines[1].endswith("**inconclusive** | yes |")


def test_notebook_08s_older_answers_are_read_by_their_rival():
    old = {"MILe": "MILe", "versus": "LL-R (best SPML)", "gap": -6.1, "low": -7.1, "high": -5.2, "verdict": "contradicted",
           "stand-in": "Multi-MNIST"}
    assert verdicts.key(old) == ("MILe beats LL-R (best SPML) on mAP", "Multi-MNIST")


# --- re-deciding recorded claims, counts, pooling, bad input -------------------------------------------

import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from milelib import evidence  # noqa: E402

A = [0.900, 0.925, 0.915, 0.930, 0.910]  # A - B = 2, 2.5, 1.5, 2, 2 points: p < 0.001
B = [0.880, 0.900, 0.900, 0.910, 0.890]
C = [0.905, 0.915, 0.925, 0.920, 0.905]  # A - C = -0.5, 1, -1, 1, 0.5: inconclusive


def record(a=A, b=B, c=C, controls=(), shift=0.0) -> dict:
    """A notebook's record: runs A, B, C on seeds 0-4 (map), a plain claim A beats B with a paper
    gap, a plain one A beats C, and a statistic of several runs (A minus the best of B and C), whose
    per-seed gaps the tool cannot recompute."""
    runs = pd.DataFrame([{"label": m, "seed": s, "map": v + (shift if m == "A" else 0), "val/accuracy": 0.8,
                          "config_hash": m} for m, values in zip("ABC", (a, b, c)) for s, v in enumerate(values)])
    claims = [evidence.claim(runs, "A", "B", "map", "A beats B on mAP", "holds", paper_gap=5.0),
              evidence.claim(runs, "A", "C", "map", "A beats C on mAP", "holds", paper_gap=0.5),
              evidence.gap_claim(evidence.seed_gaps(runs, "A", ["B", "C"], "map"), "map", "A", "best of B, C",
                                 "A beats the best of B and C")]
    claims = [{k: v for k, v in c.items() if k not in ("p", "detectable", "seeds for paper gap")} for c in claims]
    claims = evidence.untestable_unless(pd.DataFrame(list(controls)), pd.DataFrame(claims))
    return {"seeds": list(range(5)), "records": runs.to_dict("records"), "controls": list(controls),
            "claims": json.loads(claims.to_json(orient="records"))}  # as json.dump wrote it: NaN as null


def write(folder, name, recorded) -> None:
    path = folder / name / "quick"
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps(recorded))


def test_family_takes_p_from_recomputed_gaps_or_from_the_interval():
    """A - B and A - C are plain paired gaps of the record's runs: p from the seeds, as the t test
    of the gaps gives it. The gap to the best of B and C is not: p from its recorded mean, interval
    and seeds, which for a t interval is the same p up to the record's rounding."""
    out = verdicts.family("01_x", record())
    assert list(out["p from"]) == ["seeds", "seeds", "interval"]
    assert out.p[0] == pytest.approx(evidence.t_test([2, 2.5, 1.5, 2, 2]), rel=1e-6)
    best = pd.Series([min(x, y) for x, y in zip([2, 2.5, 1.5, 2, 2], [-0.5, 1, -1, 1, 0.5])])
    assert out.p[2] == pytest.approx(evidence.t_test(best), rel=0.02)
    assert list(out["raw verdict"]) == ["holds", "inconclusive", "inconclusive"]
    assert list(out["paper size"])[:2] == ["smaller than reported", "consistent with the paper's gap"]
    assert out["p adjusted"][0] == pytest.approx(3 * out.p[0])  # the smallest of 3, times 3


def test_counts_on_a_temporary_results_folder(tmp_path, capsys):
    write(tmp_path, "01_x", record())
    failed = {"claim": "control: LL-R above AN (Sigmoid) on mAP", "verdict": "inconclusive", "gap": 0.1, "low": -0.2,
              "high": 0.4, "seeds": 5}
    write(tmp_path, "02_y", record(controls=[failed]))
    verdicts.main(["--counts"], results=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| 0") or
            line.startswith("| all")}
    assert rows["01_x"] == "| 01_x | 3 | 0 | 3 | 1 / 0 / 2 | 1 / 0 / 2 | 1 -> 1 | 1 / 1 / 0 (of 2) |"
    assert rows["02_y"] == "| 02_y | 3 | 3 | 0 | 0 / 0 / 0 | 0 / 0 / 0 | 0 -> 0 | 0 / 0 / 0 (of 2) |"
    assert rows["all"] == "| all | 6 | 3 | 3 | 1 / 0 / 2 | 1 / 0 / 2 | 1 -> 1 | 1 / 1 / 0 (of 4) |"


def test_the_full_print_shows_holm_first_and_the_rule(tmp_path, capsys):
    write(tmp_path, "01_x", record())
    verdicts.main([], results=tmp_path)
    out = capsys.readouterr().out
    assert "Claims, Holm over 3 testable ones:" in out
    assert "| A beats B on mAP | map | 5 | +2.00 | **holds** | +1.56 to +2.44 | same | <0.001 | <0.001 | +5.00 | " \
           "smaller than reported | 0.59 |" in out


def test_forest_files_on_a_temporary_results_folder(tmp_path, capsys):
    write(tmp_path, "01_x", record())
    write(tmp_path, "02_y", record(shift=0.01))
    verdicts.main(["--forest", "--counts"], results=tmp_path)
    assert {p.name for p in tmp_path.glob("claims*.png")} == {"claims.png", "claims_01.png", "claims_02.png"}
    assert "wrote" in capsys.readouterr().out


def test_two_machines_pooled_per_seed_and_by_intervals(tmp_path):
    """A - B here 2, 2.5, 1.5, 2, 2 and there 3, 3.5, 2.5, 3, 3 (A one point higher): each seed's gap
    averaged is 2.5, 3, 2, 2.5, 2.5, whose mean is 2.5 and whose interval is that of the first
    shifted by 0.5. The gap to the best of several is pooled by its two intervals: mean of the means,
    mean of the half-widths (at least as wide as the per-seed average's interval would be)."""
    here, there = record(), record(shift=0.01)
    out = verdicts.pooled("01_x", here, there)
    first = out.iloc[0]
    assert first.pooled == "per-seed gaps averaged over the machines"
    assert (first.gap, first.low, first.high) == pytest.approx(evidence.paired_interval([2.5, 3, 2, 2.5, 2.5]))
    third = out.iloc[2]
    assert third.pooled == "by the two intervals (conservative)"
    h, t = here["claims"][2], there["claims"][2]
    assert third.gap == pytest.approx((h["gap"] + t["gap"]) / 2)
    assert third.high - third.low == pytest.approx(((h["high"] - h["low"]) + (t["high"] - t["low"])) / 2)
    # per seed, A minus the best of B and C: -0.5, 1, -1, 1, 0.5 here, one point more there; averaged:
    truth = evidence.paired_interval([0.0, 1.5, -0.5, 1.5, 1.0])  # the machines agree to a shift: as wide
    assert third.low <= truth[1] + 0.01 and third.high >= truth[2] - 0.01
    assert list(out["p adjusted"].notna()) == [True] * 3  # Holm over the pooled family


def test_a_claim_on_one_machine_only_is_marked(tmp_path):
    here = record()
    there = {**record(), "claims": record()["claims"][:2]}
    out = verdicts.pooled("01_x", here, there)
    assert list(out.pooled) == ["per-seed gaps averaged over the machines"] * 2 + ["one machine"]
    other_configs = {**record(), "records": [{**r, "config_hash": "other"} for r in record()["records"]]}
    assert set(verdicts.pooled("01_x", here, other_configs).pooled) == {"one machine (the other ran other configs)"}


def test_a_recompute_hook_gives_the_per_seed_gaps():
    """The hook the experiments package may provide: claims with a `gaps` column (seed -> gap)."""
    def recompute(notebook, records):
        assert notebook == "01_x" and len(records) == 15
        return pd.DataFrame([{"claim": "A beats the best of B and C", "gaps": pd.Series([1.0, 2.0, 3.0, 2.0, 2.0])}])

    out = verdicts.family("01_x", record(), recompute)
    assert out["p from"][2] == "seeds" and out.p[2] == pytest.approx(evidence.t_test([1, 2, 3, 2, 2]))


@pytest.mark.parametrize("content, said", [('{"claims": [{"claim": "A beats', "not valid JSON"),
                                           ("[]", "holds a JSON list"),
                                           ('{"claims": 3}', "its 'claims' is not a list of objects")])
def test_a_bad_record_is_one_line_naming_the_file(tmp_path, content, said):
    (tmp_path / "06_multi_mnist" / "quick").mkdir(parents=True)
    path = tmp_path / "06_multi_mnist" / "quick" / "metrics.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as raised:
        verdicts.main(["06"], results=tmp_path)
    message = str(raised.value.code)
    assert "\n" not in message and str(path) in message and said in message and "expected a notebook's record" in message


def test_a_bad_record_given_with_against_is_one_line_not_a_traceback(tmp_path):
    """As a user runs it: the committed 06 record against a folder holding a truncated one."""
    path = tmp_path / "06_multi_mnist" / "quick" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"claims": [{"claim": "MILe')
    done = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "tools" / "verdicts.py"), "06", "--against",
                           str(tmp_path)], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"verdicts.py: {path}: not valid JSON (")
    assert lines[0].endswith("truncated?): expected a notebook's record: a JSON object with 'claims' (a list of claim "
                             "rows), and optionally 'controls' and 'records' (lists of rows)")


def test_regating_reproduces_the_committed_untestable_verdicts():
    """Re-deciding the committed records under the current rule leaves every recorded untestable
    claim untestable and no other (the rule is the one the notebooks applied)."""
    for path in sorted((Path(__file__).parents[1] / "results").glob("0*/quick/metrics.json")):
        recorded = json.loads(path.read_text())
        out = verdicts.regate(recorded, [{**c, "claim": verdicts.claim_of(c)} for c in recorded["claims"]])
        assert [c["verdict"] == "untestable here" for c in out] == \
            [c["verdict"] == "untestable here" for c in recorded["claims"]], path


def test_pooling_bounds_are_conservative_by_hand():
    """The pooled-by-intervals standard error is the mean of the two: never below the sd of the
    per-seed averages over sqrt(n), whatever the correlation between machines (Minkowski)."""
    import numpy as np

    rng = np.random.default_rng(1)
    for _ in range(50):
        x, y = rng.normal(0, 1, 5), rng.normal(0, 2, 5)
        assert np.std((x + y) / 2, ddof=1) <= (np.std(x, ddof=1) + np.std(y, ddof=1)) / 2 + 1e-12
    assert math.isfinite(verdicts.pool({"gap": 1.0, "low": 0.5, "high": 1.5, "seeds": 5, "p": 0.01},
                                       {"gap": 2.0, "low": 1.0, "high": 3.0, "seeds": 5, "p": 0.01})["p"])


def test_configs_compared_by_provenance_resolve_defaults_and_leave_paths_out():
    """01's case: a run's lr given on one machine and left to the base (the same 0.4) on the other is
    the same config; 0.2 against the base's 0.4 is not; a teacher's run folder is a path, not a setting."""
    base = {"optim": {"lr": 0.4}, "method": {"name": "sigmoid"}}
    here = {"base": base, "points": {"ELR, 10%": {"method": "elr", "optim.lr": 0.4}, "ELR, 1%": {"method": "elr",
                                                                                               "optim.lr": 0.2}}}
    there = {"base": base, "points": {"ELR, 10%": {"method": "elr"}, "ELR, 1%": {"method": "elr"}}}
    assert verdicts.same_configs(here, there, {"ELR, 10%"})
    assert not verdicts.same_configs(here, there, {"ELR, 1%"}) and not verdicts.same_configs(here, there, set())
    students = {"base": base, "points": {"seed 0": {"Self-distilled": {"method.teacher_run": "runs/seed0-abc"}}}}
    moved = {"base": base, "points": {"seed 0": {"Self-distilled": {"method.teacher_run": "runs/seed0-def"}}}}
    assert verdicts.same_configs(students, moved, set())
    assert not verdicts.same_configs(students, {"base": base, "points": {}}, set())  # a run the other lacks
    # the run part (devices, threads, a default such as run.sync_bn that changed) enters no hash: not compared
    later = {**base, "run": {"sync_bn": "auto", "threads": 2}}
    assert verdicts.same_configs({**there, "base": {**base, "run": {"sync_bn": False, "threads": 1}}},
                                 {**there, "base": later}, set())


def test_the_counts_in_docs_are_those_of_the_committed_records(capsys):
    """docs/evidence.md quotes the counts table; it is regenerated, never typed: rerun
    `python tools/verdicts.py --counts` and paste its table when the records change."""
    root = Path(__file__).parents[1]
    verdicts.main(["--counts"], results=root / "results")
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    doc = (root / "docs" / "evidence.md").read_text().splitlines()
    start = doc.index(printed[0])
    assert doc[start:start + len(printed)] == printed


def test_a_record_made_through_decide_is_re_decided_from_its_raw_verdicts():
    """A notebook that records `evidence.decide`'s rows keeps the Holm verdict in `verdict` and the
    interval's in `raw verdict`: re-deciding reads the raw one, and gives the same rows again."""
    first = verdicts.family("01_x", record())
    rows = json.loads(first.drop(columns=["gaps"]).to_json(orient="records"))
    rows[1]["verdict"] = "holds"  # as if Holm had read it otherwise: the tool must not take it as raw
    again = verdicts.family("01_x", {**record(), "claims": rows})
    assert list(again["raw verdict"]) == list(first["raw verdict"]) and list(again.verdict) == list(first.verdict)
    assert list(again["p adjusted"]) == pytest.approx(list(first["p adjusted"]))


def test_compact_columns_do_not_depend_on_the_rows_key_order():
    out = verdicts.family("01_x", record()).drop(columns=["gaps", "p from"])
    assert list(evidence.compact(out)) == list(evidence.compact(out[out.columns[::-1]]))
