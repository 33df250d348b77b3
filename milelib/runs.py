"""Many runs: every method of a table over every seed, each in its own folder.

A run whose folder already holds a complete `result.json` made from the same resolved config
(same config hash) is not trained again; one made from another config is retrained.
"""
from __future__ import annotations

import re
from pathlib import Path

from .config import resolve_config
from .results import read_json
from .training import train


def slug(label: str) -> str:
    """'MILe (released code)' -> 'mile-released-code': a folder name for a method's label."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def finished_result(run_dir: Path, config_hash: str) -> dict | None:
    """The result.json of a run finished with this config in run_dir, or None."""
    try:
        saved = read_json(Path(run_dir) / "result.json")
    except (OSError, ValueError):
        return None
    return saved if saved.get("config_hash") == config_hash else None


def run_methods(methods: dict[str, dict], profile: str, seeds, runs_dir, experiment: str = "multi_mnist",
                progress: bool = False, **overrides) -> list[dict]:
    """Train each method (label -> TrainConfig settings) once per seed; one record per run."""
    records = []
    for label, settings in methods.items():
        for seed in seeds:
            run_dir = Path(runs_dir) / slug(label) / f"seed{seed}"
            cfg = resolve_config(profile, experiment, **{**overrides, **settings, "seed": seed,
                                                         "out_dir": str(run_dir), "progress": progress})
            reused = finished_result(run_dir, cfg.config_hash()) is not None
            if not reused:
                train(cfg)
            saved = finished_result(run_dir, cfg.config_hash())
            metrics = saved["metrics"]
            print(f"{label:28s} seed {seed}: f1@0.25 {100 * metrics['f1@0.25']:5.1f}  "
                  f"map {100 * metrics['map']:5.1f}  {'(finished before)' if reused else ''}", flush=True)
            records.append({"method": label, "seed": seed, "config_hash": cfg.config_hash(), **metrics,
                            "train_wall_time_s": saved["run"]["wall_time_s"], "reused": reused})
    return records
