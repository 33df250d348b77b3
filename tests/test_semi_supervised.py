"""The unlabelled stream (`data.unlabelled`), a fixed teacher from a finished run
(`method.teacher_run`), and run identities that follow what a path holds, not where it lies."""
import shutil

import numpy as np
import pytest
import torch

import milelib.methods.mile as TS
from milelib import data as datasets, experiments, train
from milelib import fixtures
from milelib.training import load_run
from stopping import Stop, stop_on_call

EXP = experiments.get("rho_sweep").EXPERIMENT  # the ReaL-like smoke profile: 256 training grids


def smoke(**settings):
    return EXP.config("smoke", {"run.progress": False, "run.log_every": 4, **settings})


def test_grids_serve_every_training_grid_unlabelled():
    data = datasets.build(smoke(**{"data.fraction": 0.25, "data.unlabelled": True}).data)
    assert len(data.train) == 64 and len(data.unlabelled) == 256  # the fraction, and every training grid
    assert (data.unlabelled.labels == -1).all() and data.unlabelled.true_sets is None
    whole = datasets.build(smoke().data)
    assert np.array_equal(data.unlabelled.images, whole.train.images)  # the same grids, labels withheld
    assert whole.unlabelled is None


def test_imagenet_serves_every_image_but_the_holdout_unlabelled(tmp_path):
    root = fixtures.imagenet(tmp_path, num_classes=3, train_per_class=8)
    settings = {"data": "imagenet", "data.root": str(root), "data.holdout_per_class": 2, "data.fraction": 0.25,
                "data.image_size": 32, "data.resize": 36, "data.unlabelled": True}
    data = datasets.build(experiments.get("imagenet_fractions").EXPERIMENT.config("smoke", settings).data)
    assert len(data.unlabelled) == 3 * 8 - 3 * 2
    batch = next(data.unlabelled.batches(0, 6, 0, torch.device("cpu")))
    assert batch.x.shape == (6, 3, 32, 32) and (batch.y == -1).all()


def test_imitation_steps_read_the_unlabelled_stream_and_label_steps_the_labels(monkeypatch):
    seen = []
    real = TS.MILe.step

    def step(self, batch, i, lr):
        seen.append((self.schedule.phase(i), int(batch.y.min()), int(batch.y.max()), int(batch.index.max())))
        return real(self, batch, i, lr)

    monkeypatch.setattr(TS.MILe, "step", step)
    train(smoke(**{"data.fraction": 0.25, "data.unlabelled": True}))  # k_t = 4, k_s = 2, 16 steps
    assert [p for p, *_ in seen] == (["teacher"] * 4 + ["student"] * 2) * 2 + ["teacher"] * 4
    assert all(lo == hi == -1 for p, lo, hi, _ in seen if p == "student")
    assert all(lo >= 0 and top < 64 for p, lo, _, top in seen if p == "teacher")  # the labelled 64 only
    assert max(top for p, *_, top in seen if p == "student") >= 64                 # beyond them


def teacher(tmp_path, **settings):
    out = tmp_path / "teacher"
    train(smoke(**{"method": "softmax", "data.fraction": 0.25, "run.out_dir": str(out), **settings}))
    return out


def distill(out, **settings):
    return smoke(**{"method": "soft_distillation", "data.fraction": 0.25, "data.unlabelled": True,
                    "method.teacher_run": str(out), "method.teacher_steps": 0, "method.student_steps": 16, **settings})


def test_a_fixed_teacher_gives_its_softmax_as_targets_and_never_changes(tmp_path, monkeypatch):
    out = teacher(tmp_path, **{"model.width": 16})  # a wider teacher than the student (width 8)
    frozen, _ = load_run(out)
    before = {k: v.clone() for k, v in frozen.eval_net.state_dict().items()}
    targets = []
    real = TS.MILe.pseudo_labels

    def pseudo(self, x, labels=None, step=0):
        t = real(self, x, labels, step)
        with torch.no_grad():
            expected = frozen.eval_net(x).softmax(dim=1)
        targets.append(float((t - expected).abs().max()))
        assert all(torch.equal(v, before[k]) for k, v in self.teacher.state_dict().items())
        return t

    monkeypatch.setattr(TS.MILe, "pseudo_labels", pseudo)
    result = train(distill(out, **{"run.out_dir": str(tmp_path / "student")}))
    assert len(targets) == 16 and max(targets) < 1e-5  # every step imitates the run's own network
    assert result["imitation_steps"] == 16 and result["label_steps"] == 0


def test_a_distillation_resumes_exactly(tmp_path, monkeypatch):
    out = teacher(tmp_path)
    cfg = distill(out, **{"run.checkpoint_every": 5})
    expected = train(cfg.override({"run.out_dir": str(tmp_path / "alone")}))
    stop_on_call(monkeypatch, TS, 8)
    with pytest.raises(Stop):
        train(cfg.override({"run.out_dir": str(tmp_path / "stopped")}))
    monkeypatch.undo()
    assert train(cfg.override({"run.out_dir": str(tmp_path / "stopped")})) == expected


def test_mile_with_the_unlabelled_stream_resumes_exactly(tmp_path, monkeypatch):
    cfg = smoke(**{"data.fraction": 0.25, "data.unlabelled": True, "run.checkpoint_every": 5})
    expected = train(cfg.override({"run.out_dir": str(tmp_path / "alone")}))
    stop_on_call(monkeypatch, TS, 9)  # mid-cycle: 4 label steps, 2 imitation steps, ...
    with pytest.raises(Stop):
        train(cfg.override({"run.out_dir": str(tmp_path / "stopped")}))
    monkeypatch.undo()
    assert train(cfg.override({"run.out_dir": str(tmp_path / "stopped")})) == expected


def test_a_teacher_is_known_by_its_run_and_a_checkpoint_by_its_bytes(tmp_path):
    out = teacher(tmp_path)
    moved = shutil.copytree(out, tmp_path / "elsewhere" / "teacher")
    assert distill(out).config_hash() == distill(moved).config_hash()  # a run store may move
    other = tmp_path / "other"
    train(smoke(**{"method": "softmax", "data.fraction": 0.25, "seed": 1, "run.out_dir": str(other)}))
    assert distill(other).config_hash() != distill(out).config_hash()

    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"x": torch.zeros(2)}, a)
    shutil.copy(a, b)
    with_a, with_b = smoke(**{"model.pretrained": str(a)}), smoke(**{"model.pretrained": str(b)})
    assert with_a.config_hash() == with_b.config_hash() != smoke().config_hash()
    torch.save({"x": torch.ones(2)}, b)
    assert smoke(**{"model.pretrained": str(b)}).config_hash() != with_a.config_hash()


def test_teacher_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="set method.teacher_steps .k_t. to 0"):
        smoke(**{"method": "soft_distillation", "method.teacher_run": str(tmp_path), "method.teacher_steps": 4})
    with pytest.raises(ValueError, match="k_t = 0 only with a fixed method.teacher_run"):
        smoke(**{"method": "soft_distillation", "method.teacher_steps": 0})
    with pytest.raises(FileNotFoundError, match="holds no finished run"):
        train(distill(tmp_path / "nothing"))
    root = fixtures.imagenet(tmp_path / "imagenet", num_classes=3, train_per_class=8)
    three = tmp_path / "three"  # a teacher of 3 classes, for grids of 10
    train(smoke(**{"method": "softmax", "data": "imagenet", "data.root": str(root), "data.holdout_per_class": 2,
                   "data.image_size": 32, "data.resize": 36, "optim.batch_size": 4, "optim.steps": 2,
                   "run.out_dir": str(three)}))
    with pytest.raises(ValueError, match="predicts 3 classes, this run's data have 10"):
        train(distill(three))
