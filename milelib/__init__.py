"""milelib: Multi-label Iterated Learning (MILe), its baselines, data, metrics and results I/O.

The paper: Rajeswar, Rodriguez et al., "Multi-label Iterated Learning for Image Classification
with Label Ambiguity" (CVPR 2022). Start with `experiments.get(name).EXPERIMENT.config(profile)`,
`train(config)` for one run, and `experiments.run_experiment` for a notebook's runs.
"""
from . import data, methods  # registers the built-in datasets and methods
from .config import RunConfig
from .training import load_run, train

__version__ = "0.2.0"
__all__ = ["RunConfig", "train", "load_run", "data", "methods"]
