"""Many runs: points (label -> dotted overrides) x seeds -> one tidy pandas table, one row per run.

One run store serves every notebook: `<results>/runs/<profile>/<method>/seed<s>-<config hash>/`.
A folder whose result.json carries its config hash is a finished run: read back, never retrained,
so a run that two figures need trains once; a changed setting trains in a new folder; a stopped
run resumes from its checkpoints; profiles never share a folder. On a CPU, runs go side by side,
one process per `run.threads` share of the cores (measured faster on 2 cores: the README's table).

The same call serves a notebook (`experiments.run_experiment`), the command line (`milelib sweep`) and papermill.
With `launcher="torchrun"`, each run trains in a `torchrun --nproc_per_node GPUS -m milelib train`
child process (DDP cannot run inside a notebook's kernel); with `launcher="slurm"`, as a task of a
SLURM job array (cluster.py).

On GPUs, runs go side by side too: one per GPU (per GPUS of them under torchrun), each process
seeing only its own (CUDA_VISIBLE_DEVICES) and pinned to its share of the cores, so 8 GPUs train 8
runs at once. Several sweeps may share one store (two notebooks, two machines on a shared disk):
a run another process is training is skipped, and picked up once that process lets it go (read
back when it finished, resumed when it stopped).

A run whose loss became NaN or infinite (a shared learning rate too large for one method on little
data) does not stop the sweep: its error is kept in its folder's diverged.json, read back as such on
a rerun (delete the file to train it again), and its row carries the error and no metrics, so the
"every run learned" control names it.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import pandas as pd

from . import store as run_store
from .config import SWITCHABLE, RunConfig
from .store import DIVERGED, finished_result, run_dir
from .training import Stopped, pick_device, train, train_quietly


LAUNCHERS = ("local", "torchrun", "slurm")
BUSY_POLL_S = 30  # how often a sweep looks again at runs another process is training
STOP_WAIT_S = 120  # how long a stopped sweep waits for its workers' runs to reach a step and checkpoint


def diverged(folder, cfg: RunConfig) -> str | None:
    """The error of the run of `cfg` that stopped on a NaN or infinite loss in `folder`, or None."""
    return run_store.diverged(folder, cfg.config_hash())


def _record_divergence(task, err: FloatingPointError) -> None:
    run_store.record_divergence(Path(task.folder), task.cfg, err)


@dataclass
class Task:
    label: str
    cfg: RunConfig
    folder: Path


def _cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def default_jobs(base: RunConfig, pending: int) -> int:
    """Runs side by side on a CPU: one per `run.threads` share of this process's cores."""
    if pick_device(base.run.device).type != "cpu" or not base.run.threads:
        return 1
    return max(1, min(pending, len(_cores()) // base.run.threads))


def gpu_slots(gpus_per_run: int) -> list[dict]:
    """This machine's GPUs (those CUDA_VISIBLE_DEVICES leaves visible) in groups of `gpus_per_run`,
    one slot per group: the GPUs a run launched into it sees, and its share of the cores."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in visible.split(",") if s.strip()] if visible else [
        str(i) for i in range(torch.cuda.device_count())]
    groups = [ids[i:i + gpus_per_run] for i in range(0, len(ids) - gpus_per_run + 1, gpus_per_run)]
    if not groups:
        raise ValueError(f"{gpus_per_run} GPUs per run were asked for (GPUS) and this machine shows {len(ids)}: "
                         f"lower GPUS")
    cores = _cores()
    share = max(1, len(cores) // len(groups))
    return [{"gpus": ",".join(group), "cores": cores[i * share:(i + 1) * share] or cores}
            for i, group in enumerate(groups)]


def slots_for(base: RunConfig, launcher: str, gpus: int) -> list[dict]:
    """The GPU slots runs go into, or none on a CPU (runs there share the cores by `run.threads`);
    a device that cannot be had is refused here."""
    return gpu_slots(gpus if launcher == "torchrun" else 1) if pick_device(base.run.device).type == "cuda" else []


def _side_by_side_count(base: RunConfig, launcher: str, jobs: int | None, pending: int, slots: list[dict]) -> int:
    """How many runs train at once: every pending one as a SLURM array; one per GPU slot (or `jobs`);
    torchrun runs one after another on a CPU; else `jobs`, or one per `run.threads` share of the cores."""
    if launcher == "slurm":
        return pending
    if slots:
        return min(pending, jobs or len(slots))
    if launcher == "torchrun":
        return 1
    return jobs or default_jobs(base, pending)


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
    seeds = list(seeds)
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:  # one seed is one run folder: twice would train that folder twice at once
        raise ValueError(f"seed {repeated[0]} is given more than once (seeds {' '.join(map(str, seeds))}): each seed "
                         f"names one run; give each seed once")
    pairs = ([(label, o, seed) for seed in seeds for label, o in points(seed).items()] if callable(points) else
             [(label, o, seed) for label, o in points.items() for seed in seeds])
    tasks = []
    for label, overrides, seed in pairs:
        _check_point(label, overrides, base)
        cfg = base.override({**overrides, "seed": seed})
        folder = run_dir(store, cfg)
        tasks.append(Task(label, cfg.override({"run.out_dir": str(folder)}), folder))
    pending = [t for t in tasks if finished_result(t.folder, t.cfg) is None and diverged(t.folder, t.cfg) is None]
    # a device that cannot be had refuses before any run starts (finished runs read back without it);
    # on SLURM the GPUs are the nodes'
    slots = slots_for(base, launcher, gpus) if pending and launcher != "slurm" else []
    jobs = _side_by_side_count(base, launcher, jobs, len(pending), slots)
    log(f"{len(tasks)} runs: {len(tasks) - len(pending)} finished before, {len(pending)} to train"
        + (f", {jobs} side by side" if jobs > 1 and pending else "")
        + (f" on GPU(s) {', '.join(s['gpus'] for s in slots[:jobs])}" if slots else ""), flush=True)
    started, done, todo = time.time(), 0, pending
    try:
        while todo:
            busy = []
            for task, holder in _train_all(todo, jobs, launcher, gpus, slots):
                if holder:
                    busy.append(task)
                    log(f"[busy] {task.label} seed {task.cfg.seed}: {task.folder} is being trained by {holder}; "
                        f"picked up when it lets it go", flush=True)
                    continue
                done += 1
                saved = finished_result(task.folder, task.cfg)
                if saved is None:  # it diverged
                    log(f"[{done}/{len(pending)}] {task.label} seed {task.cfg.seed}: DIVERGED, "
                        f"{diverged(task.folder, task.cfg)}; recorded in {task.folder / DIVERGED} (delete it to train "
                        f"the run again)", flush=True)
                    continue
                log(f"[{done}/{len(pending)}] {task.label} seed {task.cfg.seed}: {_headline(saved['metrics'], shown)} "
                    f"({saved['run']['wall_time_s']:.0f} s; {time.time() - started:.0f} s so far)", flush=True)
            while busy and all(run_store.holder(task.folder) for task in busy):
                time.sleep(BUSY_POLL_S)
            todo = busy
    except KeyboardInterrupt as err:  # Ctrl-C: each run stops at a step boundary, with a checkpoint
        detail = f" ({err})" if str(err) else ""
        raise Stopped(f"sweep stopped after {done} of {len(pending)} runs{detail}; rerun the same call to go on: "
                      f"finished runs are read back, stopped ones resume from their checkpoints",
                      getattr(err, "signum", signal.SIGINT)) from None
    rows, trained = [], {task.folder for task in pending}
    for task in tasks:
        saved = finished_result(task.folder, task.cfg)
        flat = _flatten(task.cfg.to_dict())
        trained_as = ({**saved["metrics"], "train_wall_time_s": saved["run"]["wall_time_s"],
                       "threads": saved["run"]["threads"]} if saved else {"diverged": diverged(task.folder, task.cfg)})
        rows.append({"label": task.label, **{axis: flat.get(axis) for axis in axes}, "seed": task.cfg.seed,
                     "config_hash": task.cfg.config_hash(), **trained_as, "reused": task.folder not in trained,
                     "run_dir": str(task.folder)})
    return pd.DataFrame(rows)


def _check_point(label: str, overrides: dict, base: RunConfig) -> None:
    """A point that sets a method's (or dataset's) settings without naming it takes the base's: one
    line when the base's lacks one, as when SETTINGS or --set switched every run to method=sigmoid
    and a point sets MILe's method.variant (the override would blame a setting the user never gave)."""
    for part in SWITCHABLE:
        if part in overrides or f"{part}.name" in overrides:
            continue  # the point names its own: its settings are checked against that one's
        known = {f.name for f in fields(getattr(base, part))}
        for key in overrides:
            head, dot, name = key.partition(".")
            if head == part and dot and name not in known:
                chosen = getattr(base, part).name
                raise ValueError(f"run {label!r} sets {key}, which {part} {chosen!r} does not have: this sweep's runs "
                                 f"choose their {part} themselves, and the settings switched every run to "
                                 f"{part}={chosen}; leave {part} out of SETTINGS (or --set)")


def check_launcher(launcher: str, gpus: int) -> None:
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}: choose local (this process, or runs side by side), torchrun "
                         f"(each run on GPUS processes) or slurm (a job array through submitit)")
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
        raise ValueError(f"gpus must be an int >= 1 (processes per run under torchrun), got {gpus!r}")


def torchrun(cfg: RunConfig, gpus: int, slot: dict | None = None) -> None:
    """Train one run in `gpus` processes: torchrun on this machine, as a child process (in `slot`,
    when given, as a local worker is: seeing only its GPUs and pinned to its cores).

    This process takes the run folder's lock before the start and the child inherits it
    (store.HELD_FOR): a run another sweep took meanwhile raises RunFolderBusy here (skipped as
    busy) instead of failing in the child; and the lock stays held while the child trains, should
    this process be killed."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="milelib-run-", delete=False) as f:
        json.dump(cfg.override({"run.progress": False}).to_dict(), f)
    try:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                   "-m", "milelib", "train", "--config", f.name]
        folder = run_store.prepare(cfg.run.out_dir)
        with (run_store.hold(folder) if folder else contextlib.nullcontext()) as lock, _pinned(slot):
            env = {**os.environ, **_slot_env(slot, gpus), **({} if lock is None else {run_store.HELD_FOR: str(folder)})}
            code = subprocess.run(command, stdout=subprocess.DEVNULL, env=env,
                                  pass_fds=() if lock is None else (lock,)).returncode
    finally:
        os.unlink(f.name)
    if code != 0:
        raise RuntimeError(f"torchrun training {cfg.run.out_dir} on {gpus} processes exited with {code}: "
                           f"its messages are above; rerun to resume from its checkpoint")


def _slot_env(slot: dict | None, gpus: int) -> dict:
    """A torchrun child's environment in `slot`: its GPUs, and each of its `gpus` processes an equal
    share of the slot's cores as torch threads (OMP_NUM_THREADS, unless set; torchrun would set 1),
    so that one GPU's process gets the threads a local worker on one GPU gets. Its DataLoader
    workers, `run.workers` per process as per local worker, run on the cores it is pinned to
    (`_pinned`)."""
    if not slot:
        return {}
    return {"CUDA_VISIBLE_DEVICES": slot["gpus"],
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS") or str(max(1, len(slot["cores"]) // gpus))}


@contextlib.contextmanager
def _pinned(slot: dict | None):
    """This thread on `slot`'s cores for the block: a child process started in it inherits them
    (Linux affinity is per thread), and so do its children, torchrun's processes and their loaders.
    Not preexec_fn: Python code between fork and exec can deadlock in a process with threads, as a
    sweep launching runs from threads is."""
    if not slot or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, slot["cores"])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _train_all(tasks: list[Task], jobs: int, launcher: str = "local", gpus: int = 1, slots: list[dict] = ()):
    """Train each task, yielding (task, None) as each finishes, or (task, holder) for a run another
    process is training (skipped): in this process, in `jobs` processes, or each under torchrun;
    `jobs` at once in the GPU `slots`, when there are slots."""
    free = []
    for task in tasks:
        holder = run_store.holder(task.folder)
        if holder:
            yield task, holder
        else:
            free.append(task)
    if launcher == "slurm" and free:
        from .cluster import train_all  # here: submitit is needed only on a cluster
        yield from train_all(free, gpus, Path(free[0].folder).parents[1])
        return
    if launcher == "torchrun":
        yield from _side_by_side(free, jobs, lambda task, slot: torchrun(task.cfg, gpus, slot), slots)
        return
    if jobs <= 1:
        for task in free:
            try:
                train(task.cfg)
            except run_store.RunFolderBusy as busy:  # taken between the look above and now
                yield task, busy.holder
                continue
            except FloatingPointError as err:
                _record_divergence(task, err)
            yield task, None
        return
    # spawn, not fork: the parent may hold torch threads (a notebook kernel), which fork would break
    context = multiprocessing.get_context("spawn")
    slot_queue = context.Queue()
    for i in range(jobs if slots else 0):
        slot_queue.put(slots[i % len(slots)])
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(os.getpid(), slot_queue if slots else None)) as pool:
        futures = {pool.submit(_train_in_worker, task.cfg.to_dict()): task for task in free}
        try:
            for future in as_completed(futures):
                try:
                    future.result()  # a run's one-line error is raised here, as it would be in-process
                except run_store.RunFolderBusy as busy:
                    yield futures[future], busy.holder
                    continue
                except FloatingPointError as err:
                    _record_divergence(futures[future], err)
                except BrokenProcessPool:
                    raise RuntimeError(
                        f"a worker process training {futures[future].folder} died: out of memory, killed, or "
                        f"started from a script without `if __name__ == '__main__':` around the sweep (worker "
                        f"processes import the script again); guard it, or pass jobs=1") from None
                yield futures[future], None
        except KeyboardInterrupt as err:
            workers = list((getattr(pool, "_processes", None) or {}).values())
            for process in workers:
                if getattr(err, "signum", None) == signal.SIGTERM:  # Ctrl-C reaches the workers from the terminal
                    process.terminate()  # itself; SIGTERM this process alone
            for process in workers:  # each run stops at a step boundary, writes its checkpoint and ends its
                process.join(STOP_WAIT_S)  # worker (_train_in_worker), so no queued run starts
            pool.shutdown(wait=True)  # the pool, its workers gone, fails what was queued
            raise
        finally:
            for future in futures:
                future.cancel()


def _train_in_worker(cfg: dict) -> None:
    """A run in a sweep's worker process. A run stopped by Ctrl-C or SIGTERM (its checkpoint written)
    ends the worker too: a worker that lived on would take up the next queued run and train it with
    no one to stop it."""
    try:
        train_quietly(cfg)
    except KeyboardInterrupt:
        os._exit(1)


def _side_by_side(tasks: list[Task], jobs: int, launch: Callable, slots: list[dict]):
    """`launch(task, slot)` for each task, `jobs` at a time from threads (each launch a child
    process), each in a free slot; yields (task, None) as each finishes, (task, holder) for a run
    another process took before its launch."""
    free_slots = queue.Queue()
    for i in range(max(jobs, 1)):
        free_slots.put(slots[i % len(slots)] if slots else None)

    def one(task):
        slot = free_slots.get()
        try:
            launch(task, slot)
        finally:
            free_slots.put(slot)

    with ThreadPoolExecutor(max(jobs, 1)) as pool:
        futures = {pool.submit(one, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                try:
                    future.result()
                except run_store.RunFolderBusy as busy:  # taken between the look in _train_all and the start
                    yield futures[future], busy.holder
                    continue
                yield futures[future], None
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


def _start_worker(parent: int, slots) -> None:
    """In each worker: watch the parent (`_exit_with_parent`); on GPUs, take a slot: see only its
    GPU and run on its share of the cores (the worker's DataLoader processes inherit both)."""
    _exit_with_parent(parent)
    if slots is not None:
        slot = slots.get()
        os.environ["CUDA_VISIBLE_DEVICES"] = slot["gpus"]
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, slot["cores"])


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

