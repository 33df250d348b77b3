"""GR Loss (Chen et al., IJCAI 2024) on a tiny hand-checked case, its schedules, and a short run.

One batch of B = 2 images and C = 4 classes, observed labels 0 and 1, in a run of T = 4 epochs (2
training images, batches of 2: one step per epoch). The loss is computed here by hand (plain Python
floats) and also compared with the value the authors' own code gives on the same batch: their
losses.py GR_loss, models.py KFunction and VFunction and train.py's schedules (github.com/yan4xi1/
GRLoss at 5e13f7f), run in float64, their epoch e + 1 of num_epochs = 4 for our 0-based epoch e.
"""
from __future__ import annotations

import contextlib
import math

import pytest
import torch
from torch import nn

from milelib import RunConfig, experiments, methods, train
from milelib.data import Batch
from milelib.methods.base import Parts

EXP = experiments.get("multi_mnist").EXPERIMENT
Z = [[2.0, -1.0, 0.5, -3.0], [-0.5, 1.5, -2.0, 0.0]]
LABELS = [0, 1]
Y = [[1, 0, 0, 0], [0, 1, 0, 0]]
T = 4  # epochs of the run `build` makes
DEFAULTS = dict(w_0=0.0, w_max=2.0, b_0=-2.0, b_max=-2.0, mu_0=0.5, sigma_0=2.0, mu_max=0.8, sigma_max=0.5,
                q2=0.01, q3=1.0)
OTHER = dict(w_0=1.0, w_max=3.0, b_0=-1.0, b_max=-3.0, mu_0=0.2, sigma_0=1.0, mu_max=0.9, sigma_max=0.25,
             q2=0.5, q3=0.5)  # every setting moved, q3 < 1 included


def sig(z):
    return 1 / (1 + math.exp(-z))


def parts(num_train=2):
    return Parts(torch.device("cpu"), 4, num_train, False, lambda: nn.Linear(2, 4),
                 lambda net: torch.optim.SGD(net.parameters(), lr=0.1), contextlib.nullcontext,
                 train_labels=torch.tensor(LABELS))


def build(**settings):
    cfg = RunConfig().override({"method": "gr_loss", "optim.steps": T, "optim.batch_size": 2,
                                **{f"method.{k}": v for k, v in settings.items()}})
    return methods.build(cfg, parts())


def loss(method, epoch):
    method._epoch = epoch
    batch = Batch(torch.zeros(2, 2), torch.tensor(LABELS), torch.tensor([0, 1]))
    return method.loss(torch.tensor(Z, dtype=torch.float64), batch).item()


def by_hand(epoch, s):
    w = s["w_0"] + (s["w_max"] - s["w_0"]) * epoch / T
    b = s["b_0"] + (s["b_max"] - s["b_0"]) * epoch / T
    mu = s["mu_0"] + (s["mu_max"] - s["mu_0"]) * (epoch + 1) / T
    sigma = s["sigma_0"] + (s["sigma_max"] - s["sigma_0"]) * (epoch + 1) / T
    terms = []
    for zrow, yrow in zip(Z, Y):
        for z, y in zip(zrow, yrow):
            p = sig(z)
            if y:
                terms.append(-math.log(p + 1e-7))
            else:
                k = sig(w * p + b)
                v = math.exp(-0.5 * ((p - mu) / sigma) ** 2)
                l2 = (1 - p ** s["q2"]) / s["q2"]
                l3 = (1 - (1 - p) ** s["q3"]) / s["q3"]
                terms.append(v * (k * l2 + (1 - k) * l3))
    return sum(terms) / 8


def test_defaults_are_the_authors():
    assert {k: v for k, v in vars(build().cfg.method).items() if k != "name"} == DEFAULTS


@pytest.mark.parametrize("epoch, authors", [(0, 0.3758118043), (2, 0.3564593481), (3, 0.2773526345)])
def test_loss_by_hand_and_as_the_authors_code_gives_it(epoch, authors):
    hand = by_hand(epoch, DEFAULTS)
    assert loss(build(), epoch) == pytest.approx(hand, abs=1e-9)
    assert hand == pytest.approx(authors, abs=1e-9)  # their GR_loss, epoch + 1 of num_epochs 4


def test_loss_with_every_setting_moved_by_hand_and_as_the_authors_code_gives_it():
    hand = by_hand(1, OTHER)
    assert loss(build(**OTHER), 1) == pytest.approx(hand, abs=1e-9)
    assert hand == pytest.approx(0.3761304008, abs=1e-9)  # their GR_loss, epoch 2 of 4


def test_schedule_k_one_epoch_behind_v():
    method = build()
    # k's (w, b) from (w_0, b_0) in epoch 0 by (w_max - w_0) / T an epoch: (w_max, b_max) never reached;
    # v's (mu, sigma) already a step along in epoch 0, at (mu_max, sigma_max) in the last, as their code
    assert method.schedule(0) == pytest.approx((0.0, -2.0, 0.575, 1.625))
    assert method.schedule(2) == pytest.approx((1.0, -2.0, 0.725, 0.875))
    assert method.schedule(3) == pytest.approx((1.5, -2.0, 0.8, 0.5))


def test_step_sets_the_epoch_of_the_step():
    method = build()
    method.step(Batch(torch.randn(2, 2), torch.tensor(LABELS), torch.tensor([0, 1])), 2, 0.1)
    assert method._epoch == 2  # one step per epoch here


def test_gradient_is_finite_for_confident_entries():
    method = build(q3=0.5)  # 1 - p rounds to 0 in float32 at z = 20: (1 - p)^q3 would give a NaN gradient
    z = torch.tensor([[20.0, 20.0, -20.0, 0.0], [0.0, -20.0, 20.0, 20.0]], requires_grad=True)
    method._epoch = 1
    method.loss(z, Batch(torch.zeros(2, 2), torch.tensor(LABELS), torch.tensor([0, 1]))).backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("setting, value, message", [
    ("sigma_0", 0.0, r"method.sigma_0 and method.sigma_max must be > 0 \(the widths of v\), got 0.0 and 0.5"),
    ("sigma_max", -1.0, r"method.sigma_0 and method.sigma_max must be > 0"),
    ("q2", 0.0, r"method.q2 and method.q3 must lie in \(0, 1\] .*got 0.0 and 1.0"),
    ("q3", 2.0, r"method.q2 and method.q3 must lie in \(0, 1\]"),
    ("w_max", math.nan, r"method.w_max must be a finite number, got nan"),
])
def test_bad_settings_fail_in_one_line(setting, value, message):
    with pytest.raises(ValueError, match=message) as error:
        build(**{setting: value})
    assert "\n" not in str(error.value)


def test_short_run_finishes_with_a_finite_map(tmp_path):
    got = train(EXP.config("smoke", {"method": "gr_loss", "run.progress": False, "run.out_dir": str(tmp_path)}))
    assert got["label_steps"] == 24 and math.isfinite(got["map"]) and 0 < got["map"] <= 1
