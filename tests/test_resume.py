"""A stopped run resumes from its last checkpoint and ends exactly where an unstopped one ends."""
import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import milelib.methods.supervised as S
import milelib.methods.mile as TS
from milelib import checkpoint, experiments, train
from milelib.models import build_model
from stopping import Stop, stop_on_call

EXP = experiments.get("multi_mnist").EXPERIMENT

# Checkpoints every 5 steps land in both phases of 7 + 4 step cycles, mid-imitation included,
# and between log rows (every 3 steps), so they hold losses not yet logged.
SETTINGS = {"method": "mile", "optim.steps": 240, "method.teacher_steps": 7, "method.student_steps": 4,
            "run.checkpoint_every": 5, "run.log_every": 3, "run.progress": False}
SCRIPT = ("import json, sys; from milelib import experiments, train; "
          "train(experiments.get('multi_mnist').EXPERIMENT.config('smoke', json.loads(sys.argv[1])))")


def smoke(**settings):
    return EXP.config("smoke", {"run.progress": False, **{k.replace("__", "."): v for k, v in settings.items()}})


def start(out, **extra):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps({**SETTINGS, **extra, "run.out_dir": str(out)})],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def saved_step(out) -> int:
    try:
        return int((out / "checkpoints" / "last").read_text().split("-")[1].split(".")[0])
    except (OSError, IndexError, ValueError):
        return 0


@pytest.mark.parametrize("variant", ["released", "algorithm1"])
def test_sigkill_at_random_steps_then_resume_gives_identical_metrics(tmp_path, variant):
    reference = start(tmp_path / "reference", **{"method.variant": variant})
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    expected = json.loads((tmp_path / "reference" / "result.json").read_text())

    out, seed = tmp_path / "killed", random.randrange(10**6)
    rng, kills = random.Random(seed), 0
    while kills < 3:
        before = saved_step(out)
        proc = start(out, **{"method.variant": variant})
        deadline = time.time() + 120
        while saved_step(out) <= before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))  # then a random moment: mid-step or mid-write
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        path = checkpoint.last_path(out / "checkpoints")  # what the kill left must be whole
        assert checkpoint.load(path)["step"] == saved_step(out)
    finish = start(out, **{"method.variant": variant})
    assert finish.wait(timeout=300) == 0, finish.stderr.read()

    got = json.loads((out / "result.json").read_text())
    # temps swept; the newest checkpoint and the one before it kept (resume falls back to it)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last", "step-000235.pt", "step-000240.pt"]
    assert kills >= 2, f"the run finished before it could be killed twice (seed {seed})"
    resumed = got["run"]["resumed_from_steps"]
    assert len(resumed) >= kills and all(0 < a < b for a, b in zip(resumed, resumed[1:])), resumed
    assert got["metrics"] == expected["metrics"], f"random seed {seed}"  # equal, not close
    assert (out / "metrics.csv").read_text() == (tmp_path / "reference" / "metrics.csv").read_text()
    assert (out / "cycles.csv").read_text() == (tmp_path / "reference" / "cycles.csv").read_text()


@pytest.mark.parametrize("variant", ["released", "algorithm1"])
def test_stops_at_chosen_steps_then_resume_gives_identical_metrics(tmp_path, monkeypatch, variant):
    settings = {**SETTINGS, "optim.steps": 40, "method.variant": variant}
    expected = train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "reference")}))
    real_step = TS.sgd_step
    # Stop at global steps 7, 12 and 19: the resumes start at checkpoints 5 (teacher phase),
    # 10 (mid-imitation: steps 8-11 imitate) and 15, each holding unlogged losses.
    for calls_before_stop in (7, 7, 9):
        stop_on_call(monkeypatch, TS, calls_before_stop)
        with pytest.raises(Stop):
            train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "stopped")}))
    monkeypatch.setattr(TS, "sgd_step", real_step)
    got = train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "stopped")}))
    saved = json.loads((tmp_path / "stopped" / "result.json").read_text())
    assert saved["run"]["resumed_from_steps"] == [5, 10, 15]
    assert got == expected  # equal, not close
    for name in ("metrics.csv", "cycles.csv"):
        assert (tmp_path / "stopped" / name).read_text() == (tmp_path / "reference" / name).read_text()


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls, real = [], S.Sigmoid.loss

    def poisoned(*args):
        calls.append(1)
        loss = real(*args)
        return loss * float("nan") if len(calls) == 10 else loss  # the 10th label step

    monkeypatch.setattr(S.Sigmoid, "loss", poisoned)
    cfg = smoke(method="sigmoid", run__checkpoint_every=4, run__log_every=3, run__out_dir=str(tmp_path))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 10 \(sigmoid\); run stopped and the "
                                                 r"last good checkpoint .*step-000008.pt is kept") as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert checkpoint.load(checkpoint.last_path(tmp_path / "checkpoints"))["step"] == 8
    assert not (tmp_path / "result.json").exists()


def test_checkpoint_from_another_config_is_refused(tmp_path):
    train(smoke(method="sigmoid", run__out_dir=str(tmp_path)))
    (tmp_path / "result.json").unlink()  # stopped before its end: only checkpoints
    with pytest.raises(ValueError, match=r"was made by another config \(hash \w+ != \w+\): use another out_dir"):
        train(smoke(method="sigmoid", optim__lr=0.3, run__out_dir=str(tmp_path)))


def test_result_of_another_config_is_refused(tmp_path):
    train(smoke(method="sigmoid", run__out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"result.json holds the result of another config \(hash \w+ != \w+\)") as err:
        train(smoke(method="sigmoid", optim__lr=0.3, run__out_dir=str(tmp_path)))
    assert "\n" not in str(err.value)


def test_checkpoint_from_another_model_is_refused(tmp_path):
    train(smoke(method="sigmoid", run__out_dir=str(tmp_path)))
    path = checkpoint.last_path(tmp_path / "checkpoints")
    state = checkpoint.load(path)
    with pytest.raises(ValueError, match=r"holds a 'small_cnn' model but the config asks for 'resnet18'"):
        checkpoint.check_compatible(state, path, "anything", "resnet18")


def test_checkpoint_with_unknown_keys_is_refused(tmp_path):
    net = build_model("small_cnn", 10)
    fake = {f"encoder.{k}": v for k, v in net.state_dict().items()}  # e.g. a MoCo-style prefix
    with pytest.raises(ValueError, match=r"does not fit SmallCNN: unknown keys \['encoder\..*missing keys"):
        checkpoint.load_weights(net, fake, "fake.pt")


def test_corrupt_checkpoint_gives_one_line(tmp_path):
    train(smoke(method="softmax", run__out_dir=str(tmp_path)))
    (tmp_path / "result.json").unlink()
    for path in (tmp_path / "checkpoints").glob("step-*.pt"):  # both kept checkpoints truncated on disk
        path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"checkpoint .*step-000024.pt is corrupt .*: delete it") as err:
        train(smoke(method="softmax", run__out_dir=str(tmp_path)))
    assert "\n" not in str(err.value)


def test_checkpoints_load_with_weights_only(tmp_path):
    train(smoke(method__variant="algorithm1", run__out_dir=str(tmp_path)))
    state = torch.load(checkpoint.last_path(tmp_path / "checkpoints"), weights_only=True)
    assert state["step"] == 24 and state["method"]["teacher"] is not None
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}


def test_rng_state_round_trip():
    state = checkpoint.rng_state()
    a = (random.random(), float(torch.rand(1)), __import__("numpy").random.rand())
    checkpoint.set_rng_state(state)
    assert (random.random(), float(torch.rand(1)), __import__("numpy").random.rand()) == a
