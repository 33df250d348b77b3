"""Two CPU processes under torchrun (gloo) train the same run as one process given the same global
batch: each takes its rows of every batch (still in (seed, step) order), gradients are averaged,
evaluation counts every image exactly once, and rank 0 alone writes."""
import json

import pytest
import torch

from milelib import experiments, sweep, train
from milelib.data import TensorData

# group norm: per-image statistics, so the split of a batch over processes cannot change them
SETTINGS = {"model.norm": "group", "optim.steps": 12, "optim.batch_size": 32, "run.progress": False,
            "run.checkpoint_every": 6}


def test_two_processes_match_one(tmp_path):
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", SETTINGS)
    one = train(cfg.override({"run.out_dir": str(tmp_path / "one")}))
    sweep.torchrun(cfg.override({"run.out_dir": str(tmp_path / "two")}), gpus=2)
    saved = json.loads((tmp_path / "two" / "result.json").read_text())
    two = saved["metrics"]
    assert saved["run"]["processes"] == 2 and one["images"] == two["images"] == 128
    assert two["val/images"] == one["val/images"] == 64
    assert two == pytest.approx(one, abs=1e-6)  # accuracy, ReaL-F1, mAP, thresholds, step counts
    listing = {name: sorted(p.name for p in (tmp_path / name / "checkpoints").iterdir()) for name in ("one", "two")}
    assert listing["two"] == listing["one"] and "step-000012.pt" in listing["two"]  # one writer, no strays


def test_shards_of_a_batch_are_its_rows(tmp_path):
    data = TensorData(torch.arange(40, dtype=torch.uint8).reshape(40, 1, 1, 1).numpy(), torch.arange(40).numpy())
    whole = next(data.batches(5, 8, seed=1, device="cpu")).index
    parts = [next(data.batches(5, 8, seed=1, device="cpu", shard=(rank, 2))).index for rank in (0, 1)]
    assert sorted(torch.cat(parts).tolist()) == sorted(whole.tolist()) and len(parts[0]) == len(parts[1]) == 4


def test_a_batch_that_does_not_split_is_refused(tmp_path):
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {**SETTINGS, "optim.batch_size": 31})
    with pytest.raises(RuntimeError, match=r"torchrun training .* on 2 processes exited with 1"):
        sweep.torchrun(cfg.override({"run.out_dir": str(tmp_path / "odd")}), gpus=2)
