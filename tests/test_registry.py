"""Adding a dataset or a method is one module and one registry line: a tiny dataset and a tiny
method defined here train end to end and round-trip through their config; duplicate and unknown
names fail with one line; the training loop never branches on a method's or a dataset's name."""
from __future__ import annotations

import ast
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch.nn.functional as F

import milelib.training
from milelib import RunConfig, train
from milelib.data import Data, Split, TensorData
from milelib.methods.supervised import Sigmoid
from milelib.registry import DATASETS, METHODS


# --- one module of a dataset: its settings and its builder -------------------------------------
@dataclass
class Stripes:
    name: str = "tiny"
    per_class: int = 40
    side: int = 8


def build_stripes(s: Stripes) -> Data:
    """3 classes of side x side images: class c has a bright horizontal stripe in row band c."""
    def split(seed):
        rng = np.random.default_rng(seed)
        labels = np.repeat(np.arange(3), s.per_class)
        x = rng.integers(0, 50, (len(labels), 1, s.side, s.side)).astype(np.uint8)
        band = s.side // 3
        for i, c in enumerate(labels):
            x[i, 0, c * band:(c + 1) * band] += 200
        return TensorData(x, labels, np.eye(3, dtype=bool)[labels], 0.3, 0.3)

    train_, val, test = split(0), split(1), split(2)
    return Data(train_, {"val": Split(val, val.labels, val.true_sets), "test": Split(test, test.labels, test.true_sets)},
                num_classes=3, in_channels=1, threshold_split="val", report_split="test")


# --- one module of a method: Sigmoid with label smoothing ---------------------------------------
@dataclass
class SmoothSettings:
    name: str = "smooth_sigmoid"
    smoothing: float = 0.1


class SmoothSigmoid(Sigmoid):
    """BCE on one-hot labels smoothed towards 1/2: y (1 - eps) + eps / 2."""

    def loss(self, logits, batch):
        eps = self.cfg.method.smoothing
        target = F.one_hot(batch.y, logits.shape[1]).float() * (1 - eps) + eps / 2
        return F.binary_cross_entropy_with_logits(logits, target)


@pytest.fixture
def tiny():
    DATASETS.add("tiny", Stripes, build_stripes)  # the one registry line
    yield "tiny"
    DATASETS.remove("tiny")


@pytest.fixture
def smooth():
    METHODS.add("smooth_sigmoid", SmoothSettings, SmoothSigmoid)  # the one registry line
    yield "smooth_sigmoid"
    METHODS.remove("smooth_sigmoid")


QUICK = {"optim.steps": 12, "optim.batch_size": 16, "optim.lr": 0.1, "optim.warmup_steps": 2, "model.width": 8,
         "run.threads": 1, "run.progress": False}


def test_a_registered_dataset_trains_end_to_end_and_round_trips(tiny, tmp_path):
    cfg = RunConfig().override({"data": tiny, "data.per_class": 24, "method": "sigmoid", **QUICK,
                                "run.out_dir": str(tmp_path)})
    assert isinstance(cfg.data, Stripes) and cfg.data.per_class == 24 and cfg.data.side == 8
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.config_hash() == cfg.config_hash()
    result = train(cfg)
    assert result["label_steps"] == 12
    assert {"accuracy", "f1@0.5", "map", "val/accuracy", "val/f1@best"} <= set(result)
    assert 0 <= result["accuracy"] <= 1
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["config"]["data"] == {"name": "tiny", "per_class": 24, "side": 8}
    assert saved["metrics"] == result
    # the data's own settings change the config hash
    assert cfg.override({"data.side": 9}).config_hash() != cfg.config_hash()


def test_a_settings_dataclass_written_without_future_annotations_is_accepted(tmp_path):
    # A user's module need not say `from __future__ import annotations`: then the dataclass's field
    # types are real types (str, int), not strings, and the config must accept them all the same.
    plain = dataclasses.make_dataclass("PlainStripes", [("name", str, dataclasses.field(default="plain_tiny")),
                                                        ("per_class", int, dataclasses.field(default=40)),
                                                        ("side", int, dataclasses.field(default=8))])
    assert dataclasses.fields(plain)[0].type is str  # a real type, as a module without the import has
    DATASETS.add("plain_tiny", plain, build_stripes)
    try:
        cfg = RunConfig().override({"data": "plain_tiny", "data.per_class": 24, "method": "sigmoid", **QUICK})
        assert cfg.data.per_class == 24
        assert RunConfig.from_dict(cfg.to_dict()) == cfg
        assert train(cfg)["label_steps"] == 12
    finally:
        DATASETS.remove("plain_tiny")


def test_adding_a_name_twice_fails_with_one_line(tiny, smooth):
    for registry, name in ((DATASETS, tiny), (METHODS, smooth), (DATASETS, "grids"), (METHODS, "mile")):
        with pytest.raises(ValueError, match=rf"a (dataset|method) named '{name}' is already registered") as err:
            registry.add(name, Stripes, build_stripes)
        assert "\n" not in str(err.value)
    assert DATASETS.get(tiny).builder is build_stripes  # the first registration stands


def test_unknown_names_list_the_registered_ones(tiny, smooth):
    with pytest.raises(ValueError) as err:
        RunConfig().override({"data": "nothing_like_it"})
    message = str(err.value)
    assert message.startswith("unknown dataset 'nothing_like_it'") and "\n" not in message
    assert all(name in message for name in DATASETS.names()) and "tiny" in message and "grids" in message
    with pytest.raises(ValueError) as err:
        RunConfig().override({"method": "nothing_like_it"})
    message = str(err.value)
    assert message.startswith("unknown method 'nothing_like_it'") and "\n" not in message
    assert all(name in message for name in METHODS.names()) and "smooth_sigmoid" in message
    with pytest.raises(ValueError, match=r"did you mean 'smooth_sigmoid'\?"):
        RunConfig().override({"method": "smooth_sigmoi"})


def test_removed_names_are_gone(tiny):
    DATASETS.remove(tiny)
    with pytest.raises(ValueError, match="unknown dataset 'tiny'"):
        RunConfig().override({"data": "tiny"})
    DATASETS.add(tiny, Stripes, build_stripes)  # so the fixture's teardown has it to remove


def test_a_registered_method_trains_and_is_the_one_used(tiny, smooth):
    base = {"data": tiny, **QUICK}
    cfg = RunConfig().override({**base, "method": smooth, "method.smoothing": 0.2})
    assert isinstance(cfg.method, SmoothSettings) and cfg.method.smoothing == 0.2
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    smoothed = train(cfg)
    assert smoothed["label_steps"] == 12 and smoothed["imitation_steps"] == 0
    # with no smoothing its loss is Sigmoid's, so the run is Sigmoid's exactly; with smoothing it is not
    unsmoothed = train(RunConfig().override({**base, "method": smooth, "method.smoothing": 0.0}))
    sigmoid = train(RunConfig().override({**base, "method": "sigmoid"}))
    assert unsmoothed == sigmoid
    assert smoothed != sigmoid


def test_training_loop_never_names_a_method_or_dataset():
    source = Path(milelib.training.__file__).read_text()
    names = set(METHODS.names()) | set(DATASETS.names())
    assert {"mile", "sigmoid", "elr", "oracle", "grids", "image_folder"} <= names
    literals = {node.value for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not literals & names, literals & names
    for name in names:
        assert f'"{name}"' not in source and f"'{name}'" not in source, name
