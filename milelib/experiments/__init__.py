"""One module per notebook: its profiles, its runs, its positive controls and its claims, registered
as an `Experiment` (protocol.py). A notebook, the command line and `make reproduce` all go through a
`Session` (session.py): `Session.from_parameters(name, globals())`, `run()`, `decide(table)`,
`record(table, decision)`. `get(name)` returns an experiment's module; `get(name).EXPERIMENT.config(profile)`
the base run config of a profile.
"""
from __future__ import annotations

from .protocol import (GPU_PROFILES, PARAMETERS, PROFILE_NAMES, Experiment, Profile, check_parameters, experiments,
                       get, grid, names, recompute, recompute_controls, register)
from .session import Decision, Session, describe_data


def __getattr__(attr: str):
    if attr == "NAMES":  # derived from the registry each time: experiment -> its notebook
        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def run_experiment(exp, profile: str, seeds=None, results_dir="results", overrides: dict | None = None,
                   jobs: int | None = None, points: dict | None = None, data_root=None, log=print,
                   launcher: str = "local", gpus: int = 1):
    """An experiment's runs (or only `points`) under `profile`, in the shared store of `results_dir`:
    the same runs as its notebook (a `Session`'s `run`), one row each."""
    return Session(name=exp.name, profile=profile, seeds=seeds, results_dir=results_dir, settings=overrides or {},
                   jobs=jobs, data_root=data_root, launcher=launcher, gpus=gpus, log=log).run(points)


__all__ = ["GPU_PROFILES", "NAMES", "PARAMETERS", "PROFILE_NAMES", "Decision", "Experiment", "Profile", "Session",
           "check_parameters", "describe_data", "experiments", "get", "grid", "names", "recompute", "recompute_controls",
           "register", "run_experiment"]
