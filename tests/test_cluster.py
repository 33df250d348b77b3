"""The SLURM launcher, through submitit's local executor (the same code path as on a cluster, its
jobs local processes): a sweep as a job array gives the runs a sweep in this process gives; a
requeued task (submitit's checkpoint) resumes its run exactly; a machine without SLURM, or bad job
settings, are refused in one line."""
import json

import pytest

import milelib.cluster as cluster
import milelib.sweep as sweep
from milelib import experiments, train
from milelib.methods import supervised

from stopping import Stop, stop_on_call

EXP = experiments.get("multi_mnist").EXPERIMENT
POINTS = {"Sigmoid": {"method": "sigmoid"}}


def test_a_sweep_runs_as_a_job_array(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster, "CLUSTER", "local")
    monkeypatch.setattr(cluster, "POLL_S", 0.5)
    monkeypatch.setenv("MILELIB_SLURM", json.dumps({"timeout_min": 10}))
    base = EXP.config("smoke", {"run.progress": False})
    lines = []
    array = sweep.run(POINTS, base, (0, 1), tmp_path / "array", launcher="slurm",
                      log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    here = sweep.run(POINTS, base, (0, 1), tmp_path / "here", jobs=1, log=lambda *a, **k: None)
    metrics = [c for c in here.columns if c.startswith(("map", "f1@", "val/map"))]
    assert list(array.seed) == [0, 1] and not array.reused.any()
    assert array[metrics].to_numpy().ravel() == pytest.approx(here[metrics].to_numpy().ravel(), abs=1e-6)
    assert lines[-1].startswith("[2/2]") and list((tmp_path / "array" / ".slurm").iterdir())  # the jobs' logs


def test_a_requeued_task_resumes_its_run(tmp_path, monkeypatch):
    cfg = EXP.config("smoke", {"method": "sigmoid", "run.progress": False, "run.checkpoint_every": 4})
    whole = train(cfg.override({"run.out_dir": str(tmp_path / "whole")}))
    stopped = cfg.override({"run.out_dir": str(tmp_path / "stopped")})
    real = stop_on_call(monkeypatch, supervised, 6)  # preempted after the checkpoint at step 4
    with pytest.raises(Stop):
        train(stopped)
    monkeypatch.setattr(supervised, "sgd_step", real)
    requeued = cluster.TrainRun().checkpoint(stopped.to_dict())  # what submitit resubmits on preemption
    monkeypatch.setattr(cluster.submitit, "JobEnvironment", lambda: type("One", (), {"num_tasks": 1})())
    requeued.result()
    saved = json.loads((tmp_path / "stopped" / "result.json").read_text())
    assert saved["run"]["resumed_from_steps"] == [4] and saved["metrics"] == pytest.approx(whole, abs=1e-9)


def test_no_slurm_or_bad_job_settings_are_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster.shutil, "which", lambda name: None)
    base = EXP.config("smoke", {"run.progress": False})
    with pytest.raises(ValueError, match="launcher slurm needs SLURM's sbatch, which is not on this machine's PATH"):
        sweep.run(POINTS, base, (0,), tmp_path, launcher="slurm", log=lambda *a, **k: None)
    monkeypatch.setenv("MILELIB_SLURM", "partition=gpu")
    with pytest.raises(ValueError, match="MILELIB_SLURM holds 'partition=gpu': expected a JSON mapping"):
        cluster.settings()
