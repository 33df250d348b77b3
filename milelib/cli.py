"""The command line: `python -m milelib --profile quick --set method=sigmoid seed=1 out_dir=runs/s1`.

It resolves the same configs as the notebooks (`resolve_config`), trains one run, and prints its
test metrics as JSON. Run again with the same settings and out_dir to resume a stopped run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

from .config import EXPERIMENTS, PROFILE_NAMES, TrainConfig, resolve_config
from .training import train


def parse_value(field: dataclasses.Field, text: str):
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if text.lower() in ("none", "null") and "None" in kind:
        return None
    if kind.startswith("bool"):
        if text.lower() not in ("true", "false", "1", "0"):
            raise SystemExit(f"{field.name} takes true or false, got {text!r}")
        return text.lower() in ("true", "1")
    for cast in (int, float):
        if kind.startswith(cast.__name__):
            try:
                return cast(text)
            except ValueError:
                raise SystemExit(f"{field.name} takes a number ({cast.__name__}), got {text!r}") from None
    return text


def parse_settings(pairs: list[str]) -> dict:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"bad setting {pair!r}: write key=value with key one of {', '.join(fields)}")
        settings[key] = parse_value(fields[key], value)
    return settings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="milelib", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILE_NAMES)
    parser.add_argument("--experiment", default="multi_mnist", choices=sorted(EXPERIMENTS))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig settings")
    args = parser.parse_args(argv)
    try:
        cfg = resolve_config(args.profile, args.experiment, **parse_settings(args.set))
        print(json.dumps(train(cfg), indent=2, sort_keys=True))
    except (ValueError, OSError, FloatingPointError) as err:
        raise SystemExit(f"milelib: {err}") from None


if __name__ == "__main__":
    main()
