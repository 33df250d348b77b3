"""What every experiment declares, and the registry that lists them.

An experiment module (one per notebook) declares its profiles, its runs (points, or stages that
train in turn), the positive controls its claims need, and the claims themselves, then registers
the whole as `EXPERIMENT = register(Experiment(...))`. Every list of notebooks (the command line's
choices, `make reproduce`, the tests, the notebook sync) is derived from this registry, so adding a
notebook is one experiment module and one notebook source (docs/library.md, "Adding a notebook").
"""
from __future__ import annotations

import difflib
import importlib
import itertools
import os
import pkgutil
import time
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from ..config import RunConfig, check_choice

PROFILE_NAMES = ("smoke", "quick", "paper")
GPU_PROFILES = ("paper",)  # days of training on a CPU: they ask for cuda, and a CPU run must say run.device=cpu
FRAMEWORK = ("protocol", "session", "controls", "real_like")  # modules of the package that declare no experiment


@dataclass(frozen=True)
class Profile:
    settings: dict                  # dotted overrides of RunConfig's defaults
    seeds: tuple = (0,)
    note: str = ""                  # what the profile runs on, said plainly
    data_root: bool = False         # reads datasets from disk: data.root from DATA_ROOT or MILELIB_DATA
    control_seeds: tuple = ()       # seeds on which the control runs train too, beside `seeds`: enough
                                    # that the positive controls are decided (Session.decide)


@dataclass(frozen=True, kw_only=True)
class Experiment:
    name: str                       # what the command line and Session call it
    notebook: str                   # its notebook, NN_name (notebooks/NN_name.py); "" for a protocol's own runs
    profiles: dict[str, Profile]
    points: dict | Callable = field(default_factory=dict)  # label -> dotted overrides: the runs of one
                                    # seed; or a function (profile name, base config) -> such a dict
    axes: tuple = ()                # dotted keys the points vary, shown as columns of the table
    control_runs: tuple = ()        # labels of its points that the positive controls read (Sigmoid,
                                    # the oracle, LL-R): trained on the profile's control_seeds too
    stages: Callable | None = None  # runs in stages (03: pretraining, teachers, students; 08: selection,
                                    # then final runs): (session) -> table
    controls: Callable | None = None  # (table, base, profile, results_dir) -> control rows
    claims: Callable | None = None  # (table, profile) -> claim rows: the notebook's family of claims
    set_by_runs: Callable | None = None  # (profile, base) -> every run's dotted settings, for experiments
                                    # in stages (the others': their points)
    group: str | None = None        # a column splitting controls and claims into independent parts
                                    # (08: its two stand-ins; a failed control concerns its own part only)
    control_seed_runs: Callable | None = None  # (session, table, seeds) -> the control runs on those seeds,
                                    # for experiments in stages (the others': their control_runs points)
    describe: Callable | None = None  # (base, profile) -> what the data hold, where not one stand-in's

    def profile(self, name: str) -> Profile:
        check_choice("profile", name, PROFILE_NAMES)
        return self.profiles[name]

    def points_for(self, profile: str, base: RunConfig | None = None) -> dict[str, dict]:
        if not callable(self.points):
            return self.points
        return self.points(profile, base or self.config(profile))

    def run_settings(self, profile: str, base: RunConfig) -> list[dict]:
        """The dotted settings of each of its runs (every stage's), in a fixed order."""
        if self.set_by_runs is not None:
            return list(self.set_by_runs(profile, base))
        return list(self.points_for(profile, base).values())

    def overridden(self, profile: str, settings: dict, data_root=None) -> dict[str, list]:
        """The keys of `settings` that some runs set themselves, to values the setting does not change,
        with those values: there the given value would be dropped. Two or more values make the key an
        axis of the experiment (05's rho); one other than the given is a run's own fixed choice (a
        distillation student's k_t = 0). A run that derives a key from the base config (01's steps scaled to its fraction)
        follows the setting, and is no reason. Settings the profile's base cannot take are left to
        its own error."""
        try:
            without, given = self.config(profile, data_root=data_root), self.config(profile, settings, data_root)
        except ValueError:
            return {}
        fixed: dict[str, list] = {}
        for old, new in zip(self.run_settings(profile, without), self.run_settings(profile, given)):
            for key in settings:
                if key in new and new[key] == old.get(key) and new[key] not in fixed.get(key, []):
                    fixed.setdefault(key, []).append(new[key])
        return {key: values for key, values in fixed.items() if len(values) > 1 or values[0] != settings[key]}

    def config(self, profile: str, overrides: dict | None = None, data_root=None) -> RunConfig:
        """The base run config of `profile`, then `overrides` (dotted keys) applied on top: a layer
        of its own, so switching the method there drops the profile's settings of the old one.
        A profile that reads files from disk takes `data_root`, else the MILELIB_DATA variable."""
        chosen = self.profile(profile)
        root = (data_root or os.environ.get("MILELIB_DATA")) if chosen.data_root else None
        gpu = {"run.device": "cuda"} if profile in GPU_PROFILES else {}  # refused without a GPU, unless run.device=cpu
        return RunConfig().override({**chosen.settings, **gpu, **({"data.root": root} if root else {})}).override(
            overrides or {})

    def record(self, folder, profile: str, base: RunConfig, table, claims, started: float, controls=None,
               every=None) -> None:
        """A notebook's last step: metrics.json (every run's metrics, those on control seeds included
        (`every`), the controls, the claims) and provenance.json (the configs, git revision, packages,
        device, wall time) in `folder`, each atomically. `seeds` are the claims' seeds."""
        from ..results import save_results

        note, seeds = self.profile(profile).note, sorted({int(s) for s in table.seed.dropna()})
        configs = {"base": base.to_dict(), "points": table.attrs.get("points") or self.points_for(profile, base)}
        runs = table if every is None else every
        save_results(folder, {"profile": profile, "seeds": seeds, "data": note, "records": records(runs),
                              "controls": [] if controls is None else records(controls), "claims": records(claims)},
                     configs, time.time() - started, profile=profile, seeds=seeds, data=note)
        print(f"wrote {folder}/metrics.json and provenance.json; {time.time() - started:.0f} s in all")


def decide(controls, claims, group: str | None = None):
    """The claims decided under their controls as one family (`evidence.decide`: Holm's correction
    over the testable ones); with `group`, a failed control concerns only the claims of its own part
    (08's stand-ins), and the family is still the whole notebook."""
    from .. import evidence

    if group is None:
        return evidence.decide(controls, claims)
    return evidence.adjust(pd.concat([evidence.untestable_unless(controls[controls[group] == g], claims[claims[group] == g])
                                      for g in claims[group].unique()], ignore_index=True))


def by_notebook(notebook: str) -> Experiment:
    """The registered experiment of `notebook` (NN_name)."""
    found = {e.notebook: e for e in experiments()}
    check_choice("notebook", notebook, tuple(found))
    return found[notebook]


def recorded_table(records) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A record's runs as (the claims' table, every run): runs on control seeds only are read by the
    controls alone."""
    every = pd.DataFrame(records)
    only = every["controls_only"].eq(True) if "controls_only" in every else pd.Series(False, index=every.index)
    return every[~only].reset_index(drop=True), every


def recompute(notebook: str, records, profile: str = "quick") -> pd.DataFrame:
    """A notebook's claims recomputed from its recorded runs alone (metrics.json's `records`), each
    with its per-seed `gaps`: what `tools/verdicts.py` pools and re-decides."""
    return by_notebook(notebook).claims(recorded_table(records)[0], profile)


def recompute_controls(notebook: str, records, base: RunConfig, profile: str = "quick", results_dir="results"):
    """A notebook's positive controls recomputed from its recorded runs (those on control seeds too)."""
    return by_notebook(notebook).controls(recorded_table(records)[1], base, profile, results_dir)


def records(df) -> list[dict]:
    """A table's rows as JSON-ready dicts (NaN is not JSON: None)."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


_REGISTRY: dict[str, tuple[Experiment, str]] = {}  # name -> (experiment, its module)


def register(experiment: Experiment, module: str) -> Experiment:
    """Add an experiment to the registry: `EXPERIMENT = register(Experiment(...), __name__)` in its module."""
    known = _REGISTRY.get(experiment.name)
    if known is not None and known[1] != module:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered by {known[1]}: "
                         f"choose another name")
    _REGISTRY[experiment.name] = (experiment, module)
    return experiment


def _discover() -> dict[str, tuple[Experiment, str]]:
    """Every experiment module of this package imported once, so that each has registered itself."""
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in FRAMEWORK:
            importlib.import_module(f"{__package__}.{module.name}")
    return _REGISTRY


def experiments() -> list[Experiment]:
    """The registered experiments in notebook order."""
    return sorted((e for e, _ in _discover().values()), key=lambda e: e.notebook)


def names() -> dict[str, str]:
    """Experiment name -> its notebook, in notebook order."""
    return {e.name: e.notebook for e in experiments()}


def get(name: str):
    """The module of experiment `name`: its EXPERIMENT and the helpers its notebook calls."""
    check_choice("experiment", name, tuple(names()))
    return importlib.import_module(_REGISTRY[name][1])


def grid(axes: dict[str, list], label=None) -> dict[str, dict]:
    """The points of a full grid over dotted keys: {"teacher_steps=10, student_steps=30": {...}}."""
    keys = list(axes)
    points = {}
    for values in itertools.product(*axes.values()):
        settings = dict(zip(keys, values))
        name = label(settings) if label else ", ".join(f"{k.split('.')[-1]}={v}" for k, v in settings.items())
        points[name] = settings
    return points


# The parameters cell of every notebook, and what each takes.
PARAMETERS = {"PROFILE": "one of smoke, quick, paper", "SEEDS": "None, a seed or a list of seeds (ints >= 0)",
              "RESULTS_DIR": "a folder", "DATA_ROOT": "None or a folder", "JOBS": "None or an int >= 1",
              "SETTINGS": "a mapping of dotted settings, e.g. {'optim.steps': 100}",
              "LAUNCHER": "local, torchrun or slurm", "GPUS": "an int >= 1 (processes per run under torchrun or slurm)",
              "SELECT": "True or False (notebook 08: rerun the selection sweep)"}


def check_parameters(namespace: dict) -> None:
    """Check a notebook's parameters as papermill left them (`globals()` of the notebook): a name
    it does not know (papermill adds `-p SEED 1`, or `-p profile smoke`, as a new variable,
    silently) or a value of the wrong kind fails in one line."""
    for name in (k for k in namespace if not k.startswith("_") and k.upper() in PARAMETERS and k not in PARAMETERS):
        raise ValueError(f"unknown notebook parameter {name!r}: parameters are upper case, write -p {name.upper()} "
                         f"(the notebook would have run with its default {name.upper()}={namespace.get(name.upper())!r})")
    for name in (k for k in namespace if k.isupper() and not k.startswith("_")):
        if name not in PARAMETERS:
            close = difflib.get_close_matches(name, PARAMETERS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown notebook parameter {name!r}: {hint}the parameters are {', '.join(PARAMETERS)}")
    from ..sweep import LAUNCHERS

    get_ = namespace.get
    seeds = get_("SEEDS")
    seed_list = [seeds] if isinstance(seeds, int) else seeds
    bad = [name for name, ok in (
        ("PROFILE", get_("PROFILE") in PROFILE_NAMES),
        ("SEEDS", seeds is None or isinstance(seed_list, (list, tuple)) and len(seed_list) > 0
         and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seed_list)
         and len(set(seed_list)) == len(seed_list)),
        ("RESULTS_DIR", isinstance(get_("RESULTS_DIR"), str) and get_("RESULTS_DIR").strip() != ""),
        ("DATA_ROOT", get_("DATA_ROOT") is None or isinstance(get_("DATA_ROOT"), str)),
        ("JOBS", get_("JOBS") is None or isinstance(get_("JOBS"), int) and not isinstance(get_("JOBS"), bool)
         and get_("JOBS") >= 1),
        ("SETTINGS", isinstance(get_("SETTINGS"), dict) and all(isinstance(k, str) for k in get_("SETTINGS"))),
        ("LAUNCHER", get_("LAUNCHER") in LAUNCHERS),
        ("GPUS", isinstance(get_("GPUS"), int) and not isinstance(get_("GPUS"), bool) and get_("GPUS") >= 1),
        ("SELECT", isinstance(get_("SELECT"), bool)))
        if name in namespace and not ok]
    if bad:
        name = bad[0]
        how = ("-p SEEDS 3 for one, -y 'SEEDS: [0, 1]' for a list" if name == "SEEDS" else
               "-y 'SETTINGS: {optim.steps: 100}'" if name == "SETTINGS" else f"-p {name} VALUE")
        raise ValueError(f"notebook parameter {name} is {namespace[name]!r}: it takes {PARAMETERS[name]} "
                         f"(with papermill: {how})")
    taken = sorted(set(get_("SETTINGS") or {}) & {"seed", "run.out_dir"})  # the sweep sets both for each run
    if taken:
        raise ValueError(f"notebook parameter SETTINGS sets {taken[0]}, which the notebook decides for each run "
                         f"(its seed, its folder in the run store): give seeds as SEEDS, the folder as RESULTS_DIR")
