"""The command line, with the notebooks' configs:

    milelib train --experiment multi_mnist --profile quick --set method=sigmoid seed=1 run.out_dir=runs/s1
    milelib train --config run.json                   # a config file (RunConfig.to_dict, or a result.json)
    torchrun --nproc_per_node 8 -m milelib train --config run.json   # one run on 8 GPUs
    milelib sweep kt_ks_heatmap --profile quick --results-dir results [--launcher torchrun --gpus 8]
    milelib relabel photos/ --out photos.csv         # MILe's label sets for a folder of one's own
    milelib reproduce --profile quick
    milelib reproduce --profile paper --launcher torchrun --gpus 8 --set run.workers=12

`train` runs one config and prints its metrics as JSON (run it again with the same settings and
out_dir to resume a stopped run); `sweep` runs an experiment's runs into the shared run store, as
its notebook does, and prints the tidy table as CSV; `relabel` trains MILe on a class-folder
dataset K times (cross-fitting) and writes every image's out-of-sample label set and probabilities
to a CSV, with a review; `reproduce` executes every notebook (make reproduce). Ctrl-C stops at a step boundary; the same command resumes. Settings are dotted keys; values are read as
JSON where they parse (numbers, true/false, lists), `none` is None, anything else a string.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import textwrap
import threading

from . import experiments, sweep
from .config import RunConfig
from .relabel import DEFAULTS, FOLDS, default_store, relabel
from .reproduce import reproduce
from .notices import warn
from .store import read_json, settings_lacking
from .training import Stopped, train


KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")  # a dotted setting name: optim.lr, method


def parse_settings(pairs: list[str]) -> dict:
    """KEY=VALUE pairs as a settings dict; one line (ValueError) for a pair that is not one, or a
    setting given twice (the second would silently win)."""
    settings = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"bad setting {pair!r}: write key=value, e.g. optim.lr=0.1 or method=sigmoid")
        if not KEY.fullmatch(key):
            raise ValueError(f"bad setting name {key!r} in {pair!r}: a setting is a dotted name, e.g. optim.lr or "
                             f"method")
        if key in settings:
            raise ValueError(f"setting {key} is given twice ({key}={json.dumps(settings[key])} and {pair}): give it once")
        settings[key] = parse_value(text)
    return settings


def parse_value(text: str):
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or nested past the parser's depth): a string
        return text


PER_RUN = {"seed": "--seeds", "run.out_dir": "--results-dir"}  # what a sweep sets for each of its runs


def check_counts(args) -> None:
    """The counts and folders a command takes, checked before anything runs."""
    for name in ("jobs", "gpus"):  # --folds: relabel says what it takes
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be 1 or more, got {value}")
    negative = [seed for seed in getattr(args, "seeds", None) or [] if seed < 0]
    if negative:
        raise ValueError(f"--seeds takes seeds >= 0, got {negative[0]}")
    for name in ("results_dir", "store"):
        folder = getattr(args, name, None)
        if folder is not None and (not folder.strip() or os.path.isfile(os.path.expanduser(folder))):
            what = "is empty" if not folder.strip() else "is a file"
            raise ValueError(f"--{name.replace('_', '-')} {folder!r} {what}: give a folder (created when missing)")


def check_sweep_settings(command: str, overrides: dict) -> None:
    """A sweep (and every notebook under reproduce) decides each run's seed and folder itself: a
    --set of either would be overwritten for every run, so it is refused as the notebooks refuse it."""
    taken = sorted(set(overrides) & set(PER_RUN))
    if taken:
        key = taken[0]
        raise ValueError(f"--set {key}={overrides[key]} cannot be honoured: `milelib {command}` sets {key} for each "
                         f"run itself; give it as {PER_RUN[key]}")


def read_config(path) -> RunConfig:
    """A run config from a JSON file: RunConfig.to_dict() itself, or a run's result.json (its "config")."""
    try:
        given = read_json(path)
    except ValueError as err:
        raise ValueError(f"config file {path} is not valid JSON ({err})") from None
    except OSError as err:
        raise OSError(f"config file {path} cannot be read ({err.strerror}): --config takes a JSON file "
                      f"(RunConfig.to_dict(), or a run's result.json)") from None
    recorded = isinstance(given, dict) and isinstance(given.get("config"), dict)  # a run's result.json
    if recorded:
        given = given["config"]
    if not isinstance(given, dict):
        raise ValueError(f"config file {path} holds {type(given).__name__}: expected a mapping of the parts "
                         f"data, model, method, optim, run and a seed (RunConfig.to_dict())")
    cfg = RunConfig.from_dict(given)
    lacking = settings_lacking(given, cfg) if recorded else []  # a config file of one's own may leave defaults out
    if lacking:
        warn(f"{path} is a run's result.json whose config lacks {', '.join(lacking[:4])}"
             f"{' ...' if len(lacking) > 4 else ''}: they take this version's defaults, so this may not be the run "
             f"it records; add them to the file (RunConfig.to_dict() lists every setting)")
    return cfg


def relabel_help() -> str:
    settings = "\n".join(f"  {key}={value}" for key, value in DEFAULTS.items() if key not in ("data", "run.checkpoint_every"))
    lead = (f"Train {FOLDS} networks (one per fold) on FOLDER/<class>/<images>, score every image with the one that "
            f"did not train on it, and write a CSV and a review (contact sheet, co-occurrence heatmap). Rerun the same "
            f"command to read the runs back; a changed folder trains anew. Defaults (change with --set):")
    often = ("Often changed: model=resnet50 data.image_size=128 optim.steps=2000 on a GPU; model.pretrained=FILE (a "
             "torchvision or self-supervised checkpoint) for a small folder; method=sigmoid for the baseline. About 4 "
             "to 7 minutes on 2 CPU cores at the defaults, for 120 images as for 1,000 (benchmarks/relabel.py).")
    return f"{textwrap.fill(lead, 100)}\n{settings}\n  run.device=auto (a GPU when there is one)\n{textwrap.fill(often, 100)}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="milelib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("train", help="train one run and print its metrics")
    one.add_argument("--experiment", default="multi_mnist", choices=list(experiments.NAMES))
    one.add_argument("--config", help="a JSON config file (RunConfig.to_dict(), or a run's result.json); "
                                      "replaces --experiment and --profile")
    many = commands.add_parser("sweep", help="run an experiment's runs into the run store; print the table")
    many.add_argument("experiment", choices=list(experiments.NAMES))
    many.add_argument("--seeds", nargs="+", type=int, help="default: the profile's seeds")
    many.add_argument("--results-dir", default="results", help="the run store is RESULTS_DIR/runs/PROFILE")
    batch = commands.add_parser("reproduce", help="execute every notebook with papermill into results/")
    batch.add_argument("--results-dir", help="default: results/ beside notebooks/")
    batch.add_argument("--notebooks", help="the folder of NN_name.ipynb notebooks (default: this checkout's)")
    batch.add_argument("--only", nargs="*", metavar="NN", help="only these notebooks, by number (e.g. --only 06 07)")
    for sub in (many, batch):
        sub.add_argument("--jobs", type=int, help="runs side by side (default: one per GPU, or one per run.threads "
                                                  "share of the cores)")
        sub.add_argument("--launcher", choices=sweep.LAUNCHERS, help="torchrun: each run on --gpus processes")
        sub.add_argument("--gpus", type=int, help="processes (GPUs) per run under torchrun (default 1)")
    own = commands.add_parser("relabel", help="what a class-folder dataset's single labels hide: each image's "
                              "predicted label set, scored out of sample", description=relabel_help(),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    own.add_argument("folder", help="FOLDER/<class>/<images>")
    own.add_argument("--out", help="the CSV to write, its review beside it (default: in the store, named by the "
                                   "folder's content and the settings)")
    own.add_argument("--folds", type=int, default=FOLDS, help="K: each image scored by the network of the K that "
                                                              "did not train on it; 1 scores in sample (default %(default)s)")
    own.add_argument("--threshold", type=float, help="probability above which a class joins a set (default: "
                                                     "method.rho, 0.25; 0.5 for methods without one)")
    own.add_argument("--store", help=f"where the runs go (default {default_store()}; XDG_CACHE_HOME moves it)")
    own.add_argument("--jobs", type=int, help="runs side by side (default: one per GPU, or one per run.threads "
                                              "share of the cores)")
    for sub in (one, many, batch):
        sub.add_argument("--profile", default="quick", choices=experiments.PROFILE_NAMES)
    for sub in (one, many, own, batch):
        sub.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="dotted settings, e.g. method.rho=0.1")
    args = parser.parse_args(argv)
    with _sigterm_as_ctrl_c():
        _run(args)


def _run(args) -> None:
    """The command `args` names, its bad input ended in one line."""
    try:
        overrides = parse_settings(args.set)
        check_counts(args)
        if args.command in ("sweep", "reproduce"):
            check_sweep_settings(args.command, overrides)
        if args.command == "reproduce":
            reproduce(args.profile, args.results_dir, args.notebooks, only=args.only, JOBS=args.jobs,
                      LAUNCHER=args.launcher, GPUS=args.gpus, SETTINGS=overrides or None)
            return
        to_stderr = lambda *a, **k: print(*a, **{**k, "file": sys.stderr})  # noqa: E731
        if args.command == "relabel":
            relabel(args.folder, args.out, overrides, args.folds, args.threshold, args.store, args.jobs, log=to_stderr)
            return
        if args.command == "train":
            cfg = (read_config(args.config).override(overrides) if args.config else
                   experiments.get(args.experiment).EXPERIMENT.config(args.profile, overrides))
            metrics = train(cfg)
            if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 alone prints
                print(json.dumps(metrics, indent=2, sort_keys=True))
        else:
            exp = experiments.get(args.experiment).EXPERIMENT
            table = experiments.run_experiment(exp, args.profile, args.seeds, args.results_dir, overrides, args.jobs,
                                         log=to_stderr, launcher=args.launcher or "local", gpus=args.gpus or 1)
            table.to_csv(sys.stdout, index=False)
    except (ValueError, OSError, FloatingPointError, ImportError, RuntimeError) as err:
        raise SystemExit(f"milelib: {err}") from None
    except KeyboardInterrupt as err:  # a run's Stopped says at which step; a Ctrl-C elsewhere says less
        print(f"milelib: {str(err) or 'stopped; rerun the same command to resume'}", file=sys.stderr)
        raise SystemExit(128 + getattr(err, "signum", signal.SIGINT)) from None  # 130 for Ctrl-C, 143 for SIGTERM


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM (a scheduler's, `kill`'s) handled as Ctrl-C is: training stops at a step boundary
    with a checkpoint (training.py takes it over while it trains) and the command ends in one line;
    without this, Python ends at once with no word. The handler before is put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
        raise Stopped("stopped by SIGTERM; rerun the same command to resume", signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
