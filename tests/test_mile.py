"""The teacher/student schedule: teacher and student steps counted, per cycle and per network."""
import pytest
import torch

import milelib.methods.supervised as S
import milelib.methods.mile as TS
from milelib import experiments, train
from milelib.methods.mile import PseudoLabelStats, Schedule, MILe

EXP = experiments.get("multi_mnist").EXPERIMENT


def test_schedule_phases_by_hand():
    s = Schedule(teacher_steps=3, student_steps=2)
    assert [s.phase(i) for i in range(11)] == ["teacher"] * 3 + ["student"] * 2 + ["teacher"] * 3 + ["student"] * 2 + ["teacher"]
    assert [i for i in range(11) if s.starts_cycle(i)] == [0, 5, 10]
    assert [i for i in range(11) if s.starts_imitation(i)] == [3, 8]
    assert [i for i in range(11) if s.ends_imitation(i)] == [4, 9]
    assert s.cycle(9) == 1 and s.cycle(10) == 2


def small(overrides=None, **settings):
    return EXP.config("smoke", {"run.progress": False, **(overrides or {}), **settings})


def spy_steps(monkeypatch):
    """Record, for every optimizer step, which network took it and whether it was an imitation step."""
    calls, imitating = [], []
    real_step, real_pseudo = TS.sgd_step, MILe.pseudo_labels

    def pseudo(self, x, labels=None, step=0):
        imitating.append(id(self.teacher))
        return real_pseudo(self, x, labels, step)

    def step(net, *args):
        calls.append((id(net), bool(imitating)))
        imitating.clear()
        return real_step(net, *args)

    for module in (TS, S):
        monkeypatch.setattr(module, "sgd_step", step)
    monkeypatch.setattr(MILe, "pseudo_labels", pseudo)
    return calls


@pytest.mark.parametrize("variant", ["released", "algorithm1"])
def test_mile_counts_teacher_and_student_steps(monkeypatch, variant):
    # 23 steps with k_t=4, k_s=3: three whole cycles (12 label + 9 imitation steps) and 2 label
    # steps of a fourth cycle; 23 in all, the same as a baseline's.
    calls = spy_steps(monkeypatch)
    result = train(small({"optim.steps": 23, "method.teacher_steps": 4, "method.student_steps": 3,
                          "method.variant": variant}))
    assert len(calls) == 23
    assert result["label_steps"] == 14 and result["imitation_steps"] == 9
    phases = ["student" if imitation else "teacher" for _, imitation in calls]
    assert phases == [Schedule(4, 3).phase(i) for i in range(23)]
    label_nets = {net for net, imitation in calls if not imitation}
    student_nets = {net for net, imitation in calls if imitation}
    assert len(label_nets) == 1 and len(student_nets) == 1
    if variant == "released":   # one network takes every step
        assert label_nets == student_nets
    else:                       # a separate teacher takes the label steps
        assert label_nets != student_nets


@pytest.mark.parametrize("method", ["softmax", "sigmoid", "oracle", "elr"])
def test_baselines_take_the_same_number_of_steps(monkeypatch, method):
    calls = spy_steps(monkeypatch)
    result = train(small({"method": method, "optim.steps": 23}))
    assert len(calls) == 23 and result["label_steps"] == 23 and result["imitation_steps"] == 0
    assert not any(imitation for _, imitation in calls)


def test_algorithm1_copies_teacher_from_student_each_cycle(monkeypatch):
    # At each cycle start the teacher's weights must equal the student's (Alg. 1, line 2).
    seen = []
    real_copy = TS.copy_weights

    def copy(dst, src):
        real_copy(dst, src)
        seen.append(all(torch.equal(a, b) for a, b in zip(dst.state_dict().values(), src.state_dict().values())))

    monkeypatch.setattr(TS, "copy_weights", copy)
    train(small({"optim.steps": 14, "method.teacher_steps": 4, "method.student_steps": 3,
                 "method.variant": "algorithm1"}))
    assert seen == [True, True]  # cycles start at steps 0 and 7


def test_pseudo_labels_statistics_by_hand():
    sets = torch.tensor([[True, False, True], [False, False, False], [True, True, True], [False, True, False]])
    stats = PseudoLabelStats()
    stats.add(sets)
    # sizes 2, 0, 3, 1: one empty of four, one full of four, mean size 6 / 4
    assert stats.summary() == {"empty_share": 0.25, "full_share": 0.25, "mean_set_size": 1.5}


def test_mile_logs_pseudo_label_statistics_per_cycle(tmp_path):
    train(small({"optim.steps": 14, "method.teacher_steps": 4, "method.student_steps": 3,
                 "run.out_dir": str(tmp_path)}))
    rows = (tmp_path / "cycles.csv").read_text().splitlines()
    assert rows[0] == "cycle,step,empty_share,full_share,mean_set_size"
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", "7"], ["1", "14"]]
