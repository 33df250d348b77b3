"""Self-supervised checkpoints in every layout users download, built here with the right key names
(ResNet-50's real shapes for the weights that load, tiny tensors for heads that are dropped):
each loads into torchvision's ResNet-50 with the task's own classifier; anything else fails in one
line naming the keys."""
import pytest
import torch
import torchvision

from milelib import pretrained
from milelib.config import RunConfig
from milelib.models import build_model

TINY = torch.zeros(2, 2)


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(0)
    return {k: v.clone() for k, v in torchvision.models.resnet50().state_dict().items()}


def backbone_of(state):
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def separius_name(key):  # torchvision -> Separius/SimCLRv2-Pytorch, written out independently of the loader
    parts = key.split(".")
    if parts[0] == "conv1":
        return "net.0.0." + parts[1]
    if parts[0] == "bn1":
        return "net.0.1.0." + parts[1]
    if parts[0].startswith("layer"):
        layer, block, module, tensor = parts[0][5:], parts[1], ".".join(parts[2:-1]), parts[-1]
        inner = {"conv1": "net.0", "bn1": "net.1.0", "conv2": "net.2", "bn2": "net.3.0", "conv3": "net.4",
                 "bn3": "net.5.0", "downsample.0": "projection.shortcut", "downsample.1": "projection.bn.0"}[module]
        return f"net.{layer}.blocks.{block}.{inner}.{tensor}"
    return key


def layouts(state):
    body = backbone_of(state)
    no_counts = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    return {
        "moco": {"state_dict": {**{f"module.encoder_q.{k}": v for k, v in body.items()},
                                "module.encoder_q.fc.0.weight": TINY, "module.encoder_q.fc.2.bias": TINY,
                                "module.encoder_k.conv1.weight": TINY, "module.queue": TINY, "module.queue_ptr": TINY},
                 "epoch": 800, "arch": "resnet50"},
        "simclr v2 (Separius)": {"resnet": {separius_name(k): v for k, v in state.items()},
                                 "head": {"layers.0.weight": TINY, "layers.1.running_mean": TINY}},
        "simclr v1 (tonylins)": {"state_dict": dict(state)},
        "byol (chigur)": no_counts,
        "byol (solo-learn)": {"state_dict": {**{f"backbone.{k}": v for k, v in body.items()},
                                             "momentum_backbone.conv1.weight": TINY, "projector.0.weight": TINY,
                                             "predictor.0.weight": TINY, "classifier.weight": TINY}},
        "swav": {**{f"module.{k}": v for k, v in body.items()}, "module.projection_head.0.weight": TINY,
                 "module.prototypes.weight": TINY},
        "torchvision": dict(state),
    }


EXPECTED = {"moco": "moco", "simclr v2 (Separius)": "simclr", "simclr v1 (tonylins)": "torchvision",
            "byol (chigur)": "torchvision", "byol (solo-learn)": "byol", "swav": "swav", "torchvision": "torchvision"}


@pytest.mark.parametrize("layout", list(EXPECTED))
def test_every_layout_loads_into_resnet50_and_keeps_the_task_classifier(layout, source, tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save(layouts(source)[layout], path)
    torch.manual_seed(1)
    net = build_model("resnet50", num_classes=7, in_channels=3)
    fresh_fc = net.fc.weight.clone()
    assert pretrained.load_into(net, "resnet50", str(path)) == EXPECTED[layout]
    loaded = net.state_dict()
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer4.2.bn3.weight",
                "layer3.5.conv2.weight"):
        assert torch.equal(loaded[key], source[key]), (layout, key)
    assert loaded["fc.weight"].shape == (7, 2048) and torch.equal(loaded["fc.weight"], fresh_fc)


def test_a_layout_named_explicitly_and_a_file_that_fits_none(source, tmp_path):
    path = tmp_path / "swav.pth"
    torch.save(layouts(source)["swav"], path)
    assert pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(path), "swav") == "swav"
    with pytest.raises(ValueError, match=r"does not fit resnet50 read as a moco checkpoint: first unexpected keys "
                                         r"\[\], first missing keys \['bn1.bias'"):
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(path), "moco")
    odd = tmp_path / "odd.pth"
    torch.save({"encoder.stem.weight": TINY, "encoder.blocks.0.weight": TINY}, odd)
    with pytest.raises(ValueError, match=r"read as a torchvision checkpoint: first unexpected keys \['encoder.blocks"
                                         r".0.weight', 'encoder.stem.weight'\], first missing keys \['bn1.bias'") as err:
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(odd))
    assert "\n" not in str(err.value)


def test_variants_that_are_not_resnet50_are_refused(source, tmp_path):
    sk = tmp_path / "sk1.pth"
    torch.save({"resnet": {"net.1.blocks.0.net.2.main_conv.0.weight": TINY}, "head": {}}, sk)
    with pytest.raises(ValueError, match=r"selective-kernel \(sk1\) ResNet, which is not torchvision's ResNet-50"):
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(sk))
    wide = tmp_path / "wide.pth"
    torch.save({**source, "conv1.weight": torch.zeros(128, 3, 7, 7)}, wide)
    with pytest.raises(ValueError, match=r"other shapes than resnet50 \(conv1.weight: \(128, 3, 7, 7\) vs \(64, 3, 7, 7\)\)"):
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(wide))
    with pytest.raises(FileNotFoundError, match=r"pretrained checkpoint .*nothing.pth not found"):
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(tmp_path / "nothing.pth"))
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(ValueError, match=r"cut.pth could not be read .*is it a PyTorch checkpoint, and whole\?"):
        pretrained.load_into(build_model("resnet50", 5, 3), "resnet50", str(tmp_path / "cut.pth"))


def test_a_run_starts_from_the_checkpoint_and_the_setting_enters_the_hash(tmp_path):
    from milelib import experiments, train
    from milelib.training import make_parts

    torch.manual_seed(3)
    encoder = build_model("small_cnn", 10, 1, width=8)
    path = tmp_path / "encoder.pth"  # the stand-in's layout: MoCo's, with a projection head to drop
    torch.save({"state_dict": {**{f"module.encoder_q.{k}": v for k, v in encoder.state_dict().items()
                                  if not k.startswith("head.3.")}, "module.encoder_q.projection.0.weight": TINY}}, path)
    base = experiments.get("rho_sweep").EXPERIMENT.config("smoke", {"run.progress": False})
    cfg = base.override({"model.pretrained": str(path), "model.pretrained_format": "moco"})
    with pytest.raises(ValueError, match=r"first unexpected keys \['projection.0.weight'\]"):
        make_parts(cfg, torch.device("cpu"), 10, 1, 256, True).new_net()  # an unknown head is named, not guessed
    torch.save({"state_dict": {f"module.encoder_q.{k}": v for k, v in encoder.state_dict().items()}}, path)
    net = make_parts(cfg, torch.device("cpu"), 10, 1, 256, True).new_net()
    assert torch.equal(net.state_dict()["features.0.weight"], encoder.state_dict()["features.0.weight"])
    assert not torch.equal(net.state_dict()["head.3.weight"], encoder.state_dict()["head.3.weight"])
    assert cfg.config_hash() != base.config_hash()
    assert base.config_hash() == RunConfig.from_dict(base.to_dict()).config_hash()
    assert train(cfg)["label_steps"] > 0


NOT_WEIGHTS = {  # file contents (given the small CNN's own weights) -> what the one line says the file holds
    "state_dict of one tensor": (lambda own: {"state_dict": torch.zeros(3)},
                                 r'its "state_dict" entry holds a tensor of shape \(3,\)'),
    "an int": (lambda own: 7, r"it holds an int"),
    "a list": (lambda own: [1, 2], r"it holds a list"),
    "an int weight": (lambda own: {**own, "features.0.weight": 3},
                      r"its weight 'features.0.weight' is an int, not a tensor"),
    "a list weight": (lambda own: {"state_dict": {**own, "features.0.weight": [1, 2]}},
                      r"its weight 'features.0.weight' is a list"),
    "a number as a key": (lambda own: {0: TINY}, r"it has the key 0, not a weight's name"),
    "0 bytes": (None, r"is empty \(0 bytes\): a download cut short\? Download it again"),
}


@pytest.mark.parametrize("case", list(NOT_WEIGHTS))
def test_a_file_that_is_no_mapping_of_weights_fails_in_one_line_naming_it_and_the_layouts(case, tmp_path):
    contents, says = NOT_WEIGHTS[case]
    path = tmp_path / "ckpt.pth"
    if contents is None:
        path.write_bytes(b"")
    else:
        torch.save(contents(build_model("small_cnn", 10).state_dict()), path)
    with pytest.raises(ValueError, match=says) as err:
        pretrained.load_into(build_model("small_cnn", 10), "small_cnn", str(path))
    message = str(err.value)
    assert "\n" not in message and str(path) in message and 'plain or under "state_dict"' in message, message
