"""SimCLR, the stand-in's self-supervised pretraining: NT-Xent against a hand-computed case, views
that are a pure function of (seed, step), a loss that falls on unlabelled grids, and an exported
encoder that `model.pretrained` reads back as a SimCLR checkpoint."""
import math

import pandas as pd
import pytest
import torch

from milelib import experiments, pretrained, train
from milelib.experiments.self_supervised import export_encoder
from milelib.methods.simclr import augment, nt_xent
from milelib.models import build_model


def test_nt_xent_by_hand():
    # two images, two identical views each, the images orthogonal: each view's partner has cosine 1,
    # the two other candidates 0, so l = -log(e^(1/tau) / (e^(1/tau) + 2)) for every view
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = torch.stack([e1, e2, 3 * e1, 2 * e2])  # rows i and i + 2 are views of one image; lengths do not matter
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))  # tau = 0.5
    assert nt_xent(z, 0.5).item() == pytest.approx(expected, abs=1e-6)
    assert nt_xent(torch.stack([e1, e2, e2, e1]), 0.5).item() > expected  # partners swapped: a worse loss


def test_views_are_a_function_of_the_generator_and_keep_the_shape():
    x = torch.randn(6, 1, 21, 21)
    a = augment(x, torch.Generator().manual_seed(5))
    b = augment(x, torch.Generator().manual_seed(5))
    c = augment(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)


def test_pretraining_lowers_the_loss_and_exports_a_loadable_encoder(tmp_path):
    base = experiments.get("rho_sweep").EXPERIMENT.config("smoke")
    cfg = base.override({"method": "simclr", "optim.steps": 40, "optim.batch_size": 64, "optim.lr": 0.1,
                         "optim.warmup_steps": 4, "run.log_every": 5, "run.progress": False,
                         "run.checkpoint_every": 40, "run.out_dir": str(tmp_path / "simclr")})
    result = train(cfg)
    assert result["contrastive_steps"] == 40 and "accuracy" not in result  # nothing to score: no classifier
    log = pd.read_csv(tmp_path / "simclr" / "metrics.csv")
    assert log.loss.iloc[-2:].mean() < log.loss.iloc[:2].mean() - 0.1  # views of one grid drawn together
    path = export_encoder(tmp_path / "simclr")
    assert export_encoder(tmp_path / "simclr") == path  # written once
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"resnet", "head"} and "features.0.weight" in saved["resnet"]
    net = build_model("small_cnn", 10, 1, width=8)
    assert pretrained.load_into(net, "small_cnn", str(path)) == "simclr"
    assert torch.equal(net.state_dict()["head.1.weight"], saved["resnet"]["head.1.weight"])


def test_a_stopped_pretraining_resumes_exactly(tmp_path, monkeypatch):
    import os
    import signal

    from milelib.methods import simclr
    from milelib.training import Stopped

    base = experiments.get("rho_sweep").EXPERIMENT.config("smoke")
    cfg = base.override({"method": "simclr", "optim.steps": 12, "optim.batch_size": 32, "run.progress": False,
                         "run.checkpoint_every": 100})
    train(cfg.override({"run.out_dir": str(tmp_path / "alone")}))
    real, calls = simclr.SimCLR.step, []

    def step(self, *args):
        calls.append(1)
        if len(calls) == 7:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in step 7: a checkpoint after it, then stop
        return real(self, *args)

    monkeypatch.setattr(simclr.SimCLR, "step", step)
    with pytest.raises(Stopped, match=r"stopped at step 7 of 12"):
        train(cfg.override({"run.out_dir": str(tmp_path / "stopped")}))
    monkeypatch.undo()
    train(cfg.override({"run.out_dir": str(tmp_path / "stopped")}))
    a, b = (torch.load(export_encoder(tmp_path / name), weights_only=True) for name in ("alone", "stopped"))
    assert all(torch.equal(a["resnet"][k], b["resnet"][k]) for k in a["resnet"])
    assert all(torch.equal(a["head"][k], b["head"][k]) for k in a["head"])
