"""Models by name: a small CNN for the CPU profiles, torchvision's ResNet-18/50 and timm's
ResNet-50-D (WebVision's stronger backbone in Table 2); batch or group normalisation."""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .config import MODELS, check_choice


class SmallCNN(nn.Module):
    """Three conv blocks, then one pooled feature per grid cell and a two-layer head.

    Pooling to a 3x3 map keeps where each digit is (the single label is mostly the centre's),
    and makes the net indifferent to the grid's size (42x42 or 84x84 pixels).
    """

    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 16, norm: str = "batch"):
        super().__init__()

        def block(cin, cout):
            layer = nn.BatchNorm2d(cout) if norm == "batch" else nn.GroupNorm(math.gcd(4, cout), cout)
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), layer, nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(3),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(4 * width * 9, 128), nn.ReLU(inplace=True), nn.Linear(128, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


def build_model(name: str, num_classes: int, in_channels: int = 1, width: int = 16, norm: str = "batch") -> nn.Module:
    """A freshly initialised model; the random state of torch decides its weights. `width` sets the
    small CNN's channels; the ResNets have their own."""
    check_choice("model", name, MODELS)
    if name == "small_cnn":
        return SmallCNN(num_classes, in_channels, width, norm)
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


def classifier(net: nn.Module) -> nn.Linear:
    """The layer that outputs the class logits: the last linear layer (the small CNN's head, the
    ResNets' fc), compiled or not."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no linear classifier layer to initialise")
    return linears[-1]


@torch.no_grad()
def prior_bias(net: nn.Module) -> None:
    """Every class's bias at -log(C), so each sigmoid starts near the prior 1/C instead of 1/2: the
    authors' `adjust_bias` (models/backbones/__init__.py of their code). With BCE summed over
    classes, the C - 1 negatives of an image then push its logits as hard as softmax's do."""
    fc = classifier(net)
    fc.bias.fill_(-math.log(fc.out_features))
