"""Prints, as Markdown, each notebook's positive controls and claims from its recorded
results/<notebook>/<profile>/metrics.json: the tables the README quotes, regenerated rather than
typed.

    python tools/verdicts.py                 # every notebook recorded under quick
    python tools/verdicts.py 06 07 --profile quick
    python tools/verdicts.py 05 --against results/machines/amd_epyc   # the same runs on another machine

With --against, each notebook's verdicts are set beside those recorded in another results folder
(the batch run on a second machine or thread count): a verdict that differs between the two is
marked, and by the evidence rule (README, "How the evidence is made") reads inconclusive.
"""
import argparse
import json
from pathlib import Path

from milelib.evidence import verdict

RESULTS = Path(__file__).resolve().parents[1] / "results"
COLUMNS = ["claim", "metric", "seeds", "gap", "95% interval", "verdict", "paper gap", "inside"]


def claim_of(c: dict) -> str:
    """A row's claim; notebook 08's answers recorded before 2026-12-06 name MILe and its rival instead."""
    return c["claim"] if "claim" in c else f"{c['MILe']} beats {c['versus']} on mAP"


def row(c: dict) -> list[str]:
    def num(x):
        return "" if x is None or x != x else f"{x:+.2f}" if isinstance(x, float) else str(x)

    interval = "" if c.get("low") is None or c["low"] != c["low"] else f"{c['low']:+.2f} to {c['high']:+.2f}"
    inside = {True: "yes", False: "no"}.get(c.get("paper gap inside"), "")
    where = c.get("stand_in") or c.get("stand-in")  # notebook 08's rows name their stand-in
    claim = claim_of(c) + (f" ({where})" if where else "")
    return [claim, str(c.get("metric", "")), str(c.get("seeds", "")), num(c.get("gap")), interval,
            f"**{c['verdict']}**", num(c.get("paper gap")), inside]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row(r)) + " |" for r in rows]
    return "\n".join(lines)


def key(c: dict) -> tuple:
    return claim_of(c), c.get("stand_in") or c.get("stand-in")


def measured(c: dict) -> str:
    """A claim's verdict as its interval reads, "untestable here" or not (a failed control on one
    machine, or a rule that changed between the records, says nothing of the interval)."""
    if c.get("verdict") != "untestable here" or c.get("low") is None or c["low"] != c["low"]:
        return c["verdict"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("numbers", nargs="*", help="notebook numbers (default: all recorded)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--against", type=Path, help="another results folder (NN_name/PROFILE/metrics.json) to set "
                                                      "beside this one's")
    args = parser.parse_args()
    for folder in sorted(RESULTS.glob("[0-9][0-9]_*")):
        if args.numbers and folder.name[:2] not in args.numbers:
            continue
        path = folder / args.profile / "metrics.json"
        if not path.exists():
            continue
        recorded = json.loads(path.read_text())
        if not all("verdict" in c for c in recorded["claims"]):
            print(f"### {folder.name}: recorded before claims had verdicts; rerun the notebook\n")
            continue
        print(f"### {folder.name} ({args.profile}, seeds {recorded['seeds']})\n")
        if args.against:
            other = args.against / folder.name / args.profile / "metrics.json"
            print(compare(recorded, json.loads(other.read_text())) + "\n" if other.exists() else
                  f"{other} is not there: nothing to compare\n")
            continue
        if recorded.get("controls"):
            print("Controls:\n\n" + table(recorded["controls"]) + "\n")
        print("Claims:\n\n" + table(recorded["claims"]) + "\n")


if __name__ == "__main__":
    main()
