"""What would break the first GPU and cluster run, simulated on CPUs: SLURM's CPU binding (workers
divided twice), a resume on fewer GPUs than the checkpoint saw, NCCL's process-group options, GPUs
without bf16, and BatchNorm's statistics under several processes."""
import os
from datetime import timedelta
from unittest import mock

import pytest
import torch
import torch.distributed as dist

from milelib import checkpoint, distributed, evaluate, training
from milelib.config import RunConfig
from milelib.methods.base import Parts, sgd_step
from milelib.notices import MilelibWarning


@pytest.mark.parametrize("env, cores, workers", [
    ({"SLURM_CPUS_PER_TASK": "12", "LOCAL_WORLD_SIZE": "8"}, 12, 11),   # the README's SLURM example, 8 GPUs
    ({"SLURM_CPUS_PER_TASK": "12", "LOCAL_WORLD_SIZE": "4"}, 12, 11),
    ({"SLURM_CPUS_PER_TASK": "12", "LOCAL_WORLD_SIZE": "8"}, 96, 11),   # a cluster that does not bind tasks
    ({"SLURM_CPUS_PER_TASK": "96", "LOCAL_WORLD_SIZE": "8", "TORCHELASTIC_RUN_ID": "x"}, 96, 11),  # torchrun in sbatch
    ({"LOCAL_WORLD_SIZE": "8", "TORCHELASTIC_RUN_ID": "x"}, 96, 11),    # torchrun on a workstation
])
def test_auto_workers_under_slurm_are_divided_once(monkeypatch, env, cores, workers):
    """A SLURM task is bound to its own cpus_per_task: its workers are those cores less one, not
    those cores divided again by the tasks of its node (which gave 0 workers on 8 GPUs)."""
    for name in ("SLURM_CPUS_PER_TASK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert RunConfig().override({"run.workers": "auto"}).run.loader_workers() == workers


def test_a_checkpoint_of_8_gpus_resumes_on_1(monkeypatch):
    """8 CUDA RNG states loaded where one GPU is visible: the first restored into cuda:0, the others
    not (torch's set_rng_state_all indexed past the device count), with one line on exactness."""
    restored = {}

    def set_state(state, device=0):
        index = torch.device(device).index if not isinstance(device, int) else device
        if index >= 1:
            raise IndexError("list index out of range")  # as torch does past the visible GPUs
        restored[index] = state

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_state)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", set_state)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [torch.full((8,), i, dtype=torch.uint8)
                                                                  for i in range(8)])
    state = checkpoint.rng_state()
    with pytest.warns(MilelibWarning, match=r"RNG states of 8 GPU\(s\) and this process sees 1: 1 restored"):
        checkpoint.set_rng_state(state)
    assert list(restored) == [0] and restored[0].tolist() == [0] * 8


def test_nccl_gets_a_long_first_wait_and_raises_where_the_one_line_is_made(monkeypatch):
    calls = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.delenv("TORCH_NCCL_BLOCKING_WAIT", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kw: calls.update(backend=backend, **kw))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(dist, "set_timeout", lambda timeout, group=None: calls.update(settled=timeout))
    w = distributed.world(5.0)
    assert w == distributed.World(1, 2, 1) and calls["backend"] == "nccl"
    assert calls["timeout"] == timedelta(minutes=30)  # until the first step: scans and compiles at their own pace
    assert calls["device_id"] == torch.device("cuda", 1)
    assert os.environ["TORCH_NCCL_BLOCKING_WAIT"] == "1"  # a timeout raises in the loop, not in NCCL's watchdog
    distributed.settle(w, 5.0)
    assert calls["settled"] == timedelta(minutes=5)
    assert RunConfig().override({"run.first_timeout_minutes": 90}).run.first_timeout_minutes == 90


def test_nccl_errors_of_a_lost_process_get_the_one_line():
    error = RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a "
                         "network error, NCCL version 2.21.5\nncclRemoteError: A call failed possibly due to a "
                         "network error or a remote process exiting prematurely.")
    lost = distributed.unanswered(error, distributed.World(0, 2), 5.0)
    assert isinstance(lost, distributed.Unanswered) and "stopped answering" in str(lost)
    assert distributed.unanswered(RuntimeError("CUDA out of memory"), distributed.World(0, 2), 5.0) is None


@pytest.mark.parametrize("capability, dtype", [((7, 0), torch.float16), ((7, 5), torch.float16),
                                               ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_gpus_without_bf16_train_in_fp16_with_a_loss_scaler(monkeypatch, capability, dtype):
    """V100 (7.0) and T4 (7.5) have no bf16: fp16 autocast and a GradScaler; A100 (8.0) on, bf16."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    device = torch.device("cuda:0")
    assert evaluate.half_precision(device) == dtype
    with mock.patch("torch.autocast") as autocast:
        evaluate.autocast(device)
    autocast.assert_called_once_with("cuda", dtype=dtype)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() and dtype == torch.float16 else nullwarn():
        scaler = training.grad_scaler(device)  # torch disables it, warning, where CUDA is missing
    assert (scaler is not None) == (dtype == torch.float16)
    facts = training.runtime_facts(device, distributed.World(), False)
    assert facts["precision"] == {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    assert evaluate.half_precision("cpu") is None and training.runtime_facts(torch.device("cpu"), distributed.World(),
                                                                             False)["precision"] == "fp32"


class nullwarn:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_fp16_path_scales_the_loss_and_trains_as_fp32_does():
    """sgd_step under a GradScaler: the backward pass runs on the scaled loss and the optimizer steps
    through the scaler, on unscaled gradients: the weights are those of a float32 step."""
    if not hasattr(torch.amp, "GradScaler"):
        pytest.skip("this torch has no torch.amp.GradScaler")
    torch.manual_seed(0)
    nets = [torch.nn.Linear(6, 3) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    seen = []
    real_scale = scaler.scale
    scaler.scale = lambda loss: seen.append(float(loss.detach())) or real_scale(loss)

    def parts(scaler):
        import contextlib
        return Parts(torch.device("cpu"), 3, 8, False, None, None, contextlib.nullcontext, scaler=scaler)

    for net, s in zip(nets, (None, scaler)):
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            sgd_step(net, opt, x, lambda z: ((z - y) ** 2).mean(), parts(s), 0.1)
            if s is not None:
                s.update()
    assert len(seen) == 3 and scaler.get_scale() == 2.0 ** 10  # no overflow: the scale kept
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)


def test_batchnorm_statistics_are_the_global_batchs_on_gpus_and_refused_per_process_on_cpus():
    """One config hash, one experiment: several GPU processes convert BatchNorm to SyncBatchNorm by
    default; several CPU processes (no SyncBatchNorm there) are refused unless run.sync_bn=false asks
    for per-process statistics, which the run's facts then name."""
    cfg, gpu, cpu = RunConfig().override({"method": "sigmoid"}), torch.device("cuda:0"), torch.device("cpu")
    two, one = distributed.World(0, 2), distributed.World()
    assert cfg.run.sync_bn == "auto" and cfg.model.norm == "batch"
    assert training.syncs_batchnorm(cfg, gpu, two) and not training.syncs_batchnorm(cfg, gpu, one)
    assert not training.syncs_batchnorm(cfg, cpu, two)
    with mock.patch("milelib.distributed.world", return_value=two), pytest.raises(ValueError) as err:
        training.train(cfg.override({"optim.steps": 2, "optim.batch_size": 8, "run.progress": False}))
    message = str(err.value)
    assert "\n" not in message and "normalises each process's 4 images, not the global batch of 8" in message
    assert "model.norm=group" in message and "run.sync_bn=false" in message
    per_process = cfg.override({"run.sync_bn": False, "optim.batch_size": 64})
    assert training.batchnorm_fact(per_process, cpu, distributed.World(0, 8)) == {"batchnorm": "per process of 8"}
    assert training.batchnorm_fact(cfg, gpu, two) == {} and training.batchnorm_fact(cfg.override(
        {"model.norm": "group"}), cpu, two) == {}
    with pytest.raises(ValueError, match="run.sync_bn must be auto, true or false"):
        cfg.override({"run.sync_bn": "yes"})
