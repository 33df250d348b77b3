"""Datasets behind one interface: `build(cfg.data) -> Data` (train feed, named evaluation splits,
class count). A dataset is one module with a settings dataclass and a builder, and one line here.
"""
from ..registry import DATASETS
from . import grids, imagenet, images, webvision
from .digits import Digits, digit_splits, load_digits
from .feeds import Batch, Data, LoaderData, Split, TensorData, batch_indices
from .grids import Grids, make_grids

DATASETS.add("grids", grids.GridsData, grids.build)                 # Multi-MNIST and ReaL-like grids
DATASETS.add("image_folder", images.ImageFolderData, images.build)  # a folder of one's own images
DATASETS.add("imagenet", imagenet.ImageNetData, imagenet.build)     # Table 1: class folders, ReaL, fractions
DATASETS.add("webvision", webvision.WebVisionData, webvision.build)  # Table 2: file lists, rebalancing


def build(settings) -> Data:
    """The data a run's `cfg.data` names."""
    return DATASETS.get(settings.name).builder(settings)


__all__ = ["build", "Batch", "Data", "Split", "TensorData", "LoaderData", "batch_indices", "Digits",
           "Grids", "digit_splits", "load_digits", "make_grids"]
