"""Prints, as Markdown, each notebook's positive controls and claims from its recorded
results/<notebook>/<profile>/metrics.json, re-decided under the evidence rule of docs/evidence.md
(Holm's correction within each notebook's family of testable claims, the paper-size verdict, the
gap the seeds detect at 80% power), and the counts of verdicts per notebook and for the paper: the
tables and numbers the README quotes, regenerated rather than typed.

    python tools/verdicts.py                 # every notebook recorded under quick
    python tools/verdicts.py 06 07 --profile quick
    python tools/verdicts.py --counts        # only the counts: raw, Holm-adjusted, paper-size
    python tools/verdicts.py --forest        # results/claims.png and results/claims_NN.png
    python tools/verdicts.py 05 --against results/machines/amd_epyc   # the same runs on another machine

A claim's p-value comes from its per-seed gaps where they can be recomputed from the record's runs
(`records`): a plain paired gap a - b on `metric`, checked against the recorded mean and seeds; a
claim that is a statistic of several runs (a gap to the best of several, a difference of two gaps)
gets p from its recorded mean, 95% interval and seeds (`evidence.p_from_interval`, exact for a t
interval up to the record's rounding). `milelib.experiments.recompute(notebook, records)`, where it
exists, recomputes a notebook's claims with their per-seed gaps (a `gaps` column, seed -> gap) and
is used first.

With --against, each notebook's verdicts are set beside those recorded in another results folder
(the batch run on a second machine), and the two are pooled: each seed's gap averaged over the
machines that ran it where both records give per-seed gaps; else by the two intervals (docs/
evidence.md says how); then Holm's correction within the notebook. A claim recorded on one machine
only, or whose runs ran another config there, is marked "one machine".
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from milelib import evidence
from milelib.evidence import verdict

RESULTS = Path(__file__).resolve().parents[1] / "results"
COLUMNS = ["claim", "metric", "seeds", "gap", "verdict (Holm)", "95% interval", "unadjusted", "p", "Holm p",
           "paper gap", "paper size", "detectable"]
CONTROL_COLUMNS = ["claim", "metric", "seeds", "gap", "95% interval", "verdict", "paper gap", "inside"]
EXPECTED = ("a notebook's record: a JSON object with 'claims' (a list of claim rows), and optionally 'controls' "
            "and 'records' (lists of rows)")


class BadRecord(Exception):
    """A metrics.json that cannot be read as a notebook's record; its message is one line."""


def load(path: Path) -> dict:
    """A notebook's record, or BadRecord naming the file and what was expected."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise BadRecord(f"{path}: cannot be read ({getattr(e, 'strerror', None) or e}): expected {EXPECTED}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRecord(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}; truncated?): "
                        f"expected {EXPECTED}") from None
    if not isinstance(data, dict):
        raise BadRecord(f"{path}: holds a JSON {type(data).__name__}: expected {EXPECTED}")
    for key in ("claims", "controls", "records"):
        rows = data.get(key, [] if key != "claims" else None)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BadRecord(f"{path}: its {key!r} is {'missing' if rows is None else 'not a list of objects'}: "
                            f"expected {EXPECTED}")
    return data


def claim_of(c: dict) -> str:
    """A row's claim; notebook 08's answers recorded before 2026-12-06 name MILe and its rival instead."""
    return c["claim"] if "claim" in c else f"{c['MILe']} beats {c['versus']} on mAP"


def stand_in(c: dict) -> str | None:
    """Notebook 08's rows name their stand-in: `stand_in`, or `stand-in` in records before 2026-12-08."""
    return next((w for w in (c.get("stand_in"), c.get("stand-in")) if isinstance(w, str)), None)


def key(c: dict) -> tuple:
    return claim_of(c), stand_in(c)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x, fmt="{:+.2f}") -> str:
    return "" if _missing(x) else fmt.format(x) if isinstance(x, (float, np.floating)) else str(x)


def interval(c: dict) -> str:
    return "" if _missing(c.get("low")) else f"{c['low']:+.2f} to {c['high']:+.2f}"


def _p(p) -> str:
    return "" if _missing(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _name(c: dict) -> str:
    where = stand_in(c)
    return claim_of(c) + (f" ({where})" if where else "")


def row(c: dict) -> list[str]:
    """A recorded row as recorded (a control, or a claim not re-decided)."""
    inside = {True: "yes", False: "no"}.get(c.get("paper gap inside"), "")
    return [_name(c), str(c.get("metric", "")), str(c.get("seeds", "")), num(c.get("gap")), interval(c),
            f"**{c['verdict']}**", num(c.get("paper gap")), inside]


def decided_row(c: dict) -> list[str]:
    """A re-decided claim: the Holm verdict first, the unadjusted interval and verdict beside."""
    raw = c.get("raw verdict", c["verdict"])
    return [_name(c), str(c.get("metric", "") if not _missing(c.get("metric")) else ""), num(c.get("seeds"), "{:.0f}"),
            num(c.get("gap")), f"**{c['verdict']}**", interval(c), raw if raw != c["verdict"] else "same",
            _p(c.get("p")), _p(c.get("p adjusted")), num(c.get("paper gap")),
            c.get("paper size") if isinstance(c.get("paper size"), str) else "", num(c.get("detectable"), "{:.2f}")]


def markdown(rows: list[list[str]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in r) + " |" for r in rows]
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    return markdown([row(r) for r in rows], CONTROL_COLUMNS)


# --- per-seed gaps from the record's runs ------------------------------------------------------------

ANSWER = re.compile(r"(?P<a>.+) beats (?P<b>.+?)(?: \(best SPML\))? on mAP")  # notebook 08's answer rows
ORDERING = re.compile(r"(?P<a>.+) above (?P<b>.+)")  # 08's published orderings


def plain_gaps(c: dict, records: pd.DataFrame) -> pd.Series | None:
    """A claim's per-seed gaps where it is a plain paired gap a - b (or b - a) on `metric` of two
    labelled runs of the record, and they reproduce the recorded mean and seed count; else None."""
    a, b, metric = c.get("a"), c.get("b"), c.get("metric")
    if _missing(a) or _missing(b):
        found = ANSWER.fullmatch(claim_of(c)) or (ORDERING.fullmatch(claim_of(c)) if "published on" in c else None)
        if not found:
            return None
        a, b, metric = found["a"], found["b"], "map"
    if records.empty or not {"label", "seed"} <= set(records) or metric not in records:
        return None
    runs = records[records.seed.notna()]
    where = stand_in(c)
    if where and "stand_in" in runs:
        runs = runs[runs.stand_in == where]
    if not {a, b} <= set(runs.label):
        return None
    runs = runs.assign(**{metric: pd.to_numeric(runs[metric], errors="coerce")})
    gaps = evidence.paired_gaps(runs, a, b, metric)
    if len(gaps) != c.get("seeds") or not len(gaps):
        return None
    for sign in (1, -1):
        if abs(round(sign * gaps.mean(), 2) - c["gap"]) <= 0.011:
            return sign * gaps
    return None


def _recompute_hook():
    """milelib.experiments.recompute(notebook, records) -> claims with a `gaps` column, if it exists."""
    try:
        from milelib import experiments
    except Exception:  # noqa: BLE001 - the tool works without the experiments package's hook
        return None
    known = set(experiments.names().values())
    return lambda notebook, records: experiments.recompute(notebook, records) if notebook in known else None


def extra_claims(notebook: str, recorded: dict) -> list[dict]:
    """Claims a notebook shows but does not record: 08's published orderings (each pair of the
    single-positive losses with published numbers, in the published direction, per stand-in),
    recomputed from its runs and made untestable on a stand-in whose controls failed."""
    if not notebook.startswith("08") or any("published on" in c or c.get("paper") == "published order"
                                            for c in recorded["claims"]):
        return []  # recorded since 2026-12-08 among its claims
    records = pd.DataFrame(recorded.get("records", []))
    if records.empty or "stand_in" not in records:
        return []
    from milelib.experiments.single_positive import published_ordering

    runs = records[records.seed.notna()].assign(map=lambda t: pd.to_numeric(t["map"], errors="coerce"))
    found = pd.DataFrame(published_ordering(runs))
    if found.empty:
        return []
    controls = pd.DataFrame(recorded.get("controls", []))
    rows = []
    for stand_in, part in found.groupby("stand_in", sort=False):
        mine = controls[controls.stand_in == stand_in] if "stand_in" in controls else controls
        part = part.assign(claim="published order: " + part.claim)
        rows += evidence.untestable_unless(mine, part).to_dict("records")
    return rows


def regate(recorded: dict, rows: list[dict]) -> list[dict]:
    """The claims made untestable by the current rule from the record's own controls: each claim
    read by its interval, then `evidence.untestable_unless` per stand-in (08) or for the notebook. A
    failed "every run learned" recorded before controls had a scope (a record from before
    2026-12-06) gets it from the record's runs (`controls.trained`), so that it concerns only the
    claims that read a run that did not learn."""
    controls = pd.DataFrame(recorded.get("controls", []))
    records = pd.DataFrame(recorded.get("records", []))
    if controls.empty:  # nothing to re-gate by: a recorded "untestable here" stands
        return [{**c, "verdict": c["verdict"] if c["verdict"] == "untestable here" else measured(c)} for c in rows]
    rows = [{**c, "verdict": measured(c)} for c in rows]
    controls = controls.assign(scope=[_scope(c, records) for c in controls.to_dict("records")])
    claims = pd.DataFrame(rows)
    if claims.empty:
        return rows
    where = next((c for c in ("stand_in", "stand-in") if c in claims), None)  # 08's rows, named either way
    if where and "stand_in" in controls:
        parts = [evidence.untestable_unless(controls[controls.stand_in == s], claims[claims[where] == s])
                 for s in claims[where].unique()]
        return pd.concat(parts).sort_index().to_dict("records")
    return evidence.untestable_unless(controls, claims).to_dict("records")


def _scope(c: dict, records: pd.DataFrame):
    if isinstance(c.get("scope"), str) or c.get("verdict") != "fails" or "every run learned" not in c["claim"]:
        return c.get("scope")
    if records.empty or "label" not in records or not ({"val/accuracy", "accuracy"} & set(records)):
        return None
    from milelib.experiments.controls import trained

    runs = records[records.stand_in == c["stand_in"]] if "stand_in" in records and c.get("stand_in") else records
    key = "val/accuracy" if "val/accuracy" in runs else "accuracy"
    return trained(runs.assign(**{key: pd.to_numeric(runs[key], errors="coerce")})).get("scope")


def gaps_of(notebook: str, recorded: dict, claims: list[dict], recompute=None) -> list[pd.Series | None]:
    """Each claim's per-seed gaps: from the hook where it gives them, else a plain paired gap."""
    records = pd.DataFrame(recorded.get("records", []))
    hooked = {}
    recompute = recompute or _recompute_hook()
    if recompute is not None and not records.empty:
        out = recompute(notebook, records)
        if out is not None and "gaps" in out:
            hooked = {key(r): pd.Series(r["gaps"], dtype=float) if isinstance(r["gaps"], dict) else r["gaps"]
                      for r in out.to_dict("records")}  # the experiments' claims keep them as seed -> gap
    found = []
    for c in claims:
        g = hooked.get(key(c))
        if g is None:
            text = c["claim"][len("published order: "):] if c["claim"].startswith("published order: ") else None
            g = plain_gaps({**c, "claim": text} if text else c, records)
        found.append(g)
    return found


def family(notebook: str, recorded: dict, recompute=None) -> pd.DataFrame:
    """A notebook's recorded claims (and 08's published orderings), re-decided: p from the per-seed
    gaps where they can be recomputed (column `p from`: "seeds"), else from the recorded interval
    ("interval"); then Holm's correction over the testable ones (`evidence.adjust`). The detectable
    gap and the seeds for the paper's gap need the gaps' sd: from the gaps, else from the interval."""
    rows = regate(recorded, [{**c, "claim": claim_of(c)} for c in recorded["claims"]]) + extra_claims(notebook,
                                                                                                    recorded)
    gaps = gaps_of(notebook, recorded, rows, recompute)
    for c, g in zip(rows, gaps):
        if g is not None:
            c["p"], sd, c["p from"] = evidence.t_test(g), float(g.std(ddof=1)) if len(g) > 1 else math.nan, "seeds"
        else:
            n = c.get("seeds")
            c["p"] = c["p"] if not _missing(c.get("p")) else evidence.p_from_interval(c["gap"], c.get("low"),
                                                                                     c.get("high"), n)
            sd = _sd(c)
            c["p from"] = "interval" if not _missing(c["p"]) else ""
        c["detectable"] = evidence.detectable(sd, int(c["seeds"])) if not _missing(c.get("seeds")) else math.nan
        c["seeds for paper gap"] = evidence.seeds_needed(c.get("paper gap"), sd)
    claims = pd.DataFrame(rows)
    claims["gaps"] = pd.Series(gaps, index=claims.index, dtype=object) if len(claims) else None
    return evidence.adjust(claims) if len(claims) else claims


def _sd(c: dict) -> float:
    n = c.get("seeds")
    if _missing(c.get("low")) or _missing(n) or n < 2:
        return math.nan
    return (c["high"] - c["low"]) / (2 * stats.t.ppf(0.975, n - 1)) * math.sqrt(n)


def measured(c: dict) -> str:
    """A claim's verdict as its 95% interval reads, "untestable here" or not (a failed control on one
    machine, or a rule that changed between the records, says nothing of the interval), and before
    Holm's correction (a record made through `evidence.decide` keeps it as `raw verdict`)."""
    said = c["raw verdict"] if isinstance(c.get("raw verdict"), str) else c["verdict"]
    if said != "untestable here" or _missing(c.get("low")):
        return said
    return verdict(c["low"], c["high"])


def compare(mine: dict, theirs: dict) -> str:
    """The controls and claims of two records of one notebook side by side, a differing verdict
    marked; an untestable claim is compared by its interval, and shows how it reads."""
    lines = ["| claim | here | there | same verdict |", "|---|---|---|---|"]
    there = {key(c): c for c in theirs.get("controls", []) + theirs["claims"]}
    for c in mine.get("controls", []) + mine["claims"]:
        other = there.get(key(c))
        records = [x for x in (c, other) if x is not None]
        cells = [row(x) for x in records]
        said = [(f"{cell[3]} ({cell[4]}) {cell[5]}" if cell[4] else f"{cell[3]} {cell[5]}")
                + (f" (as measured: {measured(x)})" if measured(x) != x["verdict"] else "")
                for cell, x in zip(cells, records)]
        same = "" if other is None else "yes" if measured(other) == measured(c) else "**no**"
        lines.append("| " + " | ".join(x.replace("|", "/") for x in [cells[0][0], said[0], said[1] if other else
                                                                         "not recorded", same]) + " |")
    return "\n".join(lines)


# --- two machines pooled -------------------------------------------------------------------------------

PATHS = ("teacher_run", "pretrained", "root", "run_dir", "timeout_minutes")  # where, not what, a run trains


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _overrides(configs: dict) -> dict[tuple, dict]:
    """Each run's overrides in a provenance's `points` ({label: {dotted key: value}}, nested by
    stand-in or seed in some notebooks), keyed by its path there; the label is the path's end."""
    found = {}

    def walk(d: dict, path: tuple) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                if any(isinstance(x, dict) for x in v.values()):
                    walk(v, path + (k,))
                else:
                    found[path + (k,)] = v
    walk(configs.get("points", {}), ())
    return found


def _effective(point: dict, base: dict, key: str):
    """A run's setting: its override, else its base's (flattened; "method": "elr" is method.name)."""
    return point[key] if key in point else base.get(key, base.get(f"{key}.name"))


RUN_PART = "run."  # devices, threads, workers, logging: nothing the config hash covers (a default there may change)


def same_configs(a: dict, b: dict, labels: set[str]) -> bool:
    """Whether two provenances' configs agree, for the runs labelled `labels` (every run where
    empty): the base settings both record (a setting one of them lacks, or holds None, is a default
    added later), and each run's overrides resolved against its base; paths left out (PATHS)."""
    base_a, base_b = _flat(a.get("base", {})), _flat(b.get("base", {}))
    for k in set(base_a) & set(base_b):
        if not k.endswith(PATHS) and not k.startswith(RUN_PART) and None not in (base_a[k], base_b[k]) \
                and base_a[k] != base_b[k]:
            return False
    runs_a, runs_b = _overrides(a), _overrides(b)
    for path in {p for p in set(runs_a) | set(runs_b) if not labels or p[-1] in labels}:
        if path not in runs_a or path not in runs_b:
            return False
        x, y = runs_a[path], runs_b[path]
        if any(not k.endswith(PATHS) and not k.startswith(RUN_PART) and _effective(x, base_a, k) != _effective(y, base_b, k)
               for k in set(x) | set(y)):
            return False
    return True


def _hashes(recorded: dict, c: dict) -> dict:
    """(label, seed) -> config hash of the runs a claim reads (every run where it does not say)."""
    reads = evidence.labels(c.get("reads"))
    where = stand_in(c)
    return {(r["label"], r["seed"]): r.get("config_hash") for r in recorded.get("records", [])
            if (not reads or r.get("label") in reads) and (not where or r.get("stand_in") in (None, where))}


def same_runs(mine: dict, theirs: dict, c: dict) -> bool:
    """Whether the runs a claim reads ran the same configs on both machines: by the records'
    provenance (`provenance`, the configs) where both have it, else by the runs' config hashes
    (which also cover paths, such as a teacher's run folder)."""
    if isinstance(mine.get("provenance"), dict) and isinstance(theirs.get("provenance"), dict):
        return same_configs(mine["provenance"].get("configs", {}), theirs["provenance"].get("configs", {}),
                            evidence.labels(c.get("reads")))
    a, b = _hashes(mine, c), _hashes(theirs, c)
    return all(a[k] == b[k] for k in set(a) & set(b))


def pool(c: dict, other: dict) -> dict:
    """One claim pooled over two machines: the seeds' gaps averaged over the machines that ran each
    seed where both give per-seed gaps; else, with the same seeds on both, the mean of the two means
    with the mean of the two standard errors (the sd of an average of two vectors is at most the
    average of their sds, so this interval is at least as wide as the pooled gaps' would be); else
    the two machines' tests together: the larger p (an intersection-union test), no interval."""
    g1, g2 = c.get("gaps"), other.get("gaps")
    if g1 is not None and g2 is not None:
        gaps = pd.concat([g1, g2], axis=1).mean(axis=1)
        mean, low, high = evidence.paired_interval(gaps)
        return {"gap": mean, "low": low, "high": high, "seeds": len(gaps), "p": evidence.t_test(gaps),
                "pooled": "per-seed gaps averaged over the machines"}
    n1, n2 = c.get("seeds"), other.get("seeds")
    if n1 == n2 and not _missing(c.get("low")) and not _missing(other.get("low")) and n1 >= 2:
        q = stats.t.ppf(0.975, n1 - 1)
        se = ((c["high"] - c["low"]) + (other["high"] - other["low"])) / (4 * q)
        mean = (c["gap"] + other["gap"]) / 2
        p = 2 * stats.t.sf(abs(mean) / se, n1 - 1) if se > 0 else float(mean == 0)
        return {"gap": mean, "low": mean - q * se, "high": mean + q * se, "seeds": n1, "p": p,
                "pooled": "by the two intervals (conservative)"}
    p = max(c.get("p", math.nan), other.get("p", math.nan))
    same_sign = np.sign(c["gap"]) == np.sign(other["gap"])
    return {"gap": (c["gap"] + other["gap"]) / 2, "low": math.nan, "high": math.nan, "seeds": max(n1, n2),
            "p": p if same_sign else 1.0, "pooled": "both machines' tests (the larger p)"}


def with_provenance(recorded: dict, path: Path) -> dict:
    """The record with the provenance.json beside it (its configs), where that can be read."""
    try:
        return {**recorded, "provenance": json.loads((Path(path).parent / "provenance.json").read_text())}
    except (OSError, ValueError):
        return recorded


def pooled(notebook: str, mine: dict, theirs: dict, recompute=None) -> pd.DataFrame:
    """A notebook's claims pooled over two machines' records, then decided by Holm's correction
    within the notebook: untestable where a control that concerns the claim failed on either
    machine (a claim recorded without the labels it reads, on the older record, reads those of the
    same claim on the other); "one machine" where only one recorded it, or its runs ran other configs there (decided
    by that machine's own gaps)."""
    reads = {key(c): c["reads"] for c in mine["claims"] if isinstance(c.get("reads"), str)}
    theirs = {**theirs, "claims": [c if isinstance(c.get("reads"), str) or key(c) not in reads else
                                   {**c, "reads": reads[key(c)]} for c in theirs["claims"]]}  # the same code reads
    here, there = family(notebook, mine, recompute), family(notebook, theirs, recompute)
    others = {key(c): c for c in there.to_dict("records")}
    rows = []
    for c in here.to_dict("records"):
        other = others.pop(key(c), None)
        base = {k: c.get(k) for k in ("claim", "stand-in", "stand_in", "metric", "paper gap")}
        untestable = c["raw verdict"] == "untestable here" or (other or {}).get("raw verdict") == "untestable here"
        mine_alone = {k: c[k] for k in ("gap", "low", "high", "seeds", "p")}
        if other is None or not same_runs(mine, theirs, c):
            rows.append({**base, **mine_alone, "pooled": "one machine" + ("" if other is None else
                                                                           " (the other ran other configs)")})
        else:
            rows.append({**base, **pool(c, other)})
        rows[-1]["verdict"] = "untestable here" if untestable else _raw(rows[-1])
    for c in others.values():
        rows.append({**{k: c.get(k) for k in ("claim", "stand-in", "stand_in", "metric", "paper gap", "gap", "low", "high",
                                              "seeds", "p")},
                     "pooled": "one machine (there)", "verdict": c["raw verdict"]})
    return evidence.adjust(pd.DataFrame(rows)) if rows else pd.DataFrame()


def _raw(c: dict) -> str:
    if not _missing(c.get("low")):
        return verdict(c["low"], c["high"])
    return "inconclusive" if _missing(c.get("p")) or c["p"] >= evidence.ALPHA else \
        "holds" if c["gap"] > 0 else "contradicted"


def pooled_table(claims: pd.DataFrame) -> str:
    columns = ["claim", "seeds", "pooled gap", "95% interval", "verdict (Holm)", "unadjusted", "p", "Holm p", "how"]
    rows = [[_name(c), num(c.get("seeds"), "{:.0f}"), num(c["gap"]), interval(c), f"**{c['verdict']}**",
             c["raw verdict"] if c["raw verdict"] != c["verdict"] else "same", _p(c["p"]), _p(c["p adjusted"]),
             c["pooled"]] for c in claims.to_dict("records")]
    return markdown(rows, columns)


def pooled_summary(claims: pd.DataFrame) -> str:
    """One line: the pooled verdicts (Holm, and the 95% interval alone) and how each claim was pooled."""
    def said(values):
        return ", ".join(f"{n} {v}" for v, n in pd.Series(values).value_counts(sort=False).items())

    return (f"Pooled: {said(claims.verdict)} (the 95% interval alone: {said(claims['raw verdict'])}); "
            f"pooled {said(claims.pooled)}.")


# --- counts --------------------------------------------------------------------------------------------

DECIDED = ("holds", "contradicted")


def counts(claims: pd.DataFrame) -> dict:
    """The verdicts of a re-decided family: raw (the 95% interval alone), Holm-adjusted, paper size."""
    raw, adj = claims["raw verdict"].tolist(), claims["verdict"].tolist()
    size = [s for s in claims.get("paper size", pd.Series(dtype=object)) if isinstance(s, str)]
    return {"claims": len(claims), "testable": int(claims["p adjusted"].notna().sum()),
            "untestable": raw.count("untestable here"),
            **{f"raw {v}": raw.count(v) for v in (*DECIDED, "inconclusive")},
            **{f"Holm {v}": adj.count(v) for v in (*DECIDED, "inconclusive")},
            "paper gaps": len(size), **{s: size.count(s) for s in evidence.SIZES}}


def counts_table(found: dict[str, dict]) -> str:
    """Per notebook and for the paper: claims, testable (Holm's family), raw and Holm verdicts,
    paper-size verdicts."""
    total = {k: sum(c[k] for c in found.values()) for k in next(iter(found.values()))} if found else {}
    columns = ["notebook", "claims", "untestable", "Holm over", "raw: holds / contradicted / inconclusive",
               "Holm: holds / contradicted / inconclusive", "decided raw -> Holm",
               "paper size: consistent / smaller / larger (of claims with a paper gap)"]
    rows = []
    for name, c in [*found.items(), ("all", total)]:
        rows.append([name, str(c["claims"]), str(c["untestable"]), str(c["testable"]),
                     f"{c['raw holds']} / {c['raw contradicted']} / {c['raw inconclusive']}",
                     f"{c['Holm holds']} / {c['Holm contradicted']} / {c['Holm inconclusive']}",
                     f"{c['raw holds'] + c['raw contradicted']} -> {c['Holm holds'] + c['Holm contradicted']}",
                     f"{c[evidence.SIZES[0]]} / {c[evidence.SIZES[1]]} / {c[evidence.SIZES[2]]} (of {c['paper gaps']})"])
    return markdown(rows, columns)


def forest(families: dict[str, pd.DataFrame], folder: Path) -> list[Path]:
    """results/claims.png (every notebook's claims, grouped by notebook) and claims_NN.png each."""
    from milelib import plots

    written = []
    every = pd.concat([f.assign(notebook=name) for name, f in families.items()], ignore_index=True)
    plots.savefig(plots.forest(every, "Every recorded claim: mean gap, interval at Holm's level (thick), 95% "
                               "interval (thin), the paper's gap (diamond)", group="notebook"), folder, "claims")
    written.append(folder / "claims.png")
    for name, f in families.items():
        plots.savefig(plots.forest(f, f"{name}: mean gap, interval at Holm's level (thick), 95% interval (thin), "
                                      "the paper's gap (diamond)"), folder, f"claims_{name[:2]}")
        written.append(folder / f"claims_{name[:2]}.png")
    return written


def main(argv=None, results: Path = RESULTS, recompute=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("numbers", nargs="*", help="notebook numbers (default: all recorded)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--against", type=Path, help="another results folder (NN_name/PROFILE/metrics.json) to set "
                                                      "beside this one's and pool with it")
    parser.add_argument("--counts", action="store_true", help="print only the counts of verdicts")
    parser.add_argument("--forest", action="store_true", help="write claims.png and claims_NN.png into the results "
                                                              "folder")
    args = parser.parse_args(argv)
    try:
        run(args, Path(results), recompute)
    except BadRecord as e:
        sys.exit(f"verdicts.py: {e}")


def run(args, results: Path, recompute=None) -> None:
    families, found = {}, {}
    for folder in sorted(results.glob("[0-9][0-9]_*")):
        if args.numbers and folder.name[:2] not in args.numbers:
            continue
        path = folder / args.profile / "metrics.json"
        if not path.exists():
            continue
        recorded = load(path)
        if not all("verdict" in c for c in recorded["claims"]):
            print(f"### {folder.name}: recorded before claims had verdicts; rerun the notebook\n")
            continue
        claims = family(folder.name, recorded, recompute)
        families[folder.name], found[folder.name] = claims, counts(claims)
        if args.counts:
            continue
        print(f"### {folder.name} ({args.profile}, seeds {recorded.get('seeds')})\n")
        if args.against:
            other = args.against / folder.name / args.profile / "metrics.json"
            if not other.exists():
                print(f"{other} is not there: nothing to compare\n")
                continue
            theirs = load(other)
            print(compare(recorded, theirs) + "\n")
            recorded, theirs = with_provenance(recorded, path), with_provenance(theirs, other)
            both = pooled(folder.name, recorded, theirs, recompute)
            print(f"Pooled over the two machines, Holm over {int(both['p adjusted'].notna().sum())} testable "
                  f"claims:\n\n{pooled_table(both)}\n\n{pooled_summary(both)}\n")
            continue
        if recorded.get("controls"):
            print("Controls (not in Holm's family):\n\n" + table(recorded["controls"]) + "\n")
        print(f"Claims, Holm over {found[folder.name]['testable']} testable ones:\n\n"
              + markdown([decided_row(c) for c in claims.to_dict("records")], COLUMNS) + "\n")
    if found:
        print(f"### Counts ({args.profile}): raw = each claim's 95% interval alone; Holm = Holm's correction at 5% "
              "within each notebook's testable claims; paper size = the 95% interval against the paper's gap\n")
        print(counts_table(found) + "\n")
    if args.forest and families:
        for path in forest(families, results):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
