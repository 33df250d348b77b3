"""Many runs: points (label -> dotted overrides) x seeds -> one tidy pandas table, one row per run.

One run store serves every notebook: `<results>/runs/<profile>/<method>/seed<s>-<config hash>/`.
A folder whose result.json carries its config hash is a finished run: read back, never retrained,
so a run that two figures need trains once; a changed setting trains in a new folder; a stopped
run resumes from its checkpoints; profiles never share a folder. On a CPU, runs go side by side,
one process per `run.threads` share of the cores (measured faster on 2 cores: the README's table).

The same call serves a notebook (`run_experiment`), the command line (`milelib sweep`) and papermill.
With `launcher="torchrun"`, each run trains in a `torchrun --nproc_per_node GPUS -m milelib train`
child process (DDP cannot run inside a notebook's kernel), one run after another.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from .config import RunConfig
from .results import read_json
from .training import Stopped, pick_device, train


LAUNCHERS = ("local", "torchrun")


def store_dir(results_dir, profile: str) -> Path:
    return Path(results_dir) / "runs" / profile


def run_dir(store, cfg: RunConfig) -> Path:
    return Path(store) / cfg.method.name / f"seed{cfg.seed}-{cfg.config_hash()}"


def finished_result(folder, config_hash: str) -> dict | None:
    """The result.json of a run finished with this config in `folder`, or None."""
    try:
        saved = read_json(Path(folder) / "result.json")
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("config_hash") == config_hash else None


@dataclass
class Task:
    label: str
    cfg: RunConfig
    folder: Path


def default_jobs(base: RunConfig, pending: int) -> int:
    """Runs side by side: one per `run.threads` share of this process's cores, on a CPU only."""
    if pick_device(base.run.device).type != "cpu" or not base.run.threads:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(pending, cores // base.run.threads))


def run(points: dict[str, dict] | Callable[[int], dict[str, dict]], base: RunConfig, seeds, store, axes=(),
        jobs: int | None = None, log=print, launcher: str = "local", gpus: int = 1, shown: str = "") -> pd.DataFrame:
    """Train every point once per seed into `store` (finished runs are read back); one row per run:
    label, the `axes` values (None where a run has no such setting), seed, config hash, every metric,
    training time and threads, reused, run folder. `points` may be a function of the seed (runs
    that name another run of their seed, as a student its teacher).
    Progress goes to `log` (print; the command line sends it to stderr), each run's headline
    metrics from the report split, or from the split `shown` names ("val/": a selection stage that
    must not show test numbers)."""
    check_launcher(launcher, gpus)
    pairs = ([(label, o, seed) for seed in seeds for label, o in points(seed).items()] if callable(points) else
             [(label, o, seed) for label, o in points.items() for seed in seeds])
    tasks = []
    for label, overrides, seed in pairs:
        cfg = base.override({**overrides, "seed": seed})
        folder = run_dir(store, cfg)
        tasks.append(Task(label, cfg.override({"run.out_dir": str(folder)}), folder))
    pending = [t for t in tasks if finished_result(t.folder, t.cfg.config_hash()) is None]
    if pending:
        pick_device(base.run.device)  # a device that cannot be had refuses before any run starts (finished
                                      # runs still read back without it)
    jobs = 1 if launcher == "torchrun" else jobs or default_jobs(base, len(pending))
    log(f"{len(tasks)} runs: {len(tasks) - len(pending)} finished before, {len(pending)} to train"
        + (f", {jobs} side by side" if jobs > 1 and pending else ""), flush=True)
    started, done = time.time(), 0
    try:
        for task in _train_all(pending, jobs, launcher, gpus):
            done += 1
            saved = finished_result(task.folder, task.cfg.config_hash())
            log(f"[{done}/{len(pending)}] {task.label} seed {task.cfg.seed}: {_headline(saved['metrics'], shown)} "
                f"({saved['run']['wall_time_s']:.0f} s; {time.time() - started:.0f} s so far)", flush=True)
    except KeyboardInterrupt as err:  # Ctrl-C: each run stops at a step boundary, with a checkpoint
        detail = f" ({err})" if str(err) else ""
        raise Stopped(f"sweep stopped after {done} of {len(pending)} runs{detail}; rerun the same call to go on: "
                      f"finished runs are read back, stopped ones resume from their checkpoints") from None
    rows, trained = [], {task.folder for task in pending}
    for task in tasks:
        saved = finished_result(task.folder, task.cfg.config_hash())
        flat = _flatten(task.cfg.to_dict())
        rows.append({"label": task.label, **{axis: flat.get(axis) for axis in axes}, "seed": task.cfg.seed,
                     "config_hash": task.cfg.config_hash(), **saved["metrics"],
                     "train_wall_time_s": saved["run"]["wall_time_s"], "threads": saved["run"]["threads"],
                     "reused": task.folder not in trained,
                     "run_dir": str(task.folder)})
    return pd.DataFrame(rows)


def run_experiment(exp, profile: str, seeds=None, results_dir="results", overrides: dict | None = None,
                   jobs: int | None = None, points: dict | None = None, data_root=None, log=print,
                   launcher: str = "local", gpus: int = 1) -> pd.DataFrame:
    """An experiment's runs (or only `points`) under `profile`, in the shared store of `results_dir`:
    the same runs as its notebook (an `experiments.Session`'s `run`)."""
    from .experiments import Session  # here: the experiments build on this module

    return Session(exp.name, profile, seeds, results_dir, overrides or {}, jobs, data_root, launcher, gpus,
                   log=log).run(points)


def check_launcher(launcher: str, gpus: int) -> None:
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}: choose local (this process, or runs side by side) or torchrun")
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
        raise ValueError(f"gpus must be an int >= 1 (processes per run under torchrun), got {gpus!r}")


def torchrun(cfg: RunConfig, gpus: int) -> None:
    """Train one run in `gpus` processes: torchrun on this machine, as a child process."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="milelib-run-", delete=False) as f:
        json.dump(cfg.override({"run.progress": False}).to_dict(), f)
    try:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                   "-m", "milelib", "train", "--config", f.name]
        code = subprocess.run(command, stdout=subprocess.DEVNULL).returncode
    finally:
        os.unlink(f.name)
    if code != 0:
        raise RuntimeError(f"torchrun training {cfg.run.out_dir} on {gpus} processes exited with {code}: "
                           f"its messages are above; rerun to resume from its checkpoint")


def _train_all(tasks: list[Task], jobs: int, launcher: str = "local", gpus: int = 1):
    """Train each task, yielding each as it finishes: in this process, in `jobs` processes, or
    each under torchrun."""
    if launcher == "torchrun":
        for task in tasks:
            torchrun(task.cfg, gpus)
            yield task
        return
    if jobs <= 1:
        for task in tasks:
            train(task.cfg)
            yield task
        return
    # spawn, not fork: the parent may hold torch threads (a notebook kernel), which fork would break
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_train_quietly, task.cfg.to_dict()): task for task in tasks}
        try:
            for future in as_completed(futures):
                try:
                    future.result()  # a run's one-line error is raised here, as it would be in-process
                except BrokenProcessPool:
                    raise RuntimeError(
                        f"a worker process training {futures[future].folder} died: out of memory, killed, or "
                        f"started from a script without `if __name__ == '__main__':` around the sweep (worker "
                        f"processes import the script again); guard it, or pass jobs=1") from None
                yield futures[future]
        finally:
            for future in futures:
                future.cancel()


def _exit_with_parent(parent: int) -> None:
    """In each worker: end when the sweep's process is gone (killed), instead of training the runs
    still queued with no one to read them (seen: workers training on for minutes). A run stopped so
    keeps its last checkpoint, and the kernel frees its folder's lock."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _train_quietly(cfg: dict) -> None:
    train(RunConfig.from_dict({**cfg, "run": {**cfg["run"], "progress": False}}))


def _headline(metrics: dict, shown: str = "") -> str:
    keys = [shown + k for k in ("f1@0.25", "map", "accuracy") if shown + k in metrics][:2]
    return "  ".join(f"{k} {100 * metrics[k]:5.1f}" for k in keys)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out

