"""Claims decided by paired intervals over seeds, after positive controls (DESIGN, "Evidence").

Two methods run on the same seeds see the same data, initialisation draw and batch order, so each
seed gives one paired gap d_s = a_s - b_s. A claim "a beats b" gets the mean gap, a 95% interval
(Student's t on the paired differences: mean ± t_{0.975, n-1} sd / sqrt(n)) and a verdict:
*holds* (the interval lies above zero), *contradicted* (below zero), *inconclusive* (it straddles
zero, or there are fewer than two paired seeds). A claim that a gap is negative ("fewer labels at
small fractions") is the same test with a and b swapped (`higher=False`). Beside it: the paper's
own gap, and whether our interval contains it.

Controls are claims that must hold if a stand-in can test anything (the oracle above single-label
methods, LL-R above AN on mAP, ...). `untestable_unless` turns every claim of a notebook whose
controls do not all hold into "untestable here": the stand-in cannot say the claim fails. A control
about some runs only ("every run learned": its `scope`, the labels of the runs that did not) makes
untestable only the claims that read one of them (their `reads`, the labels they compare; a claim
that does not list them reads every run).
"""
from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
from scipy import stats

from .report import scale

LEVEL = 0.95
SEP = "; "  # between the labels of a claim's `reads` and a control's `scope` (labels hold commas)
VERDICTS = ("holds", "contradicted", "inconclusive", "untestable here")


def paired_interval(gaps, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of the paired gaps: a t interval; NaN bounds with fewer than two."""
    d = np.asarray(gaps, dtype=float)
    if len(d) < 2:
        return float(d.mean()) if len(d) else math.nan, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "holds"
    if high < 0:
        return "contradicted"
    return "inconclusive"  # straddles zero, or no interval (NaN bounds)


def paired_gaps(table: pd.DataFrame, a: str, b: str, key: str) -> pd.Series:
    """a - b on `key` per seed (points for percent metrics), over the seeds both have."""
    values = table.pivot_table(index="seed", columns="label", values=key, aggfunc="first")
    missing = [m for m in (a, b) if m not in values]
    if missing:
        raise ValueError(f"no runs labelled {missing[0]!r} in the table: its labels are {', '.join(values.columns)}")
    return (scale(key) * (values[a] - values[b])).dropna()


def claim(table: pd.DataFrame, a: str, b: str, key: str, text: str, paper: str = "",
          paper_gap: float | None = None, higher: bool = True) -> dict:
    """One claim row: `a` beats `b` on `key` (or, with higher=False, stays below it), decided by
    the paired 95% interval of the gap in the claim's direction. `paper_gap` is the paper's own
    gap in that direction (points), where the paper gives one."""
    gaps = paired_gaps(table, a, b, key) * (1 if higher else -1)
    return gap_claim(gaps, key, a, b, text, paper, paper_gap, reads=(a, b))


def gap_claim(gaps: pd.Series, key: str, a: str, b: str, text: str, paper: str = "", paper_gap=None,
              reads: tuple = ()) -> dict:
    """A claim row from per-seed gaps already in the claim's direction: two runs' paired gap, or a
    statistic of several runs (a gap to the best of several, a difference of two gaps); seeds
    missing one of the runs (NaN) are left out. `reads`: the labels of the runs it compares, where
    the caller knows them (none: it reads every run, as far as a failed control is concerned)."""
    gaps = gaps.dropna()
    mean, low, high = paired_interval(gaps)
    paper_gap = None if paper_gap is None else round(paper_gap, 2)
    inside = None if paper_gap is None or math.isnan(low) else bool(low <= paper_gap <= high)
    return {"claim": text, "paper": paper, "metric": key, "a": a, "b": b, "seeds": len(gaps),
            "gap": round(mean, 2), "low": round(low, 2), "high": round(high, 2), "verdict": verdict(low, high),
            "paper gap": paper_gap, "paper gap inside": inside, "reads": SEP.join(reads)}


def seed_gaps(table: pd.DataFrame, a: str, rivals, key: str) -> pd.Series:
    """Per seed, `a` minus the best of `rivals` on `key` (points): its smallest paired gap to them."""
    return pd.concat([paired_gaps(table, a, b, key) for b in rivals], axis=1).min(axis=1, skipna=False)


def labels(cell) -> set[str]:
    """The labels of a `reads` or `scope` cell: none for a blank, a missing column's NaN, or no cell."""
    return set(filter(None, cell.split(SEP))) if isinstance(cell, str) else set()


def untestable_unless(controls: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """The claims as decided when the controls that concern them hold; else "untestable here" (the
    numbers stay, for the reader), and a column naming the failed controls. A failed control
    concerns every claim, unless it has a `scope` (labels of runs) and the claim `reads` none of them."""
    failed = [] if controls.empty else controls[controls.verdict != "holds"].to_dict("records")
    scoped = [(c["claim"] + (f" (runs of {', '.join(sorted(scope))})" if scope else ""), scope)
              for c in failed for scope in [labels(c.get("scope"))]]  # (its name, the labels it concerns)

    def against(claim: dict) -> list[str]:
        reads = labels(claim.get("reads"))
        return [name for name, scope in scoped if not scope or not reads or reads & scope]

    names = [against(c) for c in claims.to_dict("records")]
    out = claims.copy()
    out["verdict"] = ["untestable here" if n else v for n, v in zip(names, claims.verdict)]
    spared = "all hold" if not failed else "all that concern its runs hold"
    out["controls"] = ["failed: " + SEP.join(n) if n else spared for n in names]
    return out


def _interval(low, high) -> str:
    return "n/a" if pd.isna(low) else f"{low:+.2f} to {high:+.2f}"  # n/a: under two seeds, or no gap


def _inside(inside) -> str:
    """Whether the interval holds the paper's gap; nothing where there is no interval (None or NaN)."""
    return (", inside ours" if inside else ", outside ours") if isinstance(inside, (bool, np.bool_)) else ""


def compact(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims as a reader needs them: the interval in one column, the gap signed, the paper's gap
    with whether our interval holds it, and neither the runs' keys (the claim text names them) nor the
    failed controls (said once, above the table)."""
    named = ("a", "b", "metric") if "claim" in claims else ()
    df = claims.drop(columns=[c for c in (*named, "controls", "reads", "scope") if c in claims])
    if {"low", "high"} <= set(df):
        at = list(df).index("low")
        interval = [_interval(lo, hi) for lo, hi in zip(df.low, df.high)]
        df = df.drop(columns=["low", "high"])
        df.insert(at, "95% interval", interval)
    if "gap" in df:
        df["gap"] = ["" if pd.isna(g) else f"{g:+.2f}" for g in df.gap]
    if "paper gap" in df:
        given = df["paper gap"].notna()
        inside = df.get("paper gap inside", pd.Series([None] * len(df), index=df.index))
        df["paper gap"] = ["" if not has else f"{g:+.2f}" + _inside(i) for has, g, i in zip(given, df["paper gap"], inside)]
        df = df.drop(columns=["paper gap inside"], errors="ignore")
        if not given.any():
            df = df.drop(columns=["paper gap"])
    df = df.rename(columns={"paper": "in the paper", "paper gap": "paper's gap"})
    return df.astype(object).where(df.notna(), "")  # a row lacking another's column (failed runs): blank


def _where(row: dict) -> str:
    where = row.get("stand-in", row.get("stand_in"))
    return f"{where}: " if isinstance(where, str) else ""


def _said(row: dict) -> str:
    if pd.isna(row.get("low", math.nan)):  # no interval: a control read from a record, or one seed
        return _where(row) + row["claim"]
    return f"{_where(row)}{row['claim']} (gap {row['gap']:+.2f}, 95% interval {_interval(row['low'], row['high'])})"


def prose(claims: pd.DataFrame) -> list[str]:
    """The verdicts in sentences: how many of each, the failed controls once, then the claims by verdict."""
    rows = claims.to_dict("records")
    found = list(dict.fromkeys(r["verdict"] for r in rows))
    order = [v for v in VERDICTS if v in found] + [v for v in found if v not in VERDICTS]  # "fails", "not measured"
    noun = "controls" if all(str(r["claim"]).startswith("control") for r in rows) else "claims"
    lines = [f"{len(rows)} {noun}: " + ", ".join(f"{sum(r['verdict'] == v for r in rows)} {v}" for v in order) + "."]
    failed = sorted({r["controls"][len("failed: "):] for r in rows if str(r.get("controls", "")).startswith("failed")})
    if failed:
        lines.append("Untestable here, because a positive control that concerns them failed (" + "; ".join(failed) +
                     "): the gaps are shown as measured, and say nothing for or against the paper.")
    for v in order:
        if v != "untestable here":
            lines.append(f"{v[0].upper()}{v[1:]}: " + "; ".join(_said(r) for r in rows if r["verdict"] == v) + ".")
    return lines


class Verdicts:
    """Claims as a notebook shows them: a banner on smoke results, the verdicts in sentences, then
    the compact table, which scrolls sideways where it is wider than the page."""

    def __init__(self, claims: pd.DataFrame, banner: str | None = None):
        self.claims, self.banner = claims, banner

    def _lines(self) -> list[str]:
        return ([self.banner] if self.banner else []) + prose(self.claims)

    def _repr_html_(self) -> str:
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in self._lines())
        if self.banner:
            paragraphs = paragraphs.replace("<p>", '<p style="color:#b00;font-weight:bold">', 1)
        table = compact(self.claims).to_html(index=False, escape=True)
        return f'{paragraphs}<div style="overflow-x:auto">{table}</div>'

    def __repr__(self) -> str:
        return "\n".join(self._lines()) + "\n\n" + compact(self.claims).to_string(index=False)
