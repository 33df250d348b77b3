"""`optim.bce`: the sigmoid losses averaged over images x classes ("mean"), or summed over classes
and averaged over images with the classifier bias at -log(C) ("sum": the authors' rescale_sigmoid
and adjust_bias). At ImageNet's 1,000 classes only the second gives Sigmoid gradients of
Softmax's size at the same learning rate."""
from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

from milelib import RunConfig, methods
from milelib.data import Batch
from milelib.methods.base import Parts
from milelib.models import build_model, classifier


def make(method: str, num_classes: int, bce: str, width: int = 8, seed: int = 0, **settings):
    """A method on a small CNN whose weights depend on `seed` alone, so two methods start alike."""
    def new_net():
        torch.manual_seed(seed)
        return build_model("small_cnn", num_classes, 1, width)

    cfg = RunConfig().override({"method": method, "optim.bce": bce, **settings})
    parts = Parts(torch.device("cpu"), num_classes, 16, True, new_net,
                  lambda net: torch.optim.SGD(net.parameters(), lr=0.0), contextlib.nullcontext,
                  train_labels=torch.arange(16) % num_classes)
    return methods.build(cfg, parts)


def batch(num_classes: int, size: int = 16, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(size, 1, 21, 21, generator=g), torch.randint(num_classes, (size,), generator=g),
                 torch.arange(size))


def gradient_norms(method, b) -> tuple[float, float]:
    """After one step at lr 0: the classifier's weight gradient norm, and the last conv layer's."""
    method.step(b, 0, 0.0)
    conv = [m for m in method.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    return classifier(method.net).weight.grad.norm().item(), conv.weight.grad.norm().item()


def test_sigmoid_learns_at_softmax_pace_at_1000_classes_only_when_summed():
    b = batch(1000)
    softmax = gradient_norms(make("softmax", 1000, "sum"), b)
    summed = gradient_norms(make("sigmoid", 1000, "sum"), b)
    averaged = gradient_norms(make("sigmoid", 1000, "mean"), b)
    for ours, theirs in zip(summed, softmax):  # the classifier, then a layer deep inside
        assert 0.5 < ours / theirs < 2, (summed, softmax)
    for ours, theirs in zip(averaged, softmax):  # averaged over 1,000 classes: 1/17 of softmax's at
        assert ours / theirs < 0.1, (averaged, softmax)  # the start (sigmoids at 1/2), 1/1000 once they settle


def test_summing_without_the_prior_bias_would_not_do():
    """Half of the pieces is not enough: summed BCE from torch's bias (sigmoids at 1/2) drowns each
    image's positive in its 999 negatives, gradients far above softmax's."""
    b = batch(1000)
    summed = make("sigmoid", 1000, "sum")
    torch.nn.init.zeros_(classifier(summed.net).bias)
    assert gradient_norms(summed, b)[0] / gradient_norms(make("softmax", 1000, "sum"), b)[0] > 5


def test_summed_loss_by_hand():
    """Sigmoid's loss under "sum" is sum_i BCE(z_ni, y_ni) averaged over n, computed here from
    its definition; the classifier bias starts at -log(C) = -log 4; softmax ignores the setting."""
    b = batch(4, size=3)
    sigmoid = make("sigmoid", 4, "sum")
    assert torch.equal(classifier(sigmoid.net).bias, torch.full((4,), -math.log(4)))
    with torch.no_grad():
        z = sigmoid.net(b.x)
    by_hand = sum(-math.log(1 / (1 + math.exp(-z[n, i].item()))) if i == b.y[n] else
                  -math.log(1 - 1 / (1 + math.exp(-z[n, i].item()))) for n in range(3) for i in range(4)) / 3
    assert sigmoid.step(b, 0, 0.0).item() == pytest.approx(by_hand, rel=1e-5)
    averaged = make("sigmoid", 4, "mean")
    averaged.net.load_state_dict(sigmoid.net.state_dict())
    assert averaged.step(b, 0, 0.0).item() == pytest.approx(by_hand / 4, rel=1e-5)

    softmax_sum, softmax_mean = make("softmax", 4, "sum"), make("softmax", 4, "mean")
    assert torch.equal(classifier(softmax_sum.net).bias, classifier(softmax_mean.net).bias)
    assert softmax_sum.step(b, 0, 0.0).item() == softmax_mean.step(b, 0, 0.0).item()


@pytest.mark.parametrize("variant", ["released", "algorithm1"])
def test_mile_sums_its_label_and_imitation_losses(variant):
    """MILe under "sum": every network it builds starts at the prior bias, and its label and
    imitation steps both report C times the averaged loss of the same weights."""
    settings = {"method.teacher_steps": 1, "method.student_steps": 1, "method.variant": variant}
    b = batch(4, size=8)
    summed, averaged = make("mile", 4, "sum", **settings), make("mile", 4, "mean", **settings)
    assert torch.equal(classifier(summed.net).bias, torch.full((4,), -math.log(4)))
    averaged.net.load_state_dict(summed.net.state_dict())
    for step in (0, 1):  # a label step, then an imitation step
        assert summed.step(b, step, 0.0).item() == pytest.approx(4 * averaged.step(b, step, 0.0).item(), rel=1e-5)
    if variant == "algorithm1":  # its teacher is a network of its own
        assert torch.equal(classifier(make("mile", 4, "sum", **settings).teacher).bias,
                           torch.full((4,), -math.log(4)))


@pytest.mark.parametrize("method", ["an_ls", "wan", "epr", "ll_r", "em_apl", "oracle"])
def test_single_positive_losses_follow_the_setting(method):
    """Each loss built on sigmoids is C times its averaged self under "sum" (same weights)."""
    b = batch(4, size=8)
    b.true_sets = F.one_hot(b.y, 4).bool()
    summed, averaged = make(method, 4, "sum"), make(method, 4, "mean")
    averaged.net.load_state_dict(summed.net.state_dict())
    assert summed.step(b, 0, 0.0).item() == pytest.approx(4 * averaged.step(b, 0, 0.0).item(), rel=1e-5)


def test_unknown_reduction_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"unknown optim.bce 'avg': choose one of mean, sum"):
        RunConfig().override({"optim.bce": "avg"})
