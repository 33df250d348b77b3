"""Many runs: every method of a table over every seed, each in its own folder.

A run's folder is named after its method, seed and config hash (`sigmoid/seed0-1a2b3c4d5e6f`), so
a changed config never meets the checkpoints or results of another: a folder whose `result.json`
exists is complete and read back; one without it is trained, resuming from its checkpoints.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from .config import resolve_config
from .results import read_json
from .training import train


def slug(label: str) -> str:
    """'MILe (released code)' -> 'mile-released-code': a folder name for a method's label."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def run_dir(runs_dir, label: str, seed: int, config_hash: str) -> Path:
    return Path(runs_dir) / slug(label) / f"seed{seed}-{config_hash}"


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
            cfg = resolve_config(profile, experiment, **{**overrides, **settings, "seed": seed, "progress": progress})
            folder = run_dir(runs_dir, label, seed, cfg.config_hash())
            cfg = dataclasses.replace(cfg, out_dir=str(folder))
            reused = finished_result(folder, cfg.config_hash()) is not None
            if not reused:
                train(cfg)
            saved = finished_result(folder, cfg.config_hash())
            metrics = saved["metrics"]
            print(f"{label:28s} seed {seed}: f1@0.25 {100 * metrics['f1@0.25']:5.1f}  "
                  f"map {100 * metrics['map']:5.1f}  {'(finished before)' if reused else ''}", flush=True)
            records.append({"method": label, "seed": seed, "config_hash": cfg.config_hash(), **metrics,
                            "train_wall_time_s": saved["run"]["wall_time_s"], "reused": reused,
                            "run_dir": str(folder)})
    return records
