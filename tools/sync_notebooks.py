"""Writes each notebooks/NN_name.ipynb from its jupytext source notebooks/NN_name.py (percent
format): no outputs, stable cell ids, paired so JupyterLab's jupytext keeps both in step.

    python tools/sync_notebooks.py          # regenerate (make notebooks)
    python tools/sync_notebooks.py --check  # exit 1 naming any notebook that disagrees with its source
"""
import sys
from pathlib import Path

import jupytext
import nbformat

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}, "jupytext": {"formats": "ipynb,py:percent"}}


def render(source: Path) -> str:
    nb = jupytext.read(source)
    nb.metadata = METADATA
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable: regenerating changes only what was edited
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def main(check: bool) -> int:
    stale = []
    for source in sorted(FOLDER.glob("[0-9][0-9]_*.py")):
        target, text = source.with_suffix(".ipynb"), render(source)
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
    if stale:
        print(f"out of step with their .py sources: {', '.join(stale)}; run make notebooks", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 naming any notebook out of step")
    sys.exit(main(parser.parse_args().check))
