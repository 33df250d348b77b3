"""Starts a new notebook: its experiment module and its notebook source, from the templates below,
then the .ipynb (tools/sync_notebooks.py). The two files are all a notebook needs: the registry
lists it for the command line, `make reproduce`, the tests and the notebook sync.

    python tools/new_notebook.py 09 label_density "Where iterated learning helps"

The experiment it writes is a working one (Sigmoid, Softmax and MILe on the ReaL-like stand-in,
with its controls and one claim): edit its points and claims, and the notebook's figures.
Refuses to overwrite a file.
"""
import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = '''"""{title} (notebook {notebook}): its runs, its controls and its claims.
Made by tools/new_notebook.py: edit the points and the claims."""
from __future__ import annotations

import pandas as pd

from ..evidence import claim
from .protocol import Experiment, register
from .real_like import CONTROL_RUNS, MILE, PROFILES, baselines, positive_controls


def points(profile: str, base) -> dict[str, dict]:
    """The runs of one seed: the baselines, the control runs, and MILe."""
    return {{**baselines(base), "MILe": MILE}}


def claims(table: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    """The family of claims the notebook decides, each a paired interval over seeds."""
    return pd.DataFrame([claim(table, "MILe", "Sigmoid", "map", "MILe above Sigmoid on mAP", "not in the paper")])


EXPERIMENT = register(Experiment(name="{name}", notebook="{notebook}", profiles=PROFILES, points=points,
                                 control_runs=CONTROL_RUNS, controls=positive_controls, claims=claims), __name__)
'''

NOTEBOOK = '''# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version,-kernelspec,-language_info
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # {number} · {title}
#
# **What it asks.** (Say the question, and the paper's table or figure it extends.)
#
# **On what.** The ReaL-like stand-in; its labels are described below the parameters.
#
# | profile | data | runtime |
# |---|---|---|
# | `smoke` | the stand-in's smoke profile, 1 seed | under a minute on a CPU (wiring only) |
# | `quick` | the stand-in at its converged length, 5 seeds | (measure it) |

# %% tags=["parameters"]
PROFILE = "quick"           # smoke | quick | paper
SEEDS = None                # None: the profile's seeds
RESULTS_DIR = "../results"  # relative to this notebook's folder; runs are kept in RESULTS_DIR/runs/PROFILE
DATA_ROOT = None            # folder holding the data for the paper profile; None reads MILELIB_DATA
JOBS = None                 # runs side by side; None: one per `run.threads` share of the cores (CPU)
SETTINGS = {{}}               # dotted settings over the profile's, e.g. {{"optim.weight_decay": 1e-3}}
LAUNCHER = "local"          # local | torchrun | slurm: runs on GPUS processes each, launched from here or as a SLURM array
GPUS = 1                    # processes (GPUs) per run under torchrun or slurm

# %%
from milelib import experiments, report

session = experiments.Session.from_parameters("{name}", globals())  # checks every parameter first
session.describe()

# %%
table = session.run()
report.mean_std_table(table, ["map", "f1@0.5", "accuracy"])

# %% [markdown]
# ## Positive controls, then the claims
# How a verdict is made: [docs/evidence.md](../docs/evidence.md).

# %%
decision = session.decide(table)
decision

# %%
decision.forest()

# %%
session.record(table, decision)
'''


def create(number: str, name: str, title: str, root: Path = ROOT) -> list[Path]:
    """Write the experiment module and the notebook source and .ipynb under `root`; the paths."""
    if not re.fullmatch(r"\d\d", number) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"expected a two-digit number and a snake_case name (e.g. 09 label_density), got {number!r} "
                         f"and {name!r}")
    notebook = f"{number}_{name}"
    module = root / "milelib" / "experiments" / f"{name}.py"
    source = root / "notebooks" / f"{notebook}.py"
    taken = [p for p in (module, source, source.with_suffix(".ipynb"), *(root / "notebooks").glob(f"{number}_*.py"))
             if p.exists()]
    if taken:
        raise ValueError(f"{taken[0]} exists: choose another number or name (this tool never overwrites a file)")
    module.write_text(EXPERIMENT.format(name=name, notebook=notebook, title=title))
    source.write_text(NOTEBOOK.format(name=name, number=number, title=title))
    sys.path.insert(0, str(Path(__file__).parent))
    from sync_notebooks import render

    source.with_suffix(".ipynb").write_text(render(source))
    return [module, source, source.with_suffix(".ipynb")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("number", help="two digits, e.g. 09")
    parser.add_argument("name", help="the experiment's name in snake_case, e.g. label_density")
    parser.add_argument("title", help="the notebook's title")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this one)")
    args = parser.parse_args()
    try:
        for path in create(args.number, args.name, args.title, args.root):
            print(f"wrote {path}")
    except ValueError as error:
        sys.exit(f"new_notebook: {error}")
