"""The switches of the authors' released MILe code, as settings of `mile`: iterative_groundtruth,
sample_teacher with its temperature, and a warm-up of label steps before the first cycle."""
import contextlib
import json
from types import SimpleNamespace

import pytest
import torch

import milelib.methods.mile as TS
from milelib import RunConfig, experiments, train
from milelib.distributed import World
from milelib.methods.mile import MileSettings, Schedule, Threshold
from stopping import stopped_and_resumed
from test_mile import spy_steps

EXP = experiments.get("multi_mnist").EXPERIMENT


def small(**settings):
    return EXP.config("smoke", {"run.progress": False, **settings})


def test_schedule_with_warmup_by_hand():
    s = Schedule(teacher_steps=2, student_steps=1, warmup_steps=3)
    assert [s.phase(i) for i in range(9)] == ["teacher"] * 5 + ["student"] + ["teacher"] * 2 + ["student"]
    assert [i for i in range(9) if s.starts_cycle(i)] == [3, 6]
    assert [i for i in range(9) if s.starts_imitation(i)] == [5, 8]
    assert [i for i in range(9) if s.ends_imitation(i)] == [5, 8]
    assert [s.cycle(i) for i in (5, 8)] == [0, 1] and s.warming_up(2) and not s.warming_up(3)


def test_iterative_groundtruth_ors_the_observed_label_into_the_set():
    logits = torch.tensor([[2.0, -3.0, -1.5], [-2.0, -2.0, 1.0]])  # sigma > 0.25: {0}, {2}
    labels = torch.tensor([1, 2])
    plain = Threshold(MileSettings(rho=0.25)).targets(logits.clone(), labels)
    kept = Threshold(MileSettings(rho=0.25, iterative_groundtruth=True)).targets(logits.clone(), labels)
    assert plain.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert kept.tolist() == [[1, 1, 0], [0, 0, 1]]  # image 0 had lost its observed label 1


def test_sample_teacher_draws_bernoulli_of_the_tempered_sigmoid():
    logits = torch.tensor([[0.0, 2.0, -1.0]]).repeat(20000, 1)
    for t in (1.0, 0.5):
        target = Threshold(MileSettings(sample_teacher=True, temperature=t))
        drawn = target.targets(logits.clone(), None, torch.Generator().manual_seed(0)).mean(dim=0)
        expected = (logits[0] / (t + 1e-5)).sigmoid()  # 0.5, 0.88, 0.27 at T = 1
        assert torch.allclose(drawn, expected, atol=0.015), (t, drawn, expected)
    # the authors' temperature 0 is a threshold at 0.5, whatever rho says
    cold = Threshold(MileSettings(sample_teacher=True, temperature=0.0, rho=0.1))
    z = torch.tensor([[0.3, -0.3, 2.0, -1.5]])
    assert cold.targets(z.clone(), None, torch.Generator().manual_seed(1)).tolist() == [[1, 0, 1, 0]]


def test_sampled_targets_are_a_function_of_seed_and_step():
    method = TS.MILe.__new__(TS.MILe)  # the draw only: no training networks needed
    method.cfg = RunConfig().override({"method": "mile", "method.sample_teacher": True, "seed": 3})
    method.target, method.teacher = Threshold(method.cfg.method), torch.nn.Linear(4, 50)
    method.parts = SimpleNamespace(autocast=contextlib.nullcontext, world=World())
    x = torch.randn(64, 4)
    a, b, c = (method.pseudo_labels(x, None, step) for step in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_switches_refuse_bad_values_in_one_line():
    with pytest.raises(ValueError, match=r"^method.temperature must be >= 0"):
        MileSettings(sample_teacher=True, temperature=-1.0)
    with pytest.raises(ValueError, match=r"^method.sample_teacher samples 0/1 targets"):
        MileSettings(sample_teacher=True, pseudo_labels="soft")
    with pytest.raises(ValueError, match=r"^method.warmup_steps must be >= 0"):
        MileSettings(warmup_steps=-2)
    with pytest.raises(ValueError, match=r"^method.warmup_steps \+ method.teacher_steps \(k_t\), 20 \+ 4, >= optim.steps 24"):
        small(**{"method.warmup_steps": 20})
    with pytest.raises(ValueError, match=r"did you mean method.iterative_groundtruth\?$"):
        small(**{"method.keep_observed": True})


def test_switches_at_their_defaults_keep_stored_runs_hashes():
    base = RunConfig().override({"method": "mile"})
    same = base.override({"method.iterative_groundtruth": False, "method.sample_teacher": False,
                          "method.temperature": 1.0, "method.warmup_steps": 0})
    assert same.config_hash() == base.config_hash() == "16d3bf517f4c"  # MILe's default hash before the switches
    for key, value in (("method.sample_teacher", True), ("method.warmup_steps", 4), ("method.iterative_groundtruth", True)):
        assert base.override({key: value}).config_hash() != base.config_hash()


@pytest.mark.parametrize("variant", ["released", "algorithm1"])
def test_warmup_trains_the_student_on_labels_before_the_first_cycle(tmp_path, monkeypatch, variant):
    # 24 steps: a warm-up of 6 label steps (0-5), then cycles of k_t=4, k_s=3: labels 6-9, imitation
    # 10-12, labels 13-16, imitation 17-19, labels 20-23
    calls = spy_steps(monkeypatch)
    result = train(small(**{"optim.steps": 24, "method.teacher_steps": 4, "method.student_steps": 3,
                            "method.warmup_steps": 6, "method.variant": variant, "run.out_dir": str(tmp_path)}))
    assert result["label_steps"] == 6 + 4 + 4 + 4 and result["imitation_steps"] == 3 + 3
    assert [imitation for _, imitation in calls] == [Schedule(4, 3, 6).phase(i) == "student" for i in range(24)]
    student = calls[10][0]
    assert {net for net, _ in calls[:6]} == {student}  # the warm-up's label steps are the student's own
    assert (calls[6][0] == student) == (variant == "released")  # algorithm1's teacher takes the cycle's
    cycles = (tmp_path / "cycles.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in cycles[1:]] == [["0", "13"], ["1", "20"]]  # cycle, its last step + 1


def test_sampled_run_stopped_and_resumed_equals_an_unstopped_one(tmp_path, monkeypatch):
    settings = {"method.sample_teacher": True, "method.teacher_steps": 4, "method.student_steps": 3,
                "method.warmup_steps": 2, "run.checkpoint_every": 5, "run.log_every": 3}
    expected = train(small(**settings, **{"run.out_dir": str(tmp_path / "reference")}))
    got = stopped_and_resumed(monkeypatch, TS, lambda: train(small(**settings, **{"run.out_dir": str(tmp_path / "stopped")})))
    assert got == expected  # equal, not close: the same targets drawn after the resume
    assert json.loads((tmp_path / "stopped" / "result.json").read_text())["run"]["resumed_from_steps"]
