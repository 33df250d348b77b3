"""A notebook's session: made once from its parameters cell, it checks them, builds the base config,
and holds what every later cell needs (the experiment, seeds, output folder, run store, jobs,
launcher). `run()` is the experiment's one entry point: its points, or its stages (notebook 03's
pretraining, fine-tuning and students; notebook 08's selection and final runs); `record()` writes
the table, controls and claims with their provenance. The command line (`milelib sweep NAME`)
makes the same session, so a notebook and the shell run the same runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import sweep
from ..evidence import Verdicts
from ..results import notebook_dir
from . import check_parameters, get


SMOKE_BANNER = ("SMOKE PROFILE: these runs are seconds long, so every number and verdict below proves that the "
                "wiring works and nothing about the paper's claims; run PROFILE='quick' for the evidence")


@dataclass
class Session:
    name: str                       # the experiment (experiments.NAMES)
    profile: str = "quick"
    seeds: tuple | int | None = None  # None: the profile's; one int: that seed
    results_dir: str = "results"
    settings: dict = field(default_factory=dict)  # dotted settings over the profile's
    jobs: int | None = None
    data_root: str | None = None
    launcher: str = "local"
    gpus: int = 1
    select: bool = False            # notebook 08: rerun its selection instead of reading selection.json
    log: object = print
    started: float = field(default_factory=time.time)

    @classmethod
    def from_parameters(cls, name: str, namespace: dict, extra: dict | None = None) -> Session:
        """The session of a notebook's parameters cell (`globals()`): every parameter checked first,
        in one line; `extra` settings go under SETTINGS (02's ImageNet val on the paper path)."""
        check_parameters(namespace)
        session = cls(name, namespace["PROFILE"], namespace.get("SEEDS"), namespace["RESULTS_DIR"],
                      {**(extra or {}), **namespace["SETTINGS"]}, namespace.get("JOBS"), namespace.get("DATA_ROOT"), namespace.get("LAUNCHER", "local"),
                      namespace.get("GPUS", 1), namespace.get("SELECT", False))
        if session.profile == "smoke":
            print(SMOKE_BANNER)
        print(f"profile {session.profile!r}: {session.exp.profile(session.profile).note}\n"
              f"results in {session.out.resolve()}")
        return session

    def show(self, claims: pd.DataFrame) -> Verdicts:
        """Claims (or controls) as a reader sees them: the verdicts in sentences above a compact table,
        and on smoke results the banner saying they prove the wiring only."""
        return Verdicts(claims, SMOKE_BANNER if self.profile == "smoke" else None)

    def __post_init__(self):
        switch = next((k for k in ("method", "method.name") if k in self.settings), None)
        if switch:  # each point names its method: the switch would be dropped by some runs, and break others
            raise ValueError(f"SETTINGS switch every run's method ({switch}={self.settings[switch]!r}), but the runs of "
                             f"{self.exp.notebook} each choose their own (its tables compare them): give settings of those "
                             f"methods instead (e.g. method.rho=0.2), or train one method with `milelib train`")
        seeds = self.exp.profile(self.profile).seeds if self.seeds is None else self.seeds
        self.seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)

    @cached_property
    def module(self):
        return get(self.name)

    @property
    def exp(self):
        return self.module.EXPERIMENT

    @cached_property
    def base(self):
        return self.exp.config(self.profile, self.settings, self.data_root)

    @property
    def out(self) -> Path:
        return notebook_dir(self.results_dir, self.exp.notebook, self.profile)

    @property
    def store(self) -> Path:
        return sweep.store_dir(self.results_dir, self.profile)

    def run_points(self, points, seeds=None):
        """Train `points` (label -> dotted settings, or a function of the seed) over `seeds` (the
        session's by default) in the run store; the sweep's table."""
        return sweep.run(points, self.base, self.seeds if seeds is None else seeds, self.store, axes=self.exp.axes,
                         jobs=self.jobs, log=self.log, launcher=self.launcher, gpus=self.gpus)

    def run(self, points: dict | None = None):
        """Every run of the experiment (or only `points`), one row each; finished runs are read back."""
        if points is None and self.exp.stages is not None:
            return self.exp.stages(self)
        return self.run_points(points or self.exp.points_for(self.profile, self.base))

    def controls(self, table, positive_controls):
        """`positive_controls(table, base, profile, results_dir)` on the table, the experiment's
        control runs also trained on the profile's control seeds (those not among the session's):
        a control decided by a paired interval needs more seeds than a claim may afford (LL-R above
        AN on ReaL-like: +0.6 mAP, interval -0.1 to +1.3 over 5 seeds; +0.7, +0.3 to +1.1 over 10)."""
        extra = tuple(s for s in self.exp.profile(self.profile).control_seeds if s not in self.seeds)
        points = {label: p for label, p in self.exp.points_for(self.profile, self.base).items()
                  if label in self.exp.control_runs} if extra else {}
        if points:
            attrs, table = table.attrs, pd.concat([table, self.run_points(points, extra)], ignore_index=True)
            table.attrs = attrs  # (03 passes its encoders there)
        return positive_controls(table, self.base, self.profile, self.results_dir)

    def record(self, table, claims, controls=None) -> None:
        self.exp.record(self.out, self.profile, self.base, table, claims, self.started, controls)
