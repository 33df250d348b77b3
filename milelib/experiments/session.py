"""A notebook's session: made once from its parameters cell, it checks them, builds the base config,
and holds what every later cell needs (the experiment, seeds, output folder, run store, jobs,
launcher). Four calls make a notebook: `describe()` the data, `run()` the experiment's runs (its
points, or its stages), `decide(table)` its controls and claims, `record(table, decision)`. The
command line (`milelib sweep NAME`) makes the same session, so a notebook and the shell run the same
runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import sweep
from ..store import store_dir
from ..evidence import Verdicts
from ..notices import warn
from ..results import notebook_dir
from .protocol import check_parameters, decide, get

SMOKE_BANNER = ("SMOKE PROFILE: these runs are seconds long, so every number and verdict below proves that the "
                "wiring works and nothing about the paper's claims; run PROFILE='quick' for the evidence")
CONTROLS_ONLY = "controls_only"  # a record's column: a run on a control seed, read by the controls alone


@dataclass(frozen=True)
class Decision:
    """A notebook's verdicts: the positive controls, then its claims decided under them; shown as a
    reader sees them (the verdicts in sentences above a compact table, each under its heading)."""
    controls: pd.DataFrame
    claims: pd.DataFrame
    table: pd.DataFrame             # every run the controls and claims read, control seeds included
    banner: str | None = None       # on smoke results: they prove the wiring only
    group: str | None = None        # the column that splits the claims (08's stand-ins), for the figure

    def forest(self):
        """Every claim as a row: its gap, its interval at Holm's level and its 95% interval, the
        paper's gap, coloured by verdict (`plots.forest`)."""
        from .. import plots

        return plots.forest(self.claims, title="Each claim: its gap, interval at Holm's level (thick), 95% "
                            "interval (thin), the paper's gap (diamond)", group=self.group)

    def _parts(self):
        return (("Positive controls", Verdicts(self.controls, self.banner)),
                ("Claims", Verdicts(self.claims, self.banner)))

    def _repr_html_(self) -> str:
        return "".join(f"<h3>{title}</h3>{part._repr_html_()}" for title, part in self._parts())

    def __repr__(self) -> str:
        return "\n\n".join(f"{title}\n{repr(part)}" for title, part in self._parts())


@dataclass(kw_only=True)
class Session:
    name: str                       # the experiment (experiments.names())
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
        get_ = namespace.get
        session = cls(name=name, profile=namespace["PROFILE"], seeds=get_("SEEDS"), results_dir=namespace["RESULTS_DIR"],
                      settings={**(extra or {}), **namespace["SETTINGS"]}, jobs=get_("JOBS"), data_root=get_("DATA_ROOT"),
                      launcher=get_("LAUNCHER", "local"), gpus=get_("GPUS", 1), select=get_("SELECT", False))
        if session.profile == "smoke":
            print(SMOKE_BANNER)
        print(f"profile {session.profile!r}: {session.exp.profile(session.profile).note}\n"
              f"results in {session.out.resolve()}")
        return session

    def __post_init__(self):
        seeds = self.exp.profile(self.profile).seeds if self.seeds is None else self.seeds
        self.seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
        switch = next((k for k in ("method", "method.name") if k in self.settings), None)
        if switch:  # each point names its method: the switch would be dropped by some runs, and break others
            raise ValueError(f"SETTINGS switch every run's method ({switch}={self.settings[switch]!r}), but the runs of "
                             f"{self.exp.notebook} each choose their own (its tables compare them): give settings the "
                             f"runs do not choose (e.g. optim.weight_decay=1e-3), or train one method with `milelib train`")
        overridden = self.exp.overridden(self.profile, self.settings, self.data_root)
        axis = sorted(key for key, values in overridden.items() if len(values) > 1)
        if axis:  # the runs set it themselves: the given value would be overridden there, silently
            raise ValueError(f"SETTINGS sets {axis[0]}, which the runs of {self.exp.notebook} set themselves (an axis of "
                             f"the experiment): change its values in {self.module.__name__.replace('.', '/')}.py, or "
                             f"train one value with `milelib train --experiment {self.name} --set {axis[0]}=...`")
        for key, (value,) in sorted(overridden.items()):  # one run's own fixed choice: said, not refused
            warn(f"SETTINGS {key}={self.settings[key]!r} does not reach the runs of {self.exp.notebook} that set "
                 f"{key}={value!r} themselves; it reaches every other run")

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
        return store_dir(self.results_dir, self.profile)

    def describe(self):
        """What the runs' data hold (the stand-in's labels, or the images per split on disk)."""
        if self.exp.describe is not None:
            return self.exp.describe(self.base, self.profile)
        return describe_data(self.base)

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

    def control_seeds(self) -> tuple:
        """The profile's control seeds that are not the session's: the control runs train on them too."""
        return tuple(s for s in self.exp.profile(self.profile).control_seeds if s not in self.seeds)

    def with_control_runs(self, table: pd.DataFrame) -> pd.DataFrame:
        """`table` and the experiment's control runs on the control seeds (`control_seeds`), marked
        CONTROLS_ONLY: a control decided by a paired interval needs more seeds than a claim may afford
        (LL-R above AN on ReaL-like: +0.6 mAP, interval -0.1 to +1.3 over 5 seeds; +0.7, +0.3 to +1.1
        over 10)."""
        extra = self.control_seeds()
        if not extra:
            return table
        if self.exp.control_seed_runs is not None:  # experiments in stages know their control runs
            more = self.exp.control_seed_runs(self, table, extra)
        else:
            more = self.run_points({label: p for label, p in self.exp.points_for(self.profile, self.base).items()
                                    if label in self.exp.control_runs}, extra)
        attrs, table = table.attrs, pd.concat([table, more.assign(**{CONTROLS_ONLY: True})], ignore_index=True)
        table.attrs = attrs  # (03 passes its encoders there)
        return table

    def decide(self, table: pd.DataFrame) -> Decision:
        """The positive controls (on the control seeds too), then the claims as one family, each
        decided by its paired interval under the family-wise rule, untestable where a control that
        concerns it failed (docs/evidence.md)."""
        every = self.with_control_runs(table)
        controls = self.exp.controls(every, self.base, self.profile, self.results_dir)
        claims = self.exp.claims(table, self.profile)
        return Decision(controls, decide(controls, claims, self.exp.group), every,
                        SMOKE_BANNER if self.profile == "smoke" else None, self.exp.group)

    def record(self, table: pd.DataFrame, decision: Decision) -> None:
        """metrics.json (every run the verdicts read, the controls, the claims) and provenance.json,
        and the claims' forest plot (claims_forest.png) beside them."""
        import matplotlib.pyplot as plt

        from .. import plots

        self.exp.record(self.out, self.profile, self.base, table, decision.claims, self.started, decision.controls,
                        every=decision.table)
        figure = decision.forest()
        plots.savefig(figure, self.out, "claims_forest")
        plt.close(figure)


def describe_data(cfg):
    """What a run's data hold, as a small table: the ReaL-like stand-in's labels (real_like.describe),
    or, for data on disk, the images per split and the ReaL labels where there are any."""
    from .. import data as datasets
    from .real_like import describe

    if cfg.data.name == "grids":
        return describe(cfg)
    data = datasets.build(cfg.data)
    rows = [("classes", data.num_classes), ("training images", len(data.train))]
    for name, split in data.splits.items():
        rows.append((f"{name} images", len(split.labels)))
        if split.true_sets is not None and name != data.threshold_split:
            sizes = split.true_sets.sum(axis=1)
            rows += [(f"{name} images with ReaL labels", int((sizes > 0).sum())),
                     (f"{name} ReaL labels per labelled image", round(float(sizes[sizes > 0].mean()), 3))]
    return pd.DataFrame(rows, columns=["data", "value"]).set_index("data")
