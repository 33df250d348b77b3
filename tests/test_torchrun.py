"""Two CPU processes under torchrun (gloo) train the same run as one process given the same global
batch: each takes its rows of every batch (still in (seed, step) order), gradients are averaged,
evaluation counts every image exactly once, and rank 0 alone writes."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from milelib import experiments, sweep, train
from milelib.data import TensorData
from milelib.distributed import World
from milelib.methods.single_positive import expected_positives
from milelib.notices import MilelibWarning

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


def torchrun_misbehaving(cfg, what: str, at: int, timeout: float = 120) -> subprocess.CompletedProcess:
    """`cfg` trained by 2 torchrun processes, one of which misbehaves (tests/misbehave.py)."""
    path = Path(cfg.run.out_dir).parent / f"{what}.json"
    path.write_text(json.dumps(cfg.override({"run.progress": False}).to_dict()))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(Path(__file__).parent / "misbehave.py"), str(path), what, str(at)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("method", [{"method.name": "elr"}, {"method.name": "ll_r", "method.delta_rel": 0.05},
                                    {"method.name": "role", "method.estimate_lr": 0.05}])
def test_methods_with_per_image_state_or_batch_statistics_match_one_process(tmp_path, method):
    """ELR's targets are updated from every process's rows, ROLE's estimates from the gradient of
    every process's rows (only those sent), and LL's k largest losses (from step 8, its epoch 1) are
    the global batch's: two processes train one process's network. (Weights to 1e-5:
    float sums in another order; EPR's R is checked below, its 12 steps here amplifying that noise to
    1e-4, as one process on 1 and on 2 threads does.)"""
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {**SETTINGS, **method})
    one = train(cfg.override({"run.out_dir": str(tmp_path / "one")}))
    sweep.torchrun(cfg.override({"run.out_dir": str(tmp_path / "two")}), gpus=2)
    two = json.loads((tmp_path / "two" / "result.json").read_text())["metrics"]
    assert two == pytest.approx(one, abs=1e-6)
    last = f"step-{cfg.optim.steps:06d}.pt"
    saved = {name: torch.load(tmp_path / name / "checkpoints" / last, weights_only=False)["method"]
             for name in ("one", "two")}
    for key, weights in saved["one"]["net"].items():
        torch.testing.assert_close(saved["two"]["net"][key], weights, rtol=0, atol=1e-5)
    if method["method.name"] == "elr":
        assert saved["one"]["targets"].count_nonzero() > 0
        torch.testing.assert_close(saved["two"]["targets"], saved["one"]["targets"], rtol=0, atol=1e-6)
    if method["method.name"] == "role":  # rank 0's estimates: every process's rows learnt, as in one process
        estimates = {name: saved[name]["estimates"]["logits"] for name in ("one", "two")}
        torch.testing.assert_close(estimates["two"], estimates["one"], rtol=0, atol=1e-5)


def _expected_positives_on_half(rank, folder, logits):
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    mine = logits[rank::2].clone().requires_grad_()
    loss = expected_positives(mine.sigmoid(), 4.0, World(rank, 2))
    loss.backward()
    torch.save({"loss": loss.detach(), "grad": mine.grad}, f"{folder}/{rank}.pt")
    dist.destroy_process_group()


def test_expected_positives_are_the_global_batchs(tmp_path):
    """EPR's and ROLE's R under two processes, each holding half the batch: its value is the whole
    batch's R, and its gradient, averaged over the processes, the whole batch's gradient."""
    logits = torch.randn(16, 10, generator=torch.Generator().manual_seed(0)) * 3  # counts that vary by image
    whole = logits.clone().requires_grad_()
    loss = expected_positives(whole.sigmoid(), 4.0, World())
    loss.backward()
    mp.spawn(_expected_positives_on_half, args=(str(tmp_path), logits), nprocs=2)
    for rank in (0, 1):
        half = torch.load(tmp_path / f"{rank}.pt")
        torch.testing.assert_close(half["loss"], loss.detach())
        torch.testing.assert_close(half["grad"] / 2, whole.grad[rank::2])


def test_batchnorm_processes_stay_in_step_and_resume_exactly_after_rank_0_is_killed(tmp_path):
    """With BatchNorm (per-process statistics on purpose: no SyncBatchNorm on CPUs), every process
    holds rank 0's running statistics after each step: the metrics
    (each process scoring its share of the test images) are those of the saved network scored by one
    process, and a run whose rank 0 was killed resumes to an unstopped run's metrics and weights."""
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {**SETTINGS, "model.norm": "batch",
                                                                   "run.sync_bn": False, "method.name": "sigmoid"})
    sweep.torchrun(cfg.override({"run.out_dir": str(tmp_path / "whole")}), gpus=2)
    whole = json.loads((tmp_path / "whole" / "result.json").read_text())["metrics"]

    shutil.copytree(tmp_path / "whole", tmp_path / "scored")
    with pytest.warns(MilelibWarning, match=r"processes 1 \(it ran with 2\)"):  # scored by one process
        scored = train(cfg.override({"run.out_dir": str(tmp_path / "scored"), "run.reevaluate": True}))
    assert scored == pytest.approx(whole, abs=1e-6)

    stopped = cfg.override({"run.out_dir": str(tmp_path / "stopped")})
    killed = torchrun_misbehaving(stopped, "die", at=9)  # after the checkpoint at step 6
    assert killed.returncode != 0 and not (tmp_path / "stopped" / "result.json").exists()
    sweep.torchrun(stopped, gpus=2)
    resumed = json.loads((tmp_path / "stopped" / "result.json").read_text())
    assert resumed["run"]["resumed_from_steps"] == [6]
    assert resumed["metrics"] == pytest.approx(whole, abs=1e-6)
    nets = [torch.load(tmp_path / name / "checkpoints" / "step-000012.pt", weights_only=False)["method"]["net"]
            for name in ("whole", "stopped")]
    for key in nets[0]:
        torch.testing.assert_close(nets[1][key], nets[0][key], rtol=0, atol=0)


def test_a_process_that_stops_answering_ends_the_run_in_one_line(tmp_path):
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {**SETTINGS, "method.name": "sigmoid",
                                                                   "run.timeout_minutes": 0.05})
    started = time.monotonic()
    stalled = torchrun_misbehaving(cfg.override({"run.out_dir": str(tmp_path / "stalled")}), "stall", at=5)
    assert stalled.returncode != 0 and time.monotonic() - started < 90
    lines = [line for line in stalled.stderr.splitlines() if line.startswith("milelib:")]
    assert len(lines) == 1, stalled.stderr[-3000:]
    assert "process 1 of 2 stopped answering (last step finished: 4); process 0 waited for it after step 4" in lines[0]
    assert "run.timeout_minutes=0.05" in lines[0] and "resume from the last checkpoint" in lines[0]


def test_a_process_whose_weights_drift_stops_the_run_in_one_line(tmp_path):
    """Every log_every steps the processes compare checksums of their weights: one nudged weight on
    process 1 (after its 5th step) stops the run at the next comparison (step 10), in one line."""
    cfg = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {**SETTINGS, "method.name": "sigmoid",
                                                                   "run.log_every": 5})
    drifted = torchrun_misbehaving(cfg.override({"run.out_dir": str(tmp_path / "drifted")}), "perturb", at=6)
    assert drifted.returncode != 0 and not (tmp_path / "drifted" / "result.json").exists()
    lines = [line for line in drifted.stderr.splitlines() if line.startswith("milelib:")]
    assert lines and all("\n" not in line for line in lines), drifted.stderr[-3000:]
    assert "after step 10 the weights of process 1 of 2 differ from process 0's" in lines[0]
    assert "rerun the same command to resume from the last checkpoint" in lines[0]


class Three(torch.nn.Module):
    """Three layers, of which each call uses the ones named."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Linear(4, 3) for _ in range(3))

    def forward(self, x, names):
        return sum(getattr(self, name)(x).sum() for name in names)


def _average_with_unused(rank, folder, used_by):
    """Each process backpropagates through its own subset of the network's layers."""
    from milelib.distributed import averaged

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    torch.manual_seed(0)
    net = Three()
    x = torch.full((2, 4), float(rank + 1))
    for _ in range(2):  # twice: nothing of a step carried into the next
        net.zero_grad(set_to_none=True)
        with averaged(net, World(rank, 2)) as model:
            model(x, used_by[rank]).backward()
    torch.save({name: [None if p.grad is None else p.grad.clone() for p in getattr(net, name).parameters()]
                for name in "abc"}, f"{folder}/{rank}.pt")
    dist.destroy_process_group()


def test_averaging_a_parameter_unused_on_one_process_neither_hangs_nor_invents_a_gradient(tmp_path):
    """Layer b is used on process 0 only, c on neither: b's gradient is process 0's over 2 (process
    1's zeros) on both processes, and c keeps no gradient, as one process leaves it (the optimizer
    then skips it). Leaving b out on process 1 (a `grad is not None` filter) would hang or mismatch."""
    mp.spawn(_average_with_unused, args=(str(tmp_path), {0: ["a", "b"], 1: ["a"]}), nprocs=2, join=True)
    grads = [torch.load(tmp_path / f"{rank}.pt") for rank in (0, 1)]
    x = {0: 1.0, 1: 2.0}
    for rank in (0, 1):
        g = grads[rank]
        torch.testing.assert_close(g["a"][0], torch.full((3, 4), (x[0] + x[1]) * 2 / 2))  # the mean over processes
        torch.testing.assert_close(g["b"][0], torch.full((3, 4), x[0] * 2 / 2))
        assert g["c"] == [None, None]
