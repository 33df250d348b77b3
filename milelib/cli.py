"""The command line, with the notebooks' configs:

    milelib train --experiment multi_mnist --profile quick --set method=sigmoid seed=1 run.out_dir=runs/s1
    milelib sweep kt_ks_heatmap --profile quick --results-dir results
    milelib reproduce --profile quick

`train` runs one config and prints its metrics as JSON (run it again with the same settings and
out_dir to resume a stopped run); `sweep` runs an experiment's runs into the shared run store, as
its notebook does, and prints the tidy table as CSV; `reproduce` executes every notebook (make
reproduce). Ctrl-C stops at a step boundary; the same command resumes. Settings are dotted keys; values are read as
JSON where they parse (numbers, true/false, lists), `none` is None, anything else a string.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import experiments, sweep
from .reproduce import reproduce
from .training import train


def parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"milelib: bad setting {pair!r}: write key=value, e.g. optim.lr=0.1 or method=sigmoid")
        settings[key] = parse_value(text)
    return settings


def parse_value(text: str):
    if text.lower() in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="milelib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("train", help="train one run and print its metrics")
    one.add_argument("--experiment", default="multi_mnist", choices=list(experiments.NAMES))
    many = commands.add_parser("sweep", help="run an experiment's runs into the run store; print the table")
    many.add_argument("experiment", choices=list(experiments.NAMES))
    many.add_argument("--seeds", nargs="+", type=int, help="default: the profile's seeds")
    many.add_argument("--results-dir", default="results", help="the run store is RESULTS_DIR/runs/PROFILE")
    many.add_argument("--jobs", type=int, help="runs side by side (default: one per run.threads share of the cores)")
    batch = commands.add_parser("reproduce", help="execute every notebook with papermill into results/")
    batch.add_argument("--results-dir", help="default: results/ beside notebooks/")
    batch.add_argument("--notebooks", help="the folder of NN_name.ipynb notebooks (default: this checkout's)")
    for sub in (one, many, batch):
        sub.add_argument("--profile", default="quick", choices=experiments.PROFILE_NAMES)
    for sub in (one, many):
        sub.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="dotted settings, e.g. method.rho=0.1")
    args = parser.parse_args(argv)
    try:
        if args.command == "reproduce":
            reproduce(args.profile, args.results_dir, args.notebooks)
            return
        exp = experiments.get(args.experiment).EXPERIMENT
        overrides = parse_settings(args.set)
        if args.command == "train":
            print(json.dumps(train(exp.config(args.profile, overrides)), indent=2, sort_keys=True))
        else:
            table = sweep.run_experiment(exp, args.profile, args.seeds, args.results_dir, overrides, args.jobs,
                                         log=lambda *a, **k: print(*a, **{**k, "file": sys.stderr}))
            table.to_csv(sys.stdout, index=False)
    except (ValueError, OSError, FloatingPointError, ImportError, RuntimeError) as err:
        raise SystemExit(f"milelib: {err}") from None
    except KeyboardInterrupt as err:  # a run's Stopped says at which step; a Ctrl-C elsewhere says less
        print(f"milelib: {str(err) or 'stopped; rerun the same command to resume'}", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
