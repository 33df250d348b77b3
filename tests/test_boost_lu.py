"""The CAM head (model.head=cam) and BoostLU on tiny hand-checked cases.

BoostLU's maps: B = 2 images, C = 4 classes, 2 x 2 positions, observed labels 0 and 1. The boosted
logits and LL-R's loss are computed here in plain Python and compared with what the authors' code
gives on the same maps: `ImageClassifier.forward` (models.py) with an identity 1x1 convolution and
`compute_batch_loss` (losses.py) of github.com/youngwk/BridgeGapExplanationPAMC at commit 4a1986c,
run in float64 (clean_rate 1, 0.75, 0.5 for epochs 0, 1, 2 at delta_rel 0.25).
"""
from __future__ import annotations

import contextlib
import math

import pytest
import torch

from milelib import RunConfig, experiments, methods, pretrained, train
from milelib.data import Batch
from milelib.methods.base import Parts
from milelib.methods.boost_lu import BoostLUSettings
from milelib.models import CAMHead, build_model, cam_head, classifier, prior_bias
from milelib.training import load_run

EXP = experiments.get("multi_mnist").EXPERIMENT
M = [[[[1.0, -0.5], [0.25, -2.0]], [[-1.0, 0.5], [-0.25, -0.75]], [[0.3, 0.2], [-0.1, 0.4]], [[-3.0, -1.0], [-2.0, 0.1]]],
     [[[-0.2, -0.4], [0.6, -1.0]], [[0.8, 1.2], [-0.4, 0.0]], [[-1.5, -0.5], [-2.5, -1.0]], [[0.5, -0.3], [0.2, -0.6]]]]
LABELS = [0, 1]


def identity_head() -> CAMHead:
    """A CAM head whose maps are its input: a 1x1 identity convolution, no bias, in float64."""
    head = CAMHead(4, 4).double()
    with torch.no_grad():
        head.conv.weight.copy_(torch.eye(4, dtype=torch.float64).view(4, 4, 1, 1))
        head.conv.bias.zero_()
    return head


def boost_lu(alpha=5.0, delta=0.25, new_net=identity_head):
    cfg = RunConfig().override({"method": "boost_lu", "model.head": "cam", "method.alpha": alpha,
                                "method.delta_rel": delta})
    parts = Parts(torch.device("cpu"), 4, 2, False, new_net, lambda net: torch.optim.SGD(net.parameters(), lr=0.1),
                  contextlib.nullcontext)
    return methods.build(cfg, parts)


def hand_logits(alpha):
    return [[sum(alpha * v if v > 0 else v for row in m for v in row) / 4 for m in maps] for maps in M]


def bce(z, y):
    return -(y * math.log(1 / (1 + math.exp(-z))) + (1 - y) * math.log(1 - 1 / (1 + math.exp(-z))))


def hand_loss(alpha, epoch, delta=0.25):
    """LL-R on the boosted logits: the k = ceil(8 e delta) largest unobserved losses set to 0."""
    z = hand_logits(alpha)
    losses = {(n, i): bce(z[n][i], float(i == LABELS[n])) for n in range(2) for i in range(4)}
    k = math.ceil(8 * epoch * delta)
    rejected = sorted((pos for pos in losses if pos[1] != LABELS[pos[0]]), key=losses.get, reverse=True)[:k]
    return sum(v for pos, v in losses.items() if pos not in rejected) / 8


def method_loss(method, epoch):
    batch = Batch(torch.tensor(M, dtype=torch.float64), torch.tensor(LABELS), torch.tensor([0, 1]))
    method._epoch = epoch
    return method.loss(method.net(batch.x), batch).item()


def test_cam_head_logits_are_the_mean_of_its_one_by_one_convolution_maps():
    head = CAMHead(2, 3).double()
    w, b = [[1.0, -2.0], [0.5, 0.5], [0.0, 3.0]], [0.1, -0.2, 0.0]
    x = [[[[1.0, 2.0], [0.0, -1.0]], [[0.5, 0.0], [-0.5, 1.0]]]]  # one image, 2 channels, 2 x 2
    with torch.no_grad():
        head.conv.weight.copy_(torch.tensor(w, dtype=torch.float64).view(3, 2, 1, 1))
        head.conv.bias.copy_(torch.tensor(b, dtype=torch.float64))
    hand = [sum(w[c][0] * x[0][0][i][j] + w[c][1] * x[0][1][i][j] + b[c] for i in range(2) for j in range(2)) / 4
            for c in range(3)]
    assert head(torch.tensor(x, dtype=torch.float64)).tolist()[0] == pytest.approx(hand, abs=1e-12)
    assert head.maps(torch.tensor(x, dtype=torch.float64)).shape == (1, 3, 2, 2)


@pytest.mark.parametrize("name, channels, size", [("small_cnn", 1, 42), ("resnet18", 1, 64), ("resnet50d", 3, 64)])
def test_both_model_families_build_with_a_cam_head(name, channels, size):
    net = build_model(name, 7, channels, width=8, head="cam")
    assert isinstance(cam_head(net), CAMHead) and classifier(net) is cam_head(net).conv
    assert net(torch.randn(2, channels, size, size)).shape == (2, 7)
    assert cam_head(build_model(name, 7, channels, width=8)) is None  # the linear head as before
    if name != "small_cnn":  # the ResNet's own keys, but for fc: checkpoints load as into the ResNet
        linear = build_model(name, 7, channels).state_dict()
        cam = net.state_dict()
        assert {k for k in cam if not k.startswith("fc.")} == {k for k in linear if not k.startswith("fc.")}
        assert cam["fc.conv.weight"].shape == (7, linear["fc.weight"].shape[1], 1, 1)


def test_cam_resnet_loads_a_pretrained_backbone_and_keeps_its_head(tmp_path):
    source = build_model("resnet18", 5, 3)
    torch.save(source.state_dict(), tmp_path / "r18.pth")
    net = build_model("resnet18", 5, 3, head="cam")
    fresh = net.fc.conv.weight.clone()
    assert pretrained.load_into(net, "resnet18", str(tmp_path / "r18.pth"), "torchvision") == "torchvision"
    assert torch.equal(net.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert torch.equal(net.fc.conv.weight, fresh)


def test_prior_bias_on_a_cam_net():
    net = build_model("small_cnn", 10, 1, width=8, head="cam")
    prior_bias(net)
    assert torch.equal(cam_head(net).conv.bias, torch.full((10,), -math.log(10)))
    with torch.no_grad():
        cam_head(net).conv.weight.zero_()
    assert torch.allclose(net(torch.randn(2, 1, 42, 42)), torch.full((2, 10), -math.log(10)))


def test_boosted_maps_and_loss_by_hand_and_as_the_authors_code():
    for alpha in (5.0, 2.0):
        method = boost_lu(alpha)
        z = method.net(torch.tensor(M, dtype=torch.float64))
        assert z.flatten().tolist() == pytest.approx(sum(hand_logits(alpha), []), abs=1e-12)
        for epoch in (0, 1, 2):  # k = 0, 2, 4
            assert method_loss(method, epoch) == pytest.approx(hand_loss(alpha, epoch), abs=1e-12)
    # their ImageClassifier.forward and compute_batch_loss on these maps (see the module docstring)
    assert sum(hand_logits(5.0), []) == pytest.approx([0.9375, 0.125, 1.1, -1.375, 0.35, 2.4, -1.375, 0.65], abs=1e-12)
    for alpha, epoch, theirs in ((5.0, 0, 0.6208114393), (5.0, 1, 0.3136376067), (5.0, 2, 0.1085149579),
                                 (2.0, 0, 0.5470536484), (2.0, 1, 0.3363465939), (2.0, 2, 0.1838045839)):
        assert method_loss(boost_lu(alpha), epoch) == pytest.approx(theirs, abs=1e-9), (alpha, epoch)


def test_the_observed_label_is_boosted_too_and_evaluation_boosts_as_training():
    method = boost_lu(5.0)
    x = torch.tensor(M, dtype=torch.float64)
    z = method.net(x)
    # image 0's observed class 0: (5 * 1 - 0.5 + 5 * 0.25 - 2) / 4, not the unboosted (1 - 0.5 + 0.25 - 2) / 4
    assert z[0, 0].item() == pytest.approx(0.9375, abs=1e-12)
    assert identity_head()(x)[0, 0].item() == pytest.approx(-0.3125, abs=1e-12)
    method.eval_net.eval()
    with torch.inference_mode():
        assert torch.equal(method.eval_net(x), z.detach())  # the authors' model boosts in eval mode too
    # at alpha = 1 the logits are the plain CAM head's
    assert torch.equal(boost_lu(1.0).net(x), identity_head()(x))


def test_bad_settings_fail_in_one_line():
    cases = [
        (lambda: BoostLUSettings(alpha=0.5), r"^method.alpha must be >= 1 .*got 0.5$"),
        (lambda: BoostLUSettings(delta_rel=0.0), r"^method.delta_rel must lie in \(0, 1\)"),
        (lambda: RunConfig().override({"method": "boost_lu"}),
         r"^method boost_lu boosts class activation maps, which model.head=linear does not make: set model.head=cam$"),
        (lambda: boost_lu(new_net=lambda: torch.nn.Linear(2, 4)),
         r"^method boost_lu boosts class activation maps and Linear has no CAM head: build it with model.head=cam$"),
        (lambda: RunConfig().override({"model.head": "conv"}), r"^unknown model.head 'conv': choose one of linear, cam$"),
        (lambda: build_model("small_cnn", 4, head="conv"), r"^unknown model.head 'conv'"),
        (lambda: RunConfig().override({"model.head": "cam", "model.pretrained": "x.pth"}),
         r"^model.pretrained with model.head=cam loads into the ResNets only"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            make()
        assert "\n" not in str(err.value)


def test_head_at_its_default_keeps_stored_runs_hashes():
    base = RunConfig()
    assert base.config_hash() == "16d3bf517f4c"  # the default (MILe) hash before model.head
    assert base.override({"method": "ll_r"}).config_hash() == "0d20ed6f003c"
    assert base.override({"model.head": "linear"}).config_hash() == base.config_hash()
    assert base.override({"model.head": "cam"}).config_hash() != base.config_hash()


@pytest.mark.parametrize("settings", [{"method": "boost_lu", "method.delta_rel": 0.05}, {"method": "sigmoid"}])
def test_smoke_runs_with_a_cam_head(tmp_path, settings):
    result = train(EXP.config("smoke", {**settings, "model.head": "cam", "run.progress": False,
                                        "run.out_dir": str(tmp_path)}))
    assert math.isfinite(result["map"]) and 0 <= result["map"] <= 1
    method, _ = load_run(tmp_path)  # the run trained, saved and loads back a CAM net (boosted for boost_lu)
    assert cam_head(method.eval_net) is not None
    assert (cam_head(method.eval_net).boost is not None) == (settings["method"] == "boost_lu")
