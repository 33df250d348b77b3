"""The single-positive multi-label losses and MILe's variants on tiny hand-checked cases.

One batch of B = 2 images and C = 4 classes, observed labels 0 and 1. Each loss is computed here by
hand (plain Python floats) and also compared with the value the authors' own code gives on the same
batch: their losses.py files (Cole et al. at commit 89152d5, Kim et al. at ac475fe, Zhou et al. at
ae1ccaf) run in float64 on these numbers.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math

import pytest
import torch
from torch import nn

import milelib.methods.supervised as S
import milelib.methods.single_positive as single_positive
from milelib import RunConfig, distributed, experiments, methods, train
from milelib.data import Batch
from milelib.distributed import World
from milelib.methods import base
from milelib.methods.base import Parts
from milelib.methods.single_positive import bce
from milelib.methods.mile import MileSettings, Threshold
from stopping import stopped_and_resumed

EXP = experiments.get("multi_mnist").EXPERIMENT
Z = [[2.0, -1.0, 0.5, -3.0], [-0.5, 1.5, -2.0, 0.0]]
LABELS = [0, 1]
Y = [[1, 0, 0, 0], [0, 1, 0, 0]]
EPS = 1e-5


def sig(z):
    return 1 / (1 + math.exp(-z))


P = [[sig(z) for z in row] for row in Z]


def nl(x):  # the authors' neg_log
    return -math.log(x + EPS)


def entries(f):
    """Mean of f(p, y) over the batch's 8 entries."""
    return sum(f(p, y) for prow, yrow in zip(P, Y) for p, y in zip(prow, yrow)) / 8


def epr_term(q, k):  # ((1/B) sum_n sum_i q_ni - k)^2 / C^2
    return (sum(map(sum, q)) / len(q) - k) ** 2 / 16


def parts(num_train=2, labels=LABELS):
    def new_net():
        return nn.Linear(2, 4)

    return Parts(torch.device("cpu"), 4, num_train, False, new_net, lambda net: torch.optim.SGD(net.parameters(), lr=0.1),
                 contextlib.nullcontext, train_labels=torch.tensor(labels))


def build(name, **settings):
    cfg = RunConfig().override({"method": name, **{f"method.{k}": v for k, v in settings.items()}})
    return methods.build(cfg, parts())


def loss(method, index=(0, 1)):
    batch = Batch(torch.zeros(2, 2), torch.tensor(LABELS), torch.tensor(index))
    return method.loss(torch.tensor(Z, dtype=torch.float64), batch).item()


def test_label_smoothing_by_hand():
    e = 0.1
    hand = entries(lambda p, y: (1 - e) * nl(p) + e * nl(1 - p) if y else (1 - e) * nl(1 - p) + e * nl(p))
    assert loss(build("an_ls", epsilon=e)) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(0.4885320841, abs=1e-9)  # the authors' loss_an_ls


def test_weak_assume_negative_by_hand():
    hand = entries(lambda p, y: nl(p) if y else nl(1 - p) / 3)  # C - 1 = 3
    assert loss(build("wan")) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(0.1506222180, abs=1e-9)  # the authors' loss_wan
    # the assumed negatives weigh 1/3 of AN's: WAN lies below AN on this batch
    assert hand < entries(lambda p, y: nl(p) if y else nl(1 - p))


def test_expected_positive_regulariser_by_hand():
    hand = entries(lambda p, y: nl(p) if y else 0.0) + epr_term(P, 1.5)
    assert loss(build("epr", expected_positives=1.5)) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(0.0473191219, abs=1e-9)  # the authors' loss_epr
    assert epr_term(P, 1.5) == pytest.approx(0.0062794089, abs=1e-9)


def test_role_by_hand_with_given_estimates():
    g = [[0.9, 0.3, 0.6, 0.2], [0.4, 0.8, 0.1, 0.5]]
    method = build("role", expected_positives=1.5)
    with torch.no_grad():
        method.estimates.logits.copy_(torch.logit(torch.tensor(g)))
    terms = []
    for prow, grow, yrow in zip(P, g, Y):
        for p, q, y in zip(prow, grow, yrow):
            positive = (nl(p) + nl(q)) if y else 0.0
            cross = (q * nl(p) + (1 - q) * nl(1 - p)) + (p * nl(q) + (1 - p) * nl(1 - q))
            terms.append(0.5 * (positive + cross))
    hand = sum(terms) / 8 + 0.5 * (epr_term(P, 1.5) + epr_term(g, 1.5))
    assert hand == pytest.approx(0.5843808837, abs=1e-9)  # the authors' loss_role
    assert loss(method) == pytest.approx(hand, abs=1e-6)  # the estimates are float32


def test_role_estimates_start_as_the_authors_and_learn_for_the_batch_rows_only():
    method = methods.build(RunConfig().override({"method": "role"}), parts(num_train=5, labels=[0, 1, 2, 3, 0]))
    g = method.estimates(torch.arange(5))
    assert torch.allclose(g[torch.arange(5), torch.tensor([0, 1, 2, 3, 0])], torch.full((5,), 0.995))
    others = g[torch.ones(5, 4, dtype=torch.bool).scatter(1, torch.tensor([[0], [1], [2], [3], [0]]), False)]
    assert others.min() >= 0.4 - 1e-6 and others.max() <= 0.6 + 1e-6 and others.std() > 0.01
    before = method.estimates.logits.detach().clone()
    method.step(Batch(torch.randn(2, 2), torch.tensor([2, 3]), torch.tensor([2, 3])), 0, 0.1)
    moved = (method.estimates.logits.detach() != before).any(dim=1)
    assert moved.tolist() == [False, False, True, True, False]
    fresh = methods.build(RunConfig().override({"method": "role"}), parts(num_train=5, labels=[0, 1, 2, 3, 0]))
    fresh.load_state_dict(method.state_dict(), "in-memory")
    assert torch.equal(fresh.estimates.logits, method.estimates.logits)


def test_role_under_torchrun_sends_its_global_batchs_rows_of_the_estimates_not_the_table(monkeypatch):
    """Under torchrun, ROLE's estimates' gradient is averaged on the global batch's rows alone
    (ImageNet's whole table: 5 GB a step). One of two processes, its twin holding the same rows (the
    collectives faked): its step is one process's, and no collective carries the N x C table. Image
    7 is twice in the batch (no sampler of ours does that; a caller might): its summed row counts once."""
    sent = []

    def all_reduce(t, op=None):  # the twin's tensor is this one's
        sent.append(t.numel())
        t.mul_(2)

    def all_gather(parts, t):
        sent.append(t.numel())
        for part in parts:
            part.copy_(t)

    monkeypatch.setattr(distributed.dist, "all_reduce", all_reduce)
    monkeypatch.setattr(base, "averaged", lambda net, w: contextlib.nullcontext(net))  # the twin's gradient is this one's
    monkeypatch.setattr(distributed.dist, "all_gather", all_gather)
    monkeypatch.setattr(distributed.dist, "broadcast", lambda t, src: sent.append(t.numel()))
    labels = [i % 4 for i in range(50)]
    batch = Batch(torch.randn(3, 2), torch.tensor([3, 2, 3]), torch.tensor([7, 2, 7]))
    steps = {}
    for world in (World(), World(0, 2)):
        torch.manual_seed(0)
        cfg = RunConfig().override({"method": "role", "method.estimate_lr": 0.05})
        method = methods.build(cfg, dataclasses.replace(parts(num_train=50, labels=labels), world=world))
        start = method.estimates.logits.detach().clone()
        method.step(batch, 0, 0.1)
        steps[world.size] = method.estimates.logits.detach()
    assert sent and max(sent) < 50 * 4  # the table is 50 x 4; the global batch's rows 6 x 4
    assert (steps[1] != start).any(dim=1).nonzero().flatten().tolist() == [2, 7]
    torch.testing.assert_close(steps[2], steps[1], rtol=0, atol=1e-7)


def test_role_that_cannot_fit_is_refused_with_the_memory_it_would_need(monkeypatch):
    monkeypatch.setattr(single_positive, "free_bytes", lambda device: 8 * 10**9)
    single_positive.check_estimates_fit(100_000, 1000, torch.device("cpu"))  # 1.6 GB: fits
    with pytest.raises(ValueError, match=r"ROLE's label estimates for 1,281,167 images x 1,000 classes need 20.5 GB "
                                         r".* and cpu has 8.0 GB free: train ROLE on a smaller fraction"):
        single_positive.check_estimates_fit(1_281_167, 1000, torch.device("cpu"))


# Kim et al.: epoch 0 is AN; epoch e modifies the k = ceil(8 e delta) largest unobserved losses.
def bce_entry(z, y):
    return -(y * math.log(sig(z)) + (1 - y) * math.log(1 - sig(z)))


AN = [[bce_entry(z, y) for z, y in zip(zr, yr)] for zr, yr in zip(Z, Y)]


def ll_loss(name, epoch, delta=0.2):
    method = build(name, delta_rel=delta)
    method._epoch = epoch
    return loss(method)


def test_large_loss_rejection_and_correction_by_hand():
    # the unobserved losses, largest first: (0,2) z=0.5, (1,3) z=0, (1,0) z=-0.5, (0,1) z=-1, ...
    unobserved = sorted(((AN[n][i], (n, i)) for n in range(2) for i in range(4) if not Y[n][i]), reverse=True)
    assert [pos for _, pos in unobserved[:4]] == [(0, 2), (1, 3), (1, 0), (0, 1)]
    an = sum(map(sum, AN)) / 8
    assert ll_loss("ll_r", 0) == pytest.approx(an, abs=1e-12)  # epoch 0: plain AN (k = 0)
    assert an == pytest.approx(0.3698024360, abs=1e-9)
    for epoch, k in ((1, 2), (2, 4)):  # k = ceil(8 * 0.2 * epoch)
        top = [pos for _, pos in unobserved[:k]]
        rejected = an - sum(AN[n][i] for n, i in top) / 8
        corrected = rejected + sum(bce_entry(Z[n][i], 1) for n, i in top) / 8
        assert ll_loss("ll_r", epoch) == pytest.approx(rejected, abs=1e-12)
        assert ll_loss("ll_ct", epoch) == pytest.approx(corrected, abs=1e-12)
    # the authors' code on the same batch (clean_rate 0.8 and 0.6; its corrected targets are float32)
    assert ll_loss("ll_r", 1) == pytest.approx(0.1613994154, abs=1e-8)
    assert ll_loss("ll_r", 2) == pytest.approx(0.0629820815, abs=1e-8)
    assert ll_loss("ll_ct", 1) == pytest.approx(0.3073024365, abs=1e-8)
    assert ll_loss("ll_ct", 2) == pytest.approx(0.4948024294, abs=1e-8)


def test_large_loss_never_touches_the_observed_label():
    # every unobserved entry modified (k = 8 > 6 unobserved): the observed ones keep AN's loss
    observed = (AN[0][0] + AN[1][1]) / 8
    assert ll_loss("ll_r", 5, delta=0.3) == pytest.approx(observed, abs=1e-12)


def test_entropy_maximisation_and_soft_pseudo_negatives_by_hand():
    alpha, beta, soft = 0.2, 0.02, {(0, 3): 0.05, (1, 2): 0.2}
    method = build("em_apl", alpha=alpha, beta=beta)
    with torch.no_grad():
        for (n, i), s in soft.items():
            method.soft_negatives[n, i] = s
    terms = []
    for n in range(2):
        for i in range(4):
            p = P[n][i]
            if Y[n][i]:
                terms.append(nl(p))
            elif (n, i) in soft:
                s = soft[(n, i)]
                terms.append(beta * (s * nl(p) + (1 - s) * nl(1 - p)))
            else:
                terms.append(-alpha * (p * nl(p) + (1 - p) * nl(1 - p)))
    assert loss(method) == pytest.approx(sum(terms) / 8, abs=1e-7)
    assert sum(terms) / 8 == pytest.approx(-0.0221707377, abs=1e-9)  # the authors' loss_EM_APL
    fresh = build("em_apl", alpha=alpha, beta=beta)  # no pseudo-negatives yet: EM alone
    assert loss(fresh) == pytest.approx(-0.0378883808, abs=1e-7)  # the authors' loss_EM


def test_apl_rounds_pick_each_class_lowest_unannotated_predictions():
    # 6 images of classes [0, 0, 1, 1, 2, 3]; 12 steps of batch 2 = 4 epochs of 3 steps; warm-up 2:
    # rounds before epochs 2 and 3, each taking int(0.5 * U_c / 2) per class (U = [4, 4, 5, 5])
    labels = [0, 0, 1, 1, 2, 3]
    cfg = RunConfig().override({"method": "em_apl", "method.warmup_epochs": 2, "method.neg_proportion": 0.5,
                                "optim.steps": 12, "optim.batch_size": 2})
    logits = torch.tensor([[-1.0, -5, -2, -3], [-2, -4, -1, -6], [-3, 0, -5, -1],
                           [-4, 1, -3, -2], [-5, -3, 0, -4], [-6, -2, -4, 0]])
    part = parts(num_train=6, labels=labels)
    part.predict_train = lambda net: logits
    method = methods.build(cfg, part)
    assert method.rounds() == 2 and [s for s in range(12) if method.starts_round(s)] == [6, 9]
    method.pseudo_label()
    chosen = ~method.soft_negatives.isnan()
    # budgets int(0.5 * 4 / 2) = 1 and int(0.5 * 5 / 2) = 1: each class's lowest unannotated image
    assert chosen.nonzero().tolist() == [[0, 1], [1, 3], [2, 2], [5, 0]]  # class 0: image 5 (z = -6), 1: image 0 ...
    assert method.soft_negatives[5, 0].item() == pytest.approx(sig(-6))
    method.pseudo_label()  # the next round takes the next lowest, never an observed label
    chosen = ~method.soft_negatives.isnan()
    assert chosen.sum(0).tolist() == [2, 2, 2, 2]
    assert not chosen[torch.arange(6), torch.tensor(labels)].any()
    assert chosen[4, 0] and chosen[1, 1] and chosen[5, 2] and chosen[4, 3]


def test_mile_variants_targets_and_losses_by_hand():
    t = torch.tensor([[-3.0, 2.0, -2.0, -1.0], [-0.5, 1.5, -2.0, 0.0]])  # teacher logits
    labels = torch.tensor([0, -1])  # the second image unlabelled (semi-supervised): nothing to keep
    plain = Threshold(MileSettings(rho=0.25)).targets(t.clone(), labels)
    assert plain.tolist() == [[0, 1, 0, 1], [1, 1, 0, 1]]  # sigmoid(-1) = 0.27 > 0.25 > sigmoid(-2) = 0.12
    kept = Threshold(MileSettings(rho=0.25, iterative_groundtruth=True)).targets(t.clone(), labels)
    assert kept.tolist() == [[1, 1, 0, 1], [1, 1, 0, 1]]  # (a) the observed label 0 back in the set
    soft = Threshold(MileSettings(pseudo_labels="soft")).targets(t.clone(), labels)
    assert torch.allclose(soft, t.sigmoid())  # (c) the teacher's probabilities
    weak = Threshold(MileSettings(negatives="weak"))
    z = torch.tensor(Z)
    target = torch.tensor([[1.0, 0, 0, 1], [0, 1, 0.5, 0]])
    hand = sum(-(y * math.log(sig(v)) + (1 - y) / 3 * math.log(1 - sig(v)))
               for zr, yr in zip(Z, target.tolist()) for v, y in zip(zr, yr)) / 8
    assert weak.imitation_loss(z, target).item() == pytest.approx(hand, abs=1e-6)  # (b) negatives / (C - 1)
    assert weak.label_loss(z, torch.tensor(LABELS)).item() == pytest.approx(
        sum(bce_entry(v, y) if y else bce_entry(v, 0) / 3 for zr, yr in zip(Z, Y) for v, y in zip(zr, yr)) / 8, abs=1e-6)
    # at weight 1 the helper is torch's BCE exactly: the paper's MILe is unchanged
    assert torch.equal(bce(z, target), torch.nn.functional.binary_cross_entropy_with_logits(z, target))


RESUMABLE = {"role": {"method": "role", "method.estimate_lr": 0.05},
             "em_apl": {"method": "em_apl", "method.warmup_epochs": 1},
             "ll_ct": {"method": "ll_ct", "method.delta_rel": 0.05}}


@pytest.mark.parametrize("name", list(RESUMABLE))
def test_spml_run_stopped_and_resumed_equals_an_unstopped_one(tmp_path, monkeypatch, name):
    settings = {**RESUMABLE[name], "run.progress": False, "run.checkpoint_every": 5, "run.log_every": 3}
    expected = train(EXP.config("smoke", {**settings, "run.out_dir": str(tmp_path / "reference")}))
    # 24 steps, 8 per epoch: stopped at step 12 (after the checkpoint at 10), then at step 16, the
    # start of the third epoch (EM + APL's second pseudo-labelling round), after the checkpoint at 15
    got = stopped_and_resumed(monkeypatch, S, lambda: train(EXP.config("smoke", {**settings, "run.out_dir": str(
        tmp_path / "stopped")})))
    assert got == expected  # equal, not close
    assert json.loads((tmp_path / "stopped" / "result.json").read_text())["run"]["resumed_from_steps"] == [10, 15]
    if name == "em_apl":
        assert got["pseudo_negatives"] > 0
