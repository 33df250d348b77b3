"""The paper profiles ask for a GPU and refuse, in one line, to train on a machine without one
(days of ResNet-50 on a CPU, silently, were the old behaviour); a GPU that nvidia-smi sees and
torch cannot use is named as a driver problem."""
import subprocess
from unittest import mock

import pytest

from milelib import experiments, sweep, training


def test_paper_profiles_ask_for_a_gpu_and_a_cpu_run_is_said_on_purpose():
    for name in experiments.NAMES:
        exp = experiments.get(name).EXPERIMENT
        assert exp.config("paper", data_root="/data").run.device == "cuda", name
        assert exp.config("quick").run.device == "auto", name
        assert exp.config("paper", {"run.device": "cpu"}, data_root="/data").run.device == "cpu", name
    # the device is not part of a run's identity: the CPU run of a paper config keeps its hash
    exp = experiments.get("multi_mnist").EXPERIMENT
    assert exp.config("paper").config_hash() == exp.config("paper", {"run.device": "cpu"}).config_hash()


def test_a_paper_sweep_refuses_on_a_machine_without_a_gpu(tmp_path):
    base = experiments.get("multi_mnist").EXPERIMENT.config("paper", data_root=str(tmp_path))
    with mock.patch("torch.cuda.is_available", return_value=False), mock.patch("shutil.which", return_value=None):
        with pytest.raises(ValueError) as err:
            sweep.run({"Sigmoid": {"method": "sigmoid"}}, base, (0,), tmp_path / "runs", jobs=1, log=lambda *a, **k: None)
    message = str(err.value)
    assert "\n" not in message and "torch sees no GPU here" in message and "run.device=cpu" in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("result.json"))


def test_a_gpu_torch_cannot_use_is_named_as_a_driver_problem():
    listed = subprocess.CompletedProcess([], 0, stdout="GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1234)\n")
    with mock.patch("torch.cuda.is_available", return_value=False), \
            mock.patch("shutil.which", return_value="/usr/bin/nvidia-smi"), \
            mock.patch("subprocess.run", return_value=listed):
        with pytest.raises(ValueError) as err:
            training.pick_device("cuda")
    message = str(err.value)
    assert "nvidia-smi sees GPU 0: NVIDIA H100 80GB HBM3 and torch" in message
    assert "driver is older than this build needs" in message and "requirements/cuda12.txt" in message
    assert "run.device=cpu" in message and "\n" not in message
