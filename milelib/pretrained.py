"""Self-supervised checkpoints as a model's initialisation (`model.pretrained`, Tables 3 and 4).

Each layout users download is mapped onto the model's own key names; projection heads, prototypes,
momentum encoders and the checkpoint's classifier are dropped, and the model keeps its freshly
initialised classifier for the task. The layouts (sources: each codebase's own loader):

- `moco`: MoCo v1/v2 (facebookresearch/moco): {"state_dict": {"module.encoder_q.<key>": ...}};
  `encoder_q.fc` is the MLP projection head, `encoder_k`, `queue` the momentum side (main_lincls.py).
- `simclr`: SimCLR v2 converted by Separius/SimCLRv2-Pytorch, {"resnet": ..., "head": ...}, its
  ResNet keys (`net.0.0.weight`, `net.1.blocks.0.net.0.weight`, ...) renamed to torchvision's; the
  width-multiplied (2x, 3x) and selective-kernel (sk1) variants are not torchvision ResNet-50s and
  are refused in one line. SimCLR v1 converted by tonylins/simclr-converter: {"state_dict": ...} in
  torchvision's names (its fc is the supervised head, dropped). Both converters' models expect
  inputs in [0, 1] without normalisation; milelib normalises with ImageNet's statistics and lets
  fine-tuning adapt.
- `byol`: torchvision names (chigur/byol-convert), or {"state_dict": {"backbone.<key>": ...}}
  (solo-learn, mmselfsup), whose projector, predictor, neck and momentum copies are dropped.
- `swav`: facebookresearch/swav: {"module.<key>": ...} with `projection_head` and `prototypes`.
- `torchvision`: torchvision's own names, as a plain state dict or under "state_dict".

A file matching none fails in one line naming the layout it was read as, and its first unexpected
and missing keys; a file that is no mapping of names to tensors at all (empty, a list, a number, a
"state_dict" holding one tensor) in one line naming what it holds and the layouts accepted.
"""
from __future__ import annotations

import functools
import hashlib
import re
import textwrap
from pathlib import Path

import torch

FORMATS = ("auto", "torchvision", "moco", "simclr", "byol", "swav")
CLASSIFIER = {"small_cnn": "head.3.", "resnet18": "fc.", "resnet50": "fc.", "resnet50d": "fc."}  # replaced per task
DROPPED = ("fc.", "encoder_k.", "queue", "projection_head.", "prototypes.", "projector.", "predictor.",
           "momentum_", "neck.", "target_net.", "head.", "classifier.")  # heads and momentum copies, once unprefixed
ACCEPTED = ('a mapping of weight names to tensors, plain or under "state_dict" (torchvision, MoCo, BYOL, SwAV) '
            'or "resnet" (SimCLR v2)')


def read(path: str) -> dict:
    """A checkpoint file's contents, on the CPU (plain types only: weights_only); read once per
    version of the file, though every network a method builds starts from it."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"pretrained checkpoint {path} is a folder: model.pretrained takes the path of a "
                                f"checkpoint file in it (.pth, .pt, .pth.tar)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"pretrained checkpoint {path} not found: model.pretrained takes the path of a "
                                f"MoCo, SimCLR, BYOL, SwAV or torchvision ResNet checkpoint")
    stat = Path(path).stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


def digest(path: str) -> str:
    """The SHA-256 of a checkpoint file, which stands for it in a run's config hash."""
    if not Path(path).is_file():
        read(path)  # its one-line error
    stat = Path(path).stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


@functools.lru_cache(maxsize=2)
def _read(path: str, mtime_ns: int, size: int) -> dict:
    if size == 0:
        raise ValueError(f"pretrained checkpoint {path} is empty (0 bytes): a download cut short? Download it "
                         f"again; model.pretrained takes a PyTorch file holding {ACCEPTED}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle, zip and format errors alike get one line
        raise ValueError(f"pretrained checkpoint {path} could not be read ({_why(err)}): "
                         f"is it a PyTorch checkpoint, and whole?") from None


def _why(err: Exception) -> str:
    """torch.load's reason in a few whole words: for weights_only refusals, the unpickler's own words
    (torch's first lines are a paragraph of advice); else the first line, or the error's type."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        said = " ".join(text.split("WeightsUnpickler error:", 1)[1].split("\n\n")[:2]).strip()
        said = said.split("Check the documentation")[0].strip()
        return f"neither a zip nor a pickle of tensors torch reads: {textwrap.shorten(said, 80, placeholder=' ...')}"
    said = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(said) < 8:  # a KeyError's '101', an IndexError's index say nothing
        return f"{type(err).__name__}{' ' + said if said else ''}: its bytes are no checkpoint torch reads"
    return textwrap.shorten(said, 120, placeholder=" ...")


def _what(value) -> str:
    """A value's kind as a user reads it: 'a tensor of shape (3,)', 'a list', 'an int'."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def check_mapping(obj, path: str) -> None:
    """One line when the file's contents are no mapping of names to weights, in any layout."""
    where, inner = "it ", obj
    if isinstance(obj, dict):
        key = next((k for k in ("state_dict", "resnet") if k in obj), None)
        if key is not None:
            where, inner = f'its "{key}" entry ', obj[key]
    if not isinstance(inner, dict):
        raise ValueError(f"pretrained checkpoint {path}: {where}holds {_what(inner)}, not weights: model.pretrained "
                         f"takes {ACCEPTED}")
    named = next((k for k in inner if not isinstance(k, str)), None)
    if named is not None:
        raise ValueError(f"pretrained checkpoint {path}: {where}has the key {named!r}, not a weight's name: "
                         f"model.pretrained takes {ACCEPTED}")


def detect(obj) -> str:
    """The layout of a checkpoint's contents (see the module's docstring)."""
    if isinstance(obj, dict) and "resnet" in obj and "head" in obj:
        return "simclr"
    inner = obj.get("state_dict", obj) if isinstance(obj, dict) else {}
    keys = [k for k in inner if isinstance(k, str)]
    if any(k.startswith("module.encoder_q.") for k in keys):
        return "moco"
    if any(k.startswith("backbone.") for k in keys):
        return "byol"
    if any(k.startswith("module.") for k in keys):
        return "swav"
    return "torchvision"


def backbone(obj, fmt: str) -> dict:
    """The checkpoint's weights in the model's key names, heads and momentum copies included (the
    model's own keys decide later which are dropped)."""
    inner = obj.get("state_dict", obj) if isinstance(obj, dict) else {}
    if fmt == "moco":
        return {k[len("module.encoder_q."):]: v for k, v in inner.items() if k.startswith("module.encoder_q.")}
    if fmt == "simclr":
        resnet = obj["resnet"] if "resnet" in obj else inner
        return {_simclr_v2_name(k): v for k, v in resnet.items()} if any(k.startswith("net.") for k in resnet) else dict(resnet)
    if fmt == "byol":
        if any(k.startswith("backbone.") for k in inner):
            return {k[len("backbone."):]: v for k, v in inner.items() if k.startswith("backbone.")}
        return dict(inner)
    if fmt == "swav":
        return {k[len("module."):] if k.startswith("module.") else k: v for k, v in inner.items()}
    return dict(inner)


_BLOCK = {"net.0": "conv1", "net.1.0": "bn1", "net.2": "conv2", "net.3.0": "bn2", "net.4": "conv3", "net.5.0": "bn3",
          "projection.shortcut": "downsample.0", "projection.bn.0": "downsample.1"}


def _simclr_v2_name(key: str) -> str:
    """Separius/SimCLRv2-Pytorch's ResNet key -> torchvision's (the 1x, sk0 network)."""
    if key.startswith("net.0.0."):
        return "conv1." + key[len("net.0.0."):]
    if key.startswith("net.0.1.0."):
        return "bn1." + key[len("net.0.1.0."):]
    found = re.match(r"net\.(\d)\.blocks\.(\d+)\.(.+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$", key)
    if found and found.group(3) in _BLOCK:
        layer, block, part, tensor = found.groups()
        return f"layer{layer}.{block}.{_BLOCK[part]}.{tensor}"
    return key  # fc.*, or a key of another variant: left for the check to name


def load_into(net: torch.nn.Module, model: str, path: str, fmt: str = "auto") -> str:
    """Initialise `net` (everything but its classifier) from the checkpoint at `path`; return the
    layout it was read as. One line naming the keys when the file does not fit."""
    obj = read(str(path))
    check_mapping(obj, path)
    fmt = detect(obj) if fmt == "auto" else fmt
    if fmt not in FORMATS[1:]:
        raise ValueError(f"unknown model.pretrained_format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "simclr" and isinstance(obj, dict) and any("main_conv" in k for k in obj.get("resnet", {})):
        raise ValueError(f"{path} is a SimCLR v2 selective-kernel (sk1) ResNet, which is not torchvision's "
                         f"ResNet-50: use an sk0 checkpoint")
    weights, classifier = backbone(obj, fmt), CLASSIFIER[model]
    own = {k: v for k, v in net.state_dict().items() if not k.startswith(classifier)}
    unexpected = sorted(k for k in weights if k not in own and not k.startswith(classifier) and not k.startswith(DROPPED))
    missing = sorted(k for k in own if k not in weights and not k.endswith("num_batches_tracked"))
    if unexpected or missing or not weights:
        raise ValueError(f"{path} does not fit {model} read as a {fmt} checkpoint: first unexpected keys "
                         f"{unexpected[:3]}, first missing keys {missing[:3]} (layouts: {', '.join(FORMATS[1:])}; "
                         f"set model.pretrained_format if auto-detection chose wrong)")
    odd = [k for k in own if k in weights and not isinstance(weights[k], torch.Tensor)]
    if odd:
        raise ValueError(f"pretrained checkpoint {path}: its weight {odd[0]!r} is {_what(weights[odd[0]])}, not a "
                         f"tensor: model.pretrained takes {ACCEPTED}")
    broken = [k for k in own if k in weights and weights[k].is_floating_point() and not weights[k].isfinite().all()]
    if broken:  # else training stops at step 1 on a NaN loss that names no file
        raise ValueError(f"pretrained checkpoint {path}: its weight {broken[0]!r} holds NaN or infinite values "
                         f"({len(broken)} such weights): the file is damaged or its training diverged; use another")
    wrong = [k for k in own if k in weights and weights[k].shape != own[k].shape]
    if wrong:
        raise ValueError(f"{path} has other shapes than {model} ({wrong[0]}: {tuple(weights[wrong[0]].shape)} vs "
                         f"{tuple(own[wrong[0]].shape)}): a width-multiplied network (SimCLR 2x, 3x) or another model")
    net.load_state_dict({k: weights.get(k, own[k]) for k in own}, strict=False)  # the classifier stays as built
    return fmt
