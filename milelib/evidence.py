"""Claims decided by paired intervals over seeds, after positive controls, with Holm's correction
within each notebook's family of claims (the rules and their reasons: docs/evidence.md).

Two methods run on the same seeds see the same data, initialisation draw and batch order, so each
seed gives one paired gap d_s = a_s - b_s. A claim "a beats b" gets the mean gap, a 95% interval
(Student's t on the paired differences: mean ± t_{0.975, n-1} sd / sqrt(n)), the two-sided paired
t test's p-value and a verdict: *holds* (the interval lies above zero), *contradicted* (below zero),
*inconclusive* (it straddles zero, or there are fewer than two paired seeds). A claim that a gap is
negative ("fewer labels at small fractions") is the same test with a and b swapped (`higher=False`).
Beside it: the paper's own gap, whether our interval contains it, the smallest gap the seeds could
detect at 80% power (`detectable`) and the seeds that would detect the paper's gap (`seeds for
paper gap`).

Controls are claims that must hold if a stand-in can test anything (the oracle above single-label
methods, LL-R above AN on mAP, ...). `untestable_unless` turns every claim of a notebook whose
controls do not all hold into "untestable here": the stand-in cannot say the claim fails. A control
about some runs only ("every run learned": its `scope`, the labels of the runs that did not) makes
untestable only the claims that read one of them (their `reads`, the labels they compare; a claim
that does not list them reads every run).

`decide(controls, claims)` is a notebook's one call: `untestable_unless`, then `adjust`: Holm's
correction over the family of its testable claims. `verdict` becomes the adjusted verdict, `raw
verdict` keeps the 95% interval's, `p adjusted`, `adjusted low` and `adjusted high` (the interval
at the level Holm applied to the claim) stand beside, and `paper size` says where the paper's gap
lies against our 95% interval.
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


ALPHA = 1 - LEVEL  # two-sided, for the t test, Holm's family and the power of the seeds
POWER = 0.8
UNTESTABLE = "untestable here"
SIZES = ("consistent with the paper's gap", "smaller than reported", "larger than reported")


def t_test(gaps) -> float:
    """Two-sided p of the paired t test of a zero mean gap; NaN under two seeds. Gaps that are all
    equal: 0 if they are not zero (an interval of width zero excludes zero), else 1."""
    d = np.asarray(gaps, dtype=float)
    if len(d) < 2:
        return math.nan
    sd = d.std(ddof=1)
    if sd == 0:
        return 0.0 if d.mean() != 0 else 1.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def p_from_interval(mean: float, low: float, high: float, seeds: int, level: float = LEVEL) -> float:
    """The paired t test's p from a recorded mean, t interval and seed count: the interval's
    half-width is t_{(1+level)/2, n-1} se, so se and then t = mean / se follow exactly (up to the
    record's rounding). NaN where there is no interval."""
    if seeds is None or seeds != seeds or seeds < 2 or low is None or high is None or pd.isna(low) or pd.isna(high):
        return math.nan
    se = (high - low) / (2 * stats.t.ppf(0.5 + level / 2, seeds - 1))
    if se <= 0:
        return 0.0 if mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(mean) / se, seeds - 1))


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t test at level alpha to detect a true mean gap `effect` when
    the gaps' sd is `sd`, over n seeds: the noncentral t with n - 1 degrees of freedom and
    noncentrality effect sqrt(n) / sd, beyond either critical value."""
    df, nc = n - 1, abs(effect) * math.sqrt(n) / sd
    c = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(c, df, nc) + stats.nct.cdf(-c, df, nc))


def detectable(sd: float, n: int, power_: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest mean gap the paired t test over n seeds detects with probability `power_`,
    given the gaps' sd; NaN under two seeds, 0 where the gaps do not vary."""
    if n < 2 or sd != sd:
        return math.nan
    if sd == 0:
        return 0.0
    high = sd
    while power(high, sd, n, alpha) < power_:
        high *= 2
    from scipy.optimize import brentq
    return float(brentq(lambda e: power(e, sd, n, alpha) - power_, 0, high, xtol=1e-10))


def seeds_needed(effect, sd: float, power_: float = POWER, alpha: float = ALPHA, most: int = 100_000):
    """The fewest seeds (two at least) at which the paired t test detects a true mean gap `effect`
    with probability `power_`, given the gaps' sd; None with no effect or no sd, or past `most`."""
    if effect is None or effect != effect or effect == 0 or sd != sd:
        return None
    if sd == 0:
        return 2
    low, high = 1, 2  # power(low) < power_ <= power(high) once the loop ends; power rises with n
    while power(effect, sd, high, alpha) < power_:
        if high >= most:
            return None
        low, high = high, min(2 * high, most)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if power(effect, sd, mid, alpha) >= power_ else (mid, high)
    return high


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count in the family):
    the i-th smallest of m is multiplied by m - i + 1, then made non-decreasing along the order
    and capped at 1. Five lines, so no dependency (statsmodels' multipletests gives the same)."""
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    out = np.full(len(p), np.nan)
    out[order] = np.minimum(1, np.maximum.accumulate(p[order] * (len(order) - np.arange(len(order)))))
    return out


def paper_size(low, high, paper_gap, testable: bool = True):
    """Where the paper's gap lies against our interval: inside it ("consistent with the paper's
    gap"), above it ("smaller than reported": the paper's effect is excluded, even when zero is
    inside), below it ("larger than reported"); None where the paper gives no gap."""
    if paper_gap is None or pd.isna(paper_gap):
        return None
    if not testable:
        return UNTESTABLE
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "no interval"
    return SIZES[0] if low <= paper_gap <= high else SIZES[1] if paper_gap > high else SIZES[2]


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
    the caller knows them (none: it reads every run, as far as a failed control is concerned).
    Beside the interval: `p` (two-sided paired t test), `detectable` (the smallest mean gap these
    seeds detect with 80% power at the gaps' observed sd) and `seeds for paper gap` (the seeds that
    would detect the paper's gap so, where it gives one); `gaps`, seed -> gap, so that the record
    holds every number the interval reads."""
    gaps = gaps.dropna()
    mean, low, high = paired_interval(gaps)
    paper_gap = None if paper_gap is None else round(paper_gap, 2)
    inside = None if paper_gap is None or math.isnan(low) else bool(low <= paper_gap <= high)
    sd = float(gaps.std(ddof=1)) if len(gaps) > 1 else math.nan
    smallest = detectable(sd, len(gaps))
    return {"claim": text, "paper": paper, "metric": key, "a": a, "b": b, "seeds": len(gaps),
            "gap": round(mean, 2), "low": round(low, 2), "high": round(high, 2), "verdict": verdict(low, high),
            "paper gap": paper_gap, "paper gap inside": inside, "reads": SEP.join(reads),
            "p": _sig(t_test(gaps)), "detectable": round(smallest, 2),
            "seeds for paper gap": seeds_needed(paper_gap, sd),
            "gaps": {int(seed): round(float(g), 6) for seed, g in gaps.items()}}


def _sig(p: float) -> float:
    return p if p != p or p == 0 else float(f"{p:.4g}")  # four significant digits: Holm multiplies small ones


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
    scoped = [(c["claim"] + (f" (runs of {', '.join(sorted(scope))})" if scope else "") +
               (f" ({c['verdict']})" if str(c["verdict"]).startswith("not measured") else ""), scope)
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



def _column(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df else pd.Series([None] * len(df), index=df.index, dtype=object)


def adjust(claims: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The claims of one family (a notebook's, controls apart) decided with Holm's correction over
    its testable claims: those not "untestable here" that have a p-value (two seeds or more). A row
    without `p` gets it from its recorded interval (`p_from_interval`). Columns set: `raw verdict`
    (the unadjusted 95% interval's verdict, as it came), `verdict` (holds or contradicted, by the
    sign of the gap, where the Holm-adjusted p is below alpha; else inconclusive), `p adjusted`,
    `adjusted low` / `adjusted high` (the t interval at level 1 - alpha / c, c = p adjusted / p the
    multiplier Holm applied to this claim: it excludes zero exactly when Holm decides the claim),
    `paper size` (see `paper_size`, on the unadjusted 95% interval)."""
    out = claims.copy()
    if out.empty:
        return out.assign(**{c: [] for c in ("raw verdict", "p adjusted", "adjusted low", "adjusted high", "paper size")})
    raw = out["verdict"].tolist()
    given = pd.to_numeric(_column(out, "p"), errors="coerce")
    derived = [p_from_interval(g, lo, hi, n) for g, lo, hi, n in
               zip(out["gap"], _column(out, "low"), _column(out, "high"), _column(out, "seeds"))]
    p = np.where(given.notna(), given, derived).astype(float)
    testable = np.array([v != UNTESTABLE for v in raw])
    adjusted = holm(np.where(testable, p, np.nan))
    out["p"] = p
    out["raw verdict"] = raw
    out["p adjusted"] = adjusted
    out["verdict"] = [v if math.isnan(q) else ("holds" if g > 0 else "contradicted") if q < alpha else "inconclusive"
                      for v, q, g in zip(raw, adjusted, out["gap"])]
    bounds = [_adjusted_interval(g, pi, q, n, lo, hi, alpha) for g, pi, q, n, lo, hi in
              zip(out["gap"], p, adjusted, _column(out, "seeds"), _column(out, "low"), _column(out, "high"))]
    out["adjusted low"] = [lo for lo, _ in bounds]  # not rounded: a bound at 0.004 stays above zero
    out["adjusted high"] = [hi for _, hi in bounds]
    out["paper size"] = [paper_size(lo, hi, pg, t) for lo, hi, pg, t in
                         zip(_column(out, "low"), _column(out, "high"), _column(out, "paper gap"), testable)]
    return out


def _adjusted_interval(gap, p, p_adjusted, seeds, low, high, alpha) -> tuple[float, float]:
    """The t interval at the level Holm used for a claim, 1 - alpha / c with c = p adjusted / p: the
    95% interval's half-width times t_{1 - alpha/(2c), n-1} / t_{0.975, n-1}. It excludes zero when
    p < alpha / c, i.e. when p adjusted < alpha, up to the record's rounding (gap and interval to
    0.01); so that it does so exactly, the standard error is taken from the width or from p (|gap|
    / t_{1 - p/2, n-1}), whichever is smaller for a decided claim and larger for another."""
    if p_adjusted != p_adjusted or p != p:
        return math.nan, math.nan
    df = seeds - 1
    errors = []
    if not (pd.isna(low) or pd.isna(high)):
        errors.append((high - low) / (2 * stats.t.ppf(0.5 + LEVEL / 2, df)))
    if 0 < p < 1 and gap != 0:
        errors.append(abs(gap) / stats.t.ppf(1 - p / 2, df))
    if not errors or p == 0:
        return gap, gap  # gaps that do not vary
    se = min(errors) if p_adjusted < alpha else max(errors)
    c = p_adjusted / p
    half = stats.t.ppf(1 - alpha / (2 * c), df) * se
    return gap - half, gap + half


def decide(controls: pd.DataFrame, claims: pd.DataFrame) -> pd.DataFrame:
    """A notebook's claims decided: `untestable_unless(controls, claims)`, then `adjust` (Holm's
    correction over the claims left testable; the controls are not in the family)."""
    return adjust(untestable_unless(controls, claims))

def _interval(low, high) -> str:
    return "n/a" if pd.isna(low) else f"{low:+.2f} to {high:+.2f}"  # n/a: under two seeds, or no gap


def _inside(inside) -> str:
    """Whether the interval holds the paper's gap; nothing where there is no interval (None or NaN)."""
    return (", inside ours" if inside else ", outside ours") if isinstance(inside, (bool, np.bool_)) else ""


def _p(p) -> str:
    return "" if p is None or pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def _number(x, fmt: str = "{:.2f}") -> str:
    return "" if x is None or pd.isna(x) else fmt.format(x)


def _move(df: pd.DataFrame, column: str, after: str) -> pd.DataFrame:
    if column not in df or after not in df:
        return df
    names = [c for c in df if c != column]
    names.insert(names.index(after) + 1, column)
    return df[names]


DECIDED_ORDER = ("claim", "in the paper", "seeds", "gap", "verdict", "95% interval", "p (Holm)", "paper's gap", "paper size",
                 "detectable (80% power)", "seeds for the paper's gap")


def compact(claims: pd.DataFrame) -> pd.DataFrame:
    """The claims as a reader needs them: the interval in one column, the gap signed, the paper's gap
    with whether our interval holds it, and neither the runs' keys (the claim text names them) nor the
    failed controls (said once, above the table). Claims through `decide`: the adjusted verdict right
    after the gap (with the unadjusted one in brackets where it differs), the 95% interval beside it,
    p and its Holm-adjusted value, the paper-size verdict, the detectable gap and the seeds that
    would detect the paper's gap."""
    named = ("a", "b", "metric") if "claim" in claims else ()
    decided = "raw verdict" in claims
    df = claims.drop(columns=[c for c in (*named, "controls", "reads", "scope", "gaps") if c in claims])
    if {"low", "high"} <= set(df):
        at = list(df).index("low")
        interval = [_interval(lo, hi) for lo, hi in zip(df.low, df.high)]
        df = df.drop(columns=["low", "high"])
        df.insert(at, "95% interval", interval)
    if "gap" in df:
        df["gap"] = ["" if pd.isna(g) else f"{g:+.2f}" for g in df.gap]
    if decided:
        df["verdict"] = [v if v == r else f"{v} (unadjusted: {r})" for v, r in zip(df.verdict, df["raw verdict"])]
        df["p"] = [_p(p) + ("" if pd.isna(q) else f", Holm {_p(q)}") for p, q in zip(df.p, df["p adjusted"])]
        df = df.drop(columns=["raw verdict", "p adjusted", "adjusted low", "adjusted high"], errors="ignore")
        df = df.rename(columns={"p": "p (Holm)"})
    elif "p" in df:
        df["p"] = [_p(p) for p in df.p]
    if "paper gap" in df:
        given = df["paper gap"].notna()
        if decided:
            df["paper gap"] = [_number(g, "{:+.2f}") for g in df["paper gap"]]
        else:
            inside = df.get("paper gap inside", pd.Series([None] * len(df), index=df.index))
            df["paper gap"] = ["" if not has else f"{g:+.2f}" + _inside(i)
                               for has, g, i in zip(given, df["paper gap"], inside)]
        df = df.drop(columns=["paper gap inside"], errors="ignore")
        df = _move(df, "paper size", "paper gap")
        if not given.any():
            df = df.drop(columns=["paper gap", "paper size", "seeds for paper gap"], errors="ignore")
    else:
        df = df.drop(columns=["paper size", "seeds for paper gap"], errors="ignore")  # no paper gap to size
    if "detectable" in df:
        df["detectable"] = [_number(d) for d in df.detectable]
    if "seeds for paper gap" in df:
        df["seeds for paper gap"] = [_number(n, "{:.0f}") for n in df["seeds for paper gap"]]
    df = df.rename(columns={"paper": "in the paper", "paper gap": "paper's gap", "detectable": "detectable (80% power)",
                            "seeds for paper gap": "seeds for the paper's gap"})
    if decided:  # a fixed order, whatever the rows' (a record read back has its keys sorted)
        names = list(df)
        known = [c for c in DECIDED_ORDER if c in names]
        first = [c for c in names[:names.index("claim")] if c not in known] if "claim" in names else []
        df = df[first + known + [c for c in names if c not in known and c not in first]]
    return df.astype(object).where(df.notna(), "")  # a row lacking another's column (failed runs): blank


def _where(row: dict) -> str:
    where = row.get("stand-in", row.get("stand_in"))
    return f"{where}: " if isinstance(where, str) else ""


def _said(row: dict) -> str:
    if pd.isna(row.get("low", math.nan)):  # no interval: a control read from a record, or one seed
        return _where(row) + row["claim"]
    said = f"gap {row['gap']:+.2f}, 95% interval {_interval(row['low'], row['high'])}"
    if "raw verdict" in row and not pd.isna(row.get("p adjusted")):
        said += f", p {_p(row['p'])}, Holm {_p(row['p adjusted'])}"
        if row["raw verdict"] != row["verdict"]:
            said += f", {row['raw verdict']} unadjusted"
        if row["verdict"] == "inconclusive" and not pd.isna(row.get("detectable", math.nan)):
            said += f"; these seeds detect {row['detectable']:.2f} at 80% power"
    if isinstance(row.get("paper size"), str) and row["paper size"] in SIZES:
        said += f"; the paper's {row['paper gap']:+.2f}: {row['paper size']}"
    return f"{_where(row)}{row['claim']} ({said})"


def _counts(values: list[str]) -> str:
    found = list(dict.fromkeys(values))
    order = [v for v in VERDICTS if v in found] + [v for v in found if v not in VERDICTS]  # "fails", "not measured"
    return ", ".join(f"{values.count(v)} {v}" for v in order)


def prose(claims: pd.DataFrame) -> list[str]:
    """The verdicts in sentences: how many of each (claims through `decide`: the adjusted verdicts,
    the rule, the unadjusted ones and the paper-size verdicts), the failed controls once, then the
    claims by verdict."""
    rows = claims.to_dict("records")
    verdicts = [r["verdict"] for r in rows]
    found = list(dict.fromkeys(verdicts))
    order = [v for v in VERDICTS if v in found] + [v for v in found if v not in VERDICTS]
    noun = "controls" if all(str(r["claim"]).startswith("control") for r in rows) else "claims"
    if "raw verdict" in claims:
        family = sum(not pd.isna(r["p adjusted"]) for r in rows)
        lines = [f"{len(rows)} {noun}, decided by Holm's correction over the {family} testable ones at 5%: "
                 f"{_counts(verdicts)}.",
                 f"By each claim's unadjusted 95% interval alone: {_counts([r['raw verdict'] for r in rows])}."]
        sizes = [r["paper size"] for r in rows if isinstance(r.get("paper size"), str)]
        if sizes:
            lines.append(f"Against the paper's own gap ({len(sizes)} claims give one), by the 95% interval: " +
                         ", ".join(f"{sizes.count(s)} {s}" for s in dict.fromkeys([*SIZES, *sizes]) if s in sizes) + ".")
    else:
        lines = [f"{len(rows)} {noun}: {_counts(verdicts)}."]
    failed = sorted({r["controls"][len("failed: "):] for r in rows if str(r.get("controls", "")).startswith("failed")})
    if failed:
        lines.append("Untestable here, because a positive control that concerns them did not hold or could not be "
                     "checked (" + "; ".join(failed) +
                     "): the gaps are shown as measured, and say nothing for or against the paper.")
    for v in order:
        if v != UNTESTABLE:
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
