"""Each method on tiny hand-checked cases: ELR's loss and per-image targets (and their resume), the
teacher/student targets and losses, one-cycle schedules, and a tiny dataset every method must learn."""
from __future__ import annotations

import contextlib
import csv
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import milelib.methods.supervised as S
from milelib import RunConfig, experiments, methods, train
from milelib.data import Batch, Data, Split, TensorData
from milelib.methods.base import Parts
from milelib.methods.mile import Argmax, MileSettings, SoftTargets, Threshold
from milelib.registry import DATASETS
from stopping import stopped_and_resumed

EXP = experiments.get("multi_mnist").EXPERIMENT
LN2 = math.log(2.0)


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def softmax(row):
    e = [math.exp(z) for z in row]
    return [v / sum(e) for v in e]


def tiny_parts(num_train=5, num_classes=3):
    """Parts whose network is a fixed 2 -> num_classes linear map (ELR's loss never calls it)."""
    def new_net():
        net = nn.Linear(2, num_classes)
        with torch.no_grad():
            net.weight.fill_(0.5)
            net.bias.zero_()
        return net

    return Parts(torch.device("cpu"), num_classes, num_train, False, new_net,
                 lambda net: torch.optim.SGD(net.parameters(), lr=0.1), contextlib.nullcontext)


def test_a_step_after_evaluation_trains_in_train_mode_and_the_teacher_predicts_in_eval_mode():
    """sgd_step switches the mode only when it must (a walk over the modules costs 1% of a small
    step): a net evaluated (eval mode) must train again with batch statistics, every module of it."""
    def new_net():
        return nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))

    parts = Parts(torch.device("cpu"), 3, 4, False, new_net, lambda net: torch.optim.SGD(net.parameters(), lr=0.1),
                  contextlib.nullcontext)
    cfg = RunConfig().override({"method": "mile", "method.variant": "algorithm1", "method.teacher_steps": 1,
                                "method.student_steps": 1, "optim.steps": 4})
    mile = methods.build(cfg, parts)
    x = Batch(torch.randn(4, 2), torch.tensor([0, 1, 2, 0]), torch.arange(4))
    mile.net.eval()  # as evaluation leaves it
    mile.step(x, 0, 0.1)  # algorithm1: the teacher takes the label step
    assert all(m.training for m in mile.teacher.modules())
    mile.step(x, 1, 0.1)  # imitation: the teacher predicts in eval mode, the student trains
    assert not any(m.training for m in mile.teacher.modules())
    assert all(m.training for m in mile.net.modules())
    running = mile.net[1].running_mean.clone()
    mile.net.eval()
    mile.step(x, 2, 0.1)
    mile.step(x, 3, 0.1)
    assert all(m.training for m in mile.net.modules())
    assert not torch.equal(mile.net[1].running_mean, running)  # batch statistics were used and tracked


def elr(beta=0.6, lam=2.0):
    cfg = RunConfig().override({"method": "elr", "method.beta": beta, "method.lam": lam})
    return methods.build(cfg, tiny_parts())


# Row A: logits [ln 2, 0, 0] -> softmax [1/2, 1/4, 1/4] (inside the clamp), label 0.
# Row B: logits [10, 0, 0] -> softmax [0.99991, 4.5e-5, 4.5e-5]: clamped to [1 - 1e-4, 1e-4, 1e-4],
#        which sums to 1 + 1e-4 (so the renormalisation matters), label 2.
LOGITS = torch.tensor([[LN2, 0.0, 0.0], [10.0, 0.0, 0.0]])
P_A = [0.5, 0.25, 0.25]
P_B = [1 - 1e-4, 1e-4, 1e-4]
CE = [-math.log(0.5), math.log(math.exp(10) + 2)]  # -log softmax at the label: ln 2 and log(e^10 + 2)


def batch(index, labels=(0, 2)):
    return Batch(torch.zeros(len(index), 2), torch.tensor(labels), torch.tensor(index))


def test_elr_loss_and_targets_by_hand():
    method = elr(beta=0.6, lam=2.0)
    loss = method.loss(LOGITS.clone().requires_grad_(), batch([3, 1]))
    # first step: t = (1 - beta) p / sum(p) = 0.4 p / sum(p), the targets starting at zero
    t_a = [0.4 * v for v in P_A]                      # [0.2, 0.1, 0.1]
    t_b = [0.4 * v / (1 + 1e-4) for v in P_B]
    dot_a = sum(t * p for t, p in zip(t_a, P_A))       # 0.2*0.5 + 0.1*0.25 + 0.1*0.25 = 0.15
    dot_b = sum(t * p for t, p in zip(t_b, P_B))       # 0.4 ((1-1e-4)^2 + 2e-8) / (1+1e-4)
    assert dot_a == pytest.approx(0.15)
    hand = (CE[0] + CE[1]) / 2 + 2.0 * (math.log(1 - dot_a) + math.log(1 - dot_b)) / 2
    assert loss.item() == pytest.approx(hand, abs=2e-6)
    loss.backward()  # the regulariser is differentiable through p, the targets are not
    assert not method.targets.requires_grad

    t = method.targets
    assert t.shape == (5, 3)
    assert torch.allclose(t[3], torch.tensor(t_a), atol=1e-7) and torch.allclose(t[1], torch.tensor(t_b), atol=1e-7)
    assert torch.equal(t[[0, 2, 4]], torch.zeros(3, 3))  # rows not in the batch untouched

    # second step, rows 3 and 0: row 3 has momentum t <- 0.6 t + 0.4 p/sum(p), row 0 starts at zero
    loss2 = method.loss(LOGITS.clone(), batch([3, 0]))
    t_a2 = [0.6 * a + 0.4 * p for a, p in zip(t_a, P_A)]  # [0.12+0.2, 0.06+0.1, 0.06+0.1] = [0.32, 0.16, 0.16]
    assert t_a2 == pytest.approx([0.32, 0.16, 0.16])
    dot_a2 = 0.32 * 0.5 + 0.16 * 0.25 * 2             # 0.24
    hand2 = (CE[0] + CE[1]) / 2 + 2.0 * (math.log(1 - dot_a2) + math.log(1 - dot_b)) / 2
    assert loss2.item() == pytest.approx(hand2, abs=2e-6)
    assert torch.allclose(t[3], torch.tensor(t_a2), atol=1e-7)
    assert torch.allclose(t[0], torch.tensor(t_b), atol=1e-7)  # first visit of row 0: B's first-step target
    assert torch.allclose(t[1], torch.tensor(t_b), atol=1e-7)  # row 1 not in this batch: kept
    assert torch.equal(t[[2, 4]], torch.zeros(2, 3))


def test_elr_targets_past_a_gib_are_kept_in_bf16_and_match_float32_to_its_precision(monkeypatch):
    """ImageNet's 1.28M x 1000 float32 targets take 5.1 GB; past 1 GiB they are kept in bf16 (here the
    bound is lowered to the tiny case's 60 bytes): the same hand-computed targets, to bf16's 3 digits."""
    small = elr()
    monkeypatch.setattr(type(small), "BF16_ABOVE", 59)
    big = elr()
    assert small.targets.dtype == torch.float32 and big.targets.dtype == torch.bfloat16
    for rows in ([3, 1], [3, 0]):
        a, b = small.loss(LOGITS.clone(), batch(rows)), big.loss(LOGITS.clone(), batch(rows))
        assert b.item() == pytest.approx(a.item(), abs=5e-3)
    torch.testing.assert_close(big.targets.float(), small.targets, rtol=4e-3, atol=0)
    assert torch.allclose(big.targets[3].float(), torch.tensor([0.32, 0.16, 0.16]), rtol=4e-3)


def test_elr_with_beta_zero_and_lambda_zero_is_cross_entropy():
    # lam = 0 leaves CE alone: (ln 2 + log(e^10 + 2)) / 2
    assert elr(beta=0.0, lam=0.0).loss(LOGITS.clone(), batch([0, 1])).item() == pytest.approx(sum(CE) / 2, abs=2e-6)


def test_elr_targets_survive_state_dict_into_a_fresh_elr():
    method = elr()
    method.loss(LOGITS.clone(), batch([3, 1]))
    method.loss(LOGITS.clone(), batch([3, 0]))
    fresh = elr()
    assert torch.equal(fresh.targets, torch.zeros(5, 3))
    fresh.load_state_dict(method.state_dict(), "in-memory")
    assert torch.equal(fresh.targets, method.targets) and fresh.targets.abs().sum() > 0
    # and the next step continues the momentum identically
    a, b = method.loss(LOGITS.clone(), batch([1, 4])), fresh.loss(LOGITS.clone(), batch([1, 4]))
    assert a.item() == b.item() and torch.equal(fresh.targets, method.targets)


def test_elr_run_stopped_and_resumed_equals_an_unstopped_one(tmp_path, monkeypatch):
    settings = {"method": "elr", "run.progress": False, "run.checkpoint_every": 5, "run.log_every": 3}
    expected = train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "reference")}))
    # 24 steps of 8 per epoch; the 13th call is step 12 (0-based): stopped after the checkpoint at 10,
    # whose targets hold a whole first epoch's values and two steps of momentum on top
    # resumed at step 10, its 7th call is step 16: after the checkpoint at 15
    got = stopped_and_resumed(monkeypatch, S, lambda: train(EXP.config("smoke", {**settings, "run.out_dir": str(
        tmp_path / "stopped")})))
    assert got == expected  # equal, not close
    assert json.loads((tmp_path / "stopped" / "result.json").read_text())["run"]["resumed_from_steps"] == [10, 15]
    assert (tmp_path / "stopped" / "metrics.csv").read_text() == (tmp_path / "reference" / "metrics.csv").read_text()

    # the test can fail: a resume that forgets the targets ends elsewhere
    monkeypatch.setattr(S.ELR, "load_state_dict", lambda self, state, path: S.Softmax.load_state_dict(self, state, path))
    forgetful = stopped_and_resumed(monkeypatch, S, lambda: train(EXP.config("smoke", {**settings, "run.out_dir": str(
        tmp_path / "forgetful")})), stops=(13,))
    assert forgetful != expected


# Teacher logits T and student logits Z, 2 images x 3 classes, for the distillation targets.
T = [[0.0, -1.0, -1.2], [-3.0, 2.0, -1.09]]
Z = [[1.0, 0.0, -1.0], [0.5, 0.5, 2.0]]
LABELS = [2, 1]


def test_mile_threshold_targets_and_losses_by_hand():
    target = Threshold(MileSettings(rho=0.25))
    # sigmoid(z) > 0.25 <=> z > log(0.25 / 0.75) = -ln 3 = -1.0986: sigmoid(-1) = 0.269 in,
    # sigmoid(-1.2) = 0.231 out, sigmoid(-1.09) = 0.2516 in, sigmoid(-3) = 0.047 out
    assert sigmoid(-1.0) > 0.25 > sigmoid(-1.2) and sigmoid(-1.09) > 0.25 > sigmoid(-3.0)
    sets = target.targets(torch.tensor(T))
    assert sets.tolist() == [[True, True, False], [False, True, True]]
    # rho = 0.5: sigmoid(z) > 0.5 <=> z > 0, strictly (sigmoid(0) = 0.5 is out): only the 2.0
    assert Threshold(MileSettings(rho=0.5)).targets(torch.tensor(T)).tolist() == [[False] * 3, [False, True, False]]

    def bce(z, y):  # mean over images and classes of -(y log s + (1 - y) log(1 - s))
        terms = [-(y_ * math.log(sigmoid(z_)) + (1 - y_) * math.log(1 - sigmoid(z_)))
                 for zr, yr in zip(z, y) for z_, y_ in zip(zr, yr)]
        return sum(terms) / len(terms)

    one_hot = [[0, 0, 1], [0, 1, 0]]
    assert target.label_loss(torch.tensor(Z), torch.tensor(LABELS)).item() == pytest.approx(bce(Z, one_hot), abs=1e-6)
    assert target.imitation_loss(torch.tensor(Z), sets).item() == pytest.approx(
        bce(Z, [[1, 1, 0], [0, 1, 1]]), abs=1e-6)
    assert torch.allclose(target.probabilities(torch.tensor(Z)),
                          torch.tensor([[sigmoid(z) for z in row] for row in Z]))


def cross_entropy(z, labels):
    return sum(-math.log(softmax(row)[y]) for row, y in zip(z, labels)) / len(labels)


def test_hard_distillation_targets_and_losses_by_hand():
    target = Argmax(None)
    assert target.targets(torch.tensor(T)).tolist() == [0, 1]  # the largest of each row of T
    # imitation: CE of the student on the teacher's argmax: (-log softmax(Z0)[0] - log softmax(Z1)[1]) / 2
    hand = (-math.log(math.exp(1) / (math.exp(1) + 1 + math.exp(-1)))
            - math.log(math.exp(0.5) / (2 * math.exp(0.5) + math.exp(2)))) / 2
    assert cross_entropy(Z, [0, 1]) == pytest.approx(hand)
    assert target.imitation_loss(torch.tensor(Z), target.targets(torch.tensor(T))).item() == pytest.approx(hand, abs=1e-6)
    assert target.label_loss(torch.tensor(Z), torch.tensor(LABELS)).item() == pytest.approx(
        cross_entropy(Z, LABELS), abs=1e-6)
    assert target.sets(target.targets(torch.tensor(T))) is None


def test_soft_distillation_targets_and_kl_by_hand():
    target = SoftTargets(None)
    soft = target.targets(torch.tensor(T))
    assert torch.allclose(soft, torch.tensor([softmax(row) for row in T]), atol=1e-7)
    # KL(teacher || student), summed over classes and averaged over the batch
    kl = sum(t * math.log(t / s) for trow, zrow in zip(T, Z)
             for t, s in zip(softmax(trow), softmax(zrow))) / len(T)
    assert kl > 0
    assert target.imitation_loss(torch.tensor(Z), soft).item() == pytest.approx(kl, abs=1e-6)
    assert target.imitation_loss(torch.tensor(T), soft).item() == pytest.approx(0.0, abs=1e-6)  # KL(p || p) = 0
    assert target.label_loss(torch.tensor(Z), torch.tensor(LABELS)).item() == pytest.approx(
        cross_entropy(Z, LABELS), abs=1e-6)


@pytest.mark.parametrize("method", ["mile", "hard_distillation", "soft_distillation"])
def test_one_teacher_and_one_student_phase_is_one_cycle(tmp_path, method):
    # "without iterated learning": k_t + k_s = steps = 8 + 8, one teacher phase then one student phase
    cfg = EXP.config("smoke", {"method": method, "optim.steps": 16, "method.teacher_steps": 8,
                               "method.student_steps": 8, "run.progress": False, "run.out_dir": str(tmp_path)})
    result = train(cfg)
    assert result["label_steps"] == 8 and result["imitation_steps"] == 8
    with open(tmp_path / "cycles.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["cycle"] == "0" and rows[0]["step"] == "16"
    if method == "mile":
        assert 0 <= result["final_empty_share"] <= 1 and "final_mean_set_size" in result
    else:
        assert not any(k.startswith("final_") for k in result)


# A tiny dataset: 6x6 one-channel images, class c (of 4) lights the 3x3 quadrant c over noise.
@dataclass
class Quadrants:
    name: str = "quadrants"
    train: int = 256
    test: int = 128


def quadrant_images(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    x = rng.integers(0, 60, (n, 1, 6, 6)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 2)
        x[i, 0, 3 * r:3 * r + 3, 3 * col:3 * col + 3] += 180
    return TensorData(x, labels, np.eye(4, dtype=bool)[labels], 0.3, 0.3)


def build_quadrants(s):
    splits = {name: quadrant_images(n, seed) for name, n, seed in (("val", 64, 1), ("test", s.test, 2))}
    return Data(quadrant_images(s.train, 0), {k: Split(v, v.labels, v.true_sets) for k, v in splits.items()},
                num_classes=4, in_channels=1, threshold_split="val", report_split="test")


@pytest.fixture(scope="module")
def quadrants():
    DATASETS.add("quadrants", Quadrants, build_quadrants)
    yield "quadrants"
    DATASETS.remove("quadrants")


@pytest.mark.parametrize("method", ["softmax", "sigmoid", "oracle", "elr", "mile", "hard_distillation",
                                    "soft_distillation", "an_ls", "wan", "epr", "role", "ll_r", "ll_ct", "em_apl"])
def test_every_method_learns_a_tiny_easy_task(quadrants, method):
    settings = {"data": quadrants, "method": method, "optim.steps": 40, "optim.batch_size": 32, "optim.lr": 0.1,
                "optim.warmup_steps": 3, "model.width": 8, "run.threads": 1, "run.progress": False}
    if method in ("mile", "hard_distillation", "soft_distillation"):
        settings.update({"method.teacher_steps": 25, "method.student_steps": 15})
    if method == "em_apl":  # 8 steps per epoch: pseudo-negatives from the third epoch on
        settings["method.warmup_epochs"] = 2
    result = train(RunConfig().override(settings))
    assert result["accuracy"] >= 0.95, result["accuracy"]
    assert result["label_steps"] + result["imitation_steps"] == 40
