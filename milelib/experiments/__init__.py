"""One module per notebook: its profiles, the runs it needs (methods or a sweep), the paper's
numbers and the claims it checks. `get(name)` returns the module; `exp.EXPERIMENT.config(profile)`
the base run config of a profile.
"""
from __future__ import annotations

import difflib
import importlib
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from ..config import RunConfig, check_choice

PROFILE_NAMES = ("smoke", "quick", "paper")
GPU_PROFILES = ("paper",)  # days of training on a CPU: they ask for cuda, and a CPU run must say run.device=cpu
NAMES = {"imagenet_fractions": "01_imagenet_fractions", "webvision": "02_webvision",
         "self_supervised": "03_self_supervised",
         "kt_ks_heatmap": "04_kt_ks_heatmap", "rho_sweep": "05_rho_sweep", "multi_mnist": "06_multi_mnist",
         "distillation": "07_distillation", "single_positive": "08_single_positive"}  # experiment -> its notebook


@dataclass(frozen=True)
class Profile:
    settings: dict                  # dotted overrides of RunConfig's defaults
    seeds: tuple = (0,)
    note: str = ""                  # what the profile runs on, said plainly
    data_root: bool = False         # reads datasets from disk: data.root from DATA_ROOT or MILELIB_DATA
    control_seeds: tuple = ()       # seeds on which the control runs train too, beside `seeds`: enough
                                    # that the positive controls are decided (Session.controls)


@dataclass(frozen=True)
class Experiment:
    name: str
    profiles: dict[str, Profile]
    points: dict | Callable         # label -> dotted overrides: the runs of one seed; or a function
                                    # (profile name, base config) -> such a dict
    axes: tuple = field(default=())  # dotted keys the points vary, shown as columns of the table
    control_runs: tuple = ()         # labels of its points that the positive controls read (Sigmoid,
                                     # the oracle, LL-R): trained on the profile's control_seeds too
    stages: Callable | None = None   # runs in stages (03: pretraining, teachers, students, each naming the
                                     # earlier's files; 08: selection, then final runs): (session) -> table,
                                     # session.run_points(points, seeds) training them in its store

    @property
    def notebook(self) -> str:
        return NAMES[self.name]

    def profile(self, name: str) -> Profile:
        check_choice("profile", name, PROFILE_NAMES)
        return self.profiles[name]

    def points_for(self, profile: str, base: RunConfig | None = None) -> dict[str, dict]:
        if not callable(self.points):
            return self.points
        return self.points(profile, base or self.config(profile))

    def config(self, profile: str, overrides: dict | None = None, data_root=None) -> RunConfig:
        """The base run config of `profile`, then `overrides` (dotted keys) applied on top: a layer
        of its own, so switching the method there drops the profile's settings of the old one.
        A profile that reads files from disk takes `data_root`, else the MILELIB_DATA variable."""
        chosen = self.profile(profile)
        root = (data_root or os.environ.get("MILELIB_DATA")) if chosen.data_root else None
        gpu = {"run.device": "cuda"} if profile in GPU_PROFILES else {}  # refused without a GPU, unless run.device=cpu
        return RunConfig().override({**chosen.settings, **gpu, **({"data.root": root} if root else {})}).override(
            overrides or {})


    def record(self, folder, profile: str, base: RunConfig, table, claims, started: float, controls=None) -> None:
        """A notebook's last step: metrics.json (every run's metrics, the controls, the claims) and
        provenance.json (the configs, git revision, packages, device, wall time) in `folder`, each
        atomically."""
        from ..results import save_results

        note, seeds = self.profile(profile).note, sorted({int(s) for s in table.seed.dropna()})
        configs = {"base": base.to_dict(), "points": table.attrs.get("points") or self.points_for(profile, base)}
        save_results(folder, {"profile": profile, "seeds": seeds, "data": note, "records": _records(table),
                              "controls": [] if controls is None else _records(controls), "claims": _records(claims)},
                     configs, time.time() - started, profile=profile, seeds=seeds, data=note)
        print(f"wrote {folder}/metrics.json and provenance.json; {time.time() - started:.0f} s in all")


def _records(df) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")  # NaN is not JSON


# The parameters cell of every notebook, and what each takes.
PARAMETERS = {"PROFILE": "one of smoke, quick, paper", "SEEDS": "None, a seed or a list of seeds (ints >= 0)",
              "RESULTS_DIR": "a folder", "DATA_ROOT": "None or a folder", "JOBS": "None or an int >= 1",
              "SETTINGS": "a mapping of dotted settings, e.g. {'optim.steps': 100}",
              "LAUNCHER": "local, torchrun or slurm", "GPUS": "an int >= 1 (processes per run under torchrun or slurm)",
              "SELECT": "True or False (notebook 08: rerun the selection sweep)"}


def check_parameters(namespace: dict) -> None:
    """Check a notebook's parameters as papermill left them (`globals()` of the notebook): a name
    it does not know (papermill adds `-p SEED 1` as a new variable, silently) or a value of the
    wrong kind fails in one line."""
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


def get(name: str):
    """The module of experiment `name` (one of NAMES)."""
    check_choice("experiment", name, tuple(NAMES))
    return importlib.import_module(f"{__name__}.{name}")


def grid(axes: dict[str, list], label=None) -> dict[str, dict]:
    """The points of a full grid over dotted keys: {"teacher_steps=10, student_steps=30": {...}}."""
    keys = list(axes)
    points = {}
    for values in itertools.product(*axes.values()):
        settings = dict(zip(keys, values))
        name = label(settings) if label else ", ".join(f"{k.split('.')[-1]}={v}" for k, v in settings.items())
        points[name] = settings
    return points


def describe_data(cfg: RunConfig):
    """What a run's data hold, as a small table: the ReaL-like stand-in's labels (real_like.describe),
    or, for data on disk, the images per split and the ReaL labels where there are any."""
    import pandas as pd

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


from .session import Session  # noqa: E402 - the session builds on the helpers above


def run_experiment(exp, profile: str, seeds=None, results_dir="results", overrides: dict | None = None,
                   jobs: int | None = None, points: dict | None = None, data_root=None, log=print,
                   launcher: str = "local", gpus: int = 1):
    """An experiment's runs (or only `points`) under `profile`, in the shared store of `results_dir`:
    the same runs as its notebook (a `Session`'s `run`), one row each."""
    return Session(exp.name, profile, seeds, results_dir, overrides or {}, jobs, data_root, launcher, gpus,
                   log=log).run(points)


__all__ = ["NAMES", "PARAMETERS", "PROFILE_NAMES", "Experiment", "Profile", "Session", "check_parameters",
           "describe_data", "get", "grid", "run_experiment"]
