"""Sweeps on a machine with several GPUs (its GPUs faked on the CPU) and on a store another sweep
is using: one run per GPU slot side by side, each worker seeing only its GPU on its share of the
cores; runs another process is training skipped and picked up when it lets them go."""
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import milelib.sweep as sweep
from milelib import RunConfig, cluster, experiments, store, train
from milelib.store import lock as runlock

EXP = experiments.get("multi_mnist").EXPERIMENT


def test_gpu_slots_split_the_visible_gpus_and_the_cores(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(sweep, "_cores", lambda: list(range(16)))
    one = sweep.gpu_slots(1)
    assert [s["gpus"] for s in one] == ["0", "1", "2", "3"]
    assert [s["cores"] for s in one] == [list(range(i, i + 4)) for i in (0, 4, 8, 12)]
    assert [s["gpus"] for s in sweep.gpu_slots(2)] == ["0,1", "2,3"]  # torchrun runs on 2 GPUs each
    assert [s["gpus"] for s in sweep.gpu_slots(3)] == ["0,1,2"]       # the fourth GPU would idle alone
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert [s["gpus"] for s in sweep.gpu_slots(1)] == ["3", "5"]
    with pytest.raises(ValueError, match="3 GPUs per run were asked for .* this machine shows 2: lower GPUS"):
        sweep.gpu_slots(3)


def test_a_worker_takes_its_slot(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    before = os.sched_getaffinity(0)
    slots = queue.Queue()
    slots.put({"gpus": "5", "cores": sorted(before)[:1]})
    try:
        sweep._start_worker(os.getppid(), slots)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "5" and os.sched_getaffinity(0) == set(sorted(before)[:1])
    finally:
        os.sched_setaffinity(0, before)


def test_a_sweep_runs_one_run_per_gpu_slot(tmp_path, monkeypatch):
    cores = sorted(os.sched_getaffinity(0))
    fake = [{"gpus": "7", "cores": cores[:1]}, {"gpus": "9", "cores": cores[-1:]}]
    monkeypatch.setattr(sweep, "slots_for", lambda base, launcher, gpus: fake)  # 2 GPUs, seen from the CPU
    lines = []
    table = sweep.run({"Sigmoid": {"method": "sigmoid"}}, EXP.config("smoke", {"run.progress": False}), (0, 1, 2),
                      tmp_path, log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    assert "3 to train, 2 side by side on GPU(s) 7, 9" in lines[0]
    recorded = {json.loads((Path(d) / "result.json").read_text())["run"]["visible_gpus"] for d in table.run_dir}
    assert recorded <= {"7", "9"} and len(table) == 3


def test_a_run_another_sweep_is_training_is_picked_up_when_it_is_let_go(tmp_path, monkeypatch):
    base = EXP.config("smoke", {"run.progress": False})
    points = {"Sigmoid": {"method": "sigmoid"}}
    busy = store.run_dir(tmp_path, base.override({"method": "sigmoid", "seed": 1}))
    busy.mkdir(parents=True)
    monkeypatch.setattr(sweep, "BUSY_POLL_S", 0.1)
    held, let_go = threading.Event(), threading.Event()

    def other_sweep():  # holds the run's lock as another process training it would
        with runlock.hold(busy):
            held.set()
            let_go.wait(30)

    thread = threading.Thread(target=other_sweep)
    thread.start()
    held.wait(10)
    lines = []

    def log(*args, **kwargs):
        lines.append(" ".join(map(str, args)))
        if lines[-1].startswith("[1/2]"):  # the free run has trained; the other sweep now lets go
            threading.Timer(0.5, let_go.set).start()

    started = time.monotonic()
    table = sweep.run(points, base, (0, 1), tmp_path, jobs=1, log=log)
    thread.join()
    assert any(line.startswith("[busy] Sigmoid seed 1:") and f"being trained by pid {os.getpid()}" in line
               for line in lines)
    assert lines[-1].startswith("[2/2] Sigmoid seed 1") and list(table.seed) == [0, 1]
    assert time.monotonic() - started < 60


def test_a_torchrun_run_takes_its_slot_as_a_local_worker_does(tmp_path, monkeypatch):
    """Under torchrun, the child sees its slot's GPUs, runs on the slot's cores (its processes, started
    from it, inherit them) and gives each of its processes its share of them as threads."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = sorted(os.sched_getaffinity(0))
    seen = []

    def child(command, env=None, **kwargs):  # the torchrun child as it starts; a process it starts reports its cores
        report = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                                capture_output=True, text=True, check=True)
        env = env or {}
        seen.append((env.get("CUDA_VISIBLE_DEVICES"), env.get("OMP_NUM_THREADS"), report.stdout.strip()))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sweep, "subprocess", SimpleNamespace(run=child, DEVNULL=subprocess.DEVNULL))
    cfg = EXP.config("smoke", {"run.out_dir": str(tmp_path / "run")})
    sweep.torchrun(cfg, 2, {"gpus": "7,9", "cores": cores[:1]})
    sweep.torchrun(cfg, 1, {"gpus": "7", "cores": cores})
    assert seen == [("7,9", "1", str(cores[:1])), ("7", str(len(cores)), str(cores))]
    assert os.sched_getaffinity(0) == set(cores)  # the sweep itself keeps every core


TAKE_WHEN_TOLD = """import importlib.util, sys
spec = importlib.util.spec_from_file_location("runlock", sys.argv[1])
runlock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runlock)  # store/lock.py alone: no torch to import
sys.stdin.readline()
with runlock.hold(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("launcher", ["torchrun", "slurm"])
def test_a_run_another_process_takes_just_before_its_launch_is_skipped_as_busy(tmp_path, monkeypatch, launcher):
    """The race of two sweeps on one store under torchrun or SLURM: the run is free when this sweep
    looks, and another process takes it before the launcher starts it. It is skipped as busy (the
    `[busy]` line names that process) and trained once that process lets it go, not a failed sweep."""
    base = EXP.config("smoke", {"run.progress": False})
    folder = store.run_dir(tmp_path, base.override({"method": "sigmoid", "seed": 0}))
    folder.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", TAKE_WHEN_TOLD, runlock.__file__, str(folder)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    look, taken = store.holder, []

    def racy_look(path):  # free when looked at; taken by the other process right after
        free = look(path)
        if not taken:
            other.stdin.write("take\n")
            other.stdin.flush()
            taken.append(other.stdout.readline())
        return free

    def torchrun_child(command, env=None, **kwargs):  # the torchrun child, as its rank 0, in this process
        with monkeypatch.context() as m:
            for key, value in (env or {}).items():  # under the environment it is given
                if os.environ.get(key) != value:
                    m.setenv(key, value)
            train(RunConfig.from_dict(json.loads(Path(command[-1]).read_text())))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(store, "holder", racy_look)  # what the sweep asks
    monkeypatch.setattr(sweep, "BUSY_POLL_S", 0.1)
    monkeypatch.setattr(sweep, "subprocess", SimpleNamespace(run=torchrun_child, DEVNULL=subprocess.DEVNULL))
    monkeypatch.setattr(cluster, "CLUSTER", "local")
    monkeypatch.setattr(cluster, "POLL_S", 0.2)
    monkeypatch.setenv("MILELIB_SLURM", json.dumps({"timeout_min": 10}))
    lines = []

    def log(*args, **kwargs):
        lines.append(" ".join(map(str, args)))
        if lines[-1].startswith("[busy]"):
            other.stdin.close()  # the other process lets the run go

    started = time.monotonic()
    try:
        table = sweep.run({"Sigmoid": {"method": "sigmoid"}}, base, (0,), tmp_path, log=log, launcher=launcher)
    finally:
        other.kill()
        other.wait()
    assert taken == ["held\n"]
    assert any(line.startswith("[busy] Sigmoid seed 0:") and f"being trained by pid {other.pid} " in line
               for line in lines), lines
    assert lines[-1].startswith("[1/1] Sigmoid seed 0") and not table.reused.any()
    assert time.monotonic() - started < 60
