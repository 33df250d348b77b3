"""milelib: Multi-label Iterated Learning (MILe), its baselines, data, metrics and results I/O.

The paper: Rajeswar, Rodriguez et al., "Multi-label Iterated Learning for Image Classification
with Label Ambiguity" (CVPR 2022). Start with `resolve_config` and `train`.
"""
from .config import TrainConfig, profile_info, resolve_config
from .training import load_model, train

__version__ = "0.1.0"
__all__ = ["TrainConfig", "resolve_config", "profile_info", "train", "load_model"]
