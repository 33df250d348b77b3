"""Writes each notebooks/NN_name.ipynb from its jupytext source notebooks/NN_name.py (percent
format): no outputs, stable cell ids, paired so JupyterLab's jupytext keeps both in step.

    python tools/sync_notebooks.py          # regenerate (make notebooks)
    python tools/sync_notebooks.py --check  # exit 1 naming any notebook that disagrees with its source,
                                            # or a registered experiment without its notebook source
"""
import copy
import json
import sys
from pathlib import Path

import jupytext
import nbformat

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
FILTER = ("-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version,"
          "-kernelspec,-language_info")  # as jupytext.toml: what the .py header leaves out
PYTHON = "3.11.7"  # the reference environment's: what ipykernel writes as language_info.version
# What JupyterLab and its jupytext write when a notebook is saved (the kernel's spec and language),
# so an autosave leaves the committed files as they are (tests/test_notebooks.py saves each one).
METADATA = {"jupytext": {"formats": "ipynb,py:percent", "main_language": "python", "notebook_metadata_filter": FILTER},
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                              "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                              "pygments_lexer": "ipython3", "version": PYTHON}}
VOLATILE = ("version",)  # language_info keys that follow the Python running the kernel: not compared


def render(source: Path) -> str:
    nb = jupytext.read(source)
    nb.metadata = copy.deepcopy(METADATA)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable: regenerating changes only what was edited
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def comparable(text: str) -> dict:
    """A notebook's JSON without what changes with the machine that saved it."""
    nb = json.loads(text)
    for key in VOLATILE:
        nb.get("metadata", {}).get("language_info", {}).pop(key, None)
    return nb


def unpaired() -> list[str]:
    """Registered experiments without a notebook source, and sources without an experiment."""
    from milelib.experiments import names

    sources = {p.stem for p in FOLDER.glob("[0-9][0-9]_*.py")}
    registered = set(names().values())
    return ([f"experiment notebook {n} has no notebooks/{n}.py" for n in sorted(registered - sources)] +
            [f"notebooks/{n}.py has no registered experiment" for n in sorted(sources - registered)])


def main(check: bool) -> int:
    lonely = unpaired()
    for line in lonely:
        print(line, file=sys.stderr)
    stale = []
    for source in sorted(FOLDER.glob("[0-9][0-9]_*.py")):
        target, text = source.with_suffix(".ipynb"), render(source)
        if check:
            if not target.exists() or comparable(target.read_text()) != comparable(text):
                stale.append(target.name)
        else:
            target.write_text(text)
    if stale:
        print(f"out of step with their .py sources: {', '.join(stale)}; run make notebooks", file=sys.stderr)
    return 1 if stale or lonely else 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 naming any notebook out of step")
    sys.exit(main(parser.parse_args().check))
