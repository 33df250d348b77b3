"""Sweeps on a machine with several GPUs (its GPUs faked on the CPU) and on a store another sweep
is using: one run per GPU slot side by side, each worker seeing only its GPU on its share of the
cores; runs another process is training skipped and picked up when it lets them go."""
import json
import os
import queue
import threading
import time
from pathlib import Path

import pytest
import torch

import milelib.sweep as sweep
from milelib import experiments, runlock

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
    busy = sweep.run_dir(tmp_path, base.override({"method": "sigmoid", "seed": 1}))
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
