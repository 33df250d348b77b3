"""Models by name: a small CNN for the CPU profiles, torchvision's ResNet-18/50 and timm's
ResNet-50-D (WebVision's stronger backbone in Table 2); batch or group normalisation; a linear
head (pooled features, then the classifier) or a CAM head (`CAMHead`: class maps, then their mean)."""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .config import HEADS, MODELS, check_choice


class CAMHead(nn.Module):
    """Class activation maps, then their mean over positions: a 1x1 convolution from the feature map
    (B, D, H, W) to one map per class (B, C, H, W), averaged to the logits (B, C). The model of
    BoostLU (Kim et al., CVPR 2023; their models.py: `onebyone_conv`, then adaptive_avg_pool2d).

    The convolution is linear, so as it stands the head equals global average pooling followed by a
    linear layer; it differs where a method transforms the maps before the mean: `boost`, a function
    of the maps set by that method (BoostLU's), applied in training and evaluation alike."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, num_classes, 1)
        self.boost = None  # maps -> maps, or None

    def maps(self, features: torch.Tensor) -> torch.Tensor:
        """The class maps as the method sees them: boosted where a boost is set."""
        maps = self.conv(features)
        return maps if self.boost is None else self.boost(maps)

    def forward(self, features):
        return self.maps(features).mean(dim=(2, 3))


class SmallCNN(nn.Module):
    """Three conv blocks, then one pooled feature per grid cell and a head: two layers (linear), or
    a CAM head on the 3x3 map of pooled features (the two-layer head's place; 9 positions per map).

    Pooling to a 3x3 map keeps where each digit is (the single label is mostly the centre's),
    and makes the net indifferent to the grid's size (42x42 or 84x84 pixels).
    """

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 16, norm: str = "batch",
                 head: str = "linear"):
        super().__init__()

        def block(cin, cout):
            layer = nn.BatchNorm2d(cout) if norm == "batch" else nn.GroupNorm(math.gcd(4, cout), cout)
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), layer, nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(3),
        )
        self.head = CAMHead(4 * width, num_classes) if head == "cam" else nn.Sequential(
            nn.Flatten(), nn.Linear(4 * width * 9, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


class CAMResNet(nn.Module):
    """A ResNet (torchvision's or timm's) with a CAM head: the ResNet's layers up to its last block,
    kept under their own names (so checkpoints load as into the ResNet, everything but `fc`), then
    `fc`, a CAMHead on the last block's map in place of global pooling and the linear layer."""

    def __init__(self, net: nn.Module, num_classes: int):
        super().__init__()
        self.body = [name for name, _ in net.named_children() if name not in ("avgpool", "global_pool", "fc")]
        for name in self.body:  # conv1, bn1, relu (timm: act1), maxpool, layer1-4: applied in this order
            self.add_module(name, getattr(net, name))
        self.fc = CAMHead(net.fc.in_features, num_classes)

    def features(self, x):
        for name in self.body:
            x = getattr(self, name)(x)
        return x

    def forward(self, x):
        return self.fc(self.features(x))


def build_model(name: str, num_classes: int, in_channels: int = 1, width: int = 16, norm: str = "batch",
                head: str = "linear") -> nn.Module:
    """A freshly initialised model; the random state of torch decides its weights. `width` sets the
    small CNN's channels; the ResNets have their own. `head`: "linear" (as built by torchvision and
    timm) or "cam" (`CAMHead`)."""
    check_choice("model", name, MODELS)
    check_choice("model.head", head, HEADS)
    if name == "small_cnn":
        return SmallCNN(num_classes, in_channels, width, norm, head)
    net = _resnet(name, num_classes, in_channels, norm)
    return CAMResNet(net, num_classes) if head == "cam" else net


def _resnet(name: str, num_classes: int, in_channels: int, norm: str) -> nn.Module:
    """A ResNet as its library builds it (global pooling, then a linear fc)."""
    norm_layer = nn.BatchNorm2d if norm == "batch" else functools.partial(nn.GroupNorm, 32)
    if name == "resnet50d":
        try:
            import timm
        except ImportError:
            raise ImportError("model 'resnet50d' (ResNet-50-D) comes from timm: pip install timm") from None
        return timm.create_model("resnet50d", pretrained=False, num_classes=num_classes, in_chans=in_channels,
                                 norm_layer="batchnorm" if norm == "batch" else "groupnorm")  # timm's own layers
    import torchvision  # imported here: only the ResNets need it

    net = getattr(torchvision.models, name)(weights=None, num_classes=num_classes, norm_layer=norm_layer)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


@torch.no_grad()
def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """dst <- src in place, so optimizers holding dst's tensors keep working."""
    for d, s in zip(dst.state_dict().values(), src.state_dict().values()):
        d.copy_(s)


def cam_head(net: nn.Module) -> CAMHead | None:
    """The net's CAM head (model.head=cam), compiled or not; None for a linear head."""
    heads = [m for m in net.modules() if isinstance(m, CAMHead)]
    return heads[-1] if heads else None


def classifier(net: nn.Module) -> nn.Linear | nn.Conv2d:
    """The layer that outputs the class logits (or, in a CAM head, the class maps): the CAM head's
    1x1 convolution, else the last linear layer (the small CNN's head, the ResNets' fc), compiled
    or not."""
    head = cam_head(net)
    if head is not None:
        return head.conv
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear classifier layer to initialise")
    return linears[-1]


@torch.no_grad()
def prior_bias(net: nn.Module) -> None:
    """Every class's bias at -log(C), so each sigmoid starts near the prior 1/C instead of 1/2: the
    authors' `adjust_bias` (models/backbones/__init__.py of their code). With BCE summed over
    classes, the C - 1 negatives of an image then push its logits as hard as softmax's do. In a CAM
    head the bias is added at every position, so the mean of the unboosted maps starts there too."""
    fc = classifier(net)
    fc.bias.fill_(-math.log(fc.bias.numel()))
