"""Prints, as Markdown, each notebook's positive controls and claims from its recorded
results/<notebook>/<profile>/metrics.json: the tables the README quotes, regenerated rather than
typed.

    python tools/verdicts.py                 # every notebook recorded under quick
    python tools/verdicts.py 06 07 --profile quick
"""
import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
COLUMNS = ["claim", "metric", "seeds", "gap", "95% interval", "verdict", "paper gap", "inside"]


def row(c: dict) -> list[str]:
    def num(x):
        return "" if x is None or x != x else f"{x:+.2f}" if isinstance(x, float) else str(x)

    interval = "" if c.get("low") is None or c["low"] != c["low"] else f"{c['low']:+.2f} to {c['high']:+.2f}"
    inside = {True: "yes", False: "no"}.get(c.get("paper gap inside"), "")
    where = c.get("stand_in") or c.get("stand-in")  # notebook 08's rows name their stand-in
    claim = c["claim"] + (f" ({where})" if where else "")
    return [claim, str(c.get("metric", "")), str(c.get("seeds", "")), num(c.get("gap")), interval,
            f"**{c['verdict']}**", num(c.get("paper gap")), inside]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row(r)) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("numbers", nargs="*", help="notebook numbers (default: all recorded)")
    parser.add_argument("--profile", default="quick")
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
        if recorded.get("controls"):
            print("Controls:\n\n" + table(recorded["controls"]) + "\n")
        print("Claims:\n\n" + table(recorded["claims"]) + "\n")


if __name__ == "__main__":
    main()
