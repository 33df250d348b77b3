"""The ImageNet loader on a generated tree of real JPEGs: class folders, ReaL (and broken ReaL
files), fractions, SimCLR subset files, the held-out threshold slice, and a run end to end."""
import json

import numpy as np
import pytest

from milelib import data as datasets, fixtures, train
from milelib.config import RunConfig
from milelib.data.imagenet import REAL_ENTRIES

SMALL = {"data": "imagenet", "data.holdout_per_class": 2, "data.image_size": 32, "data.resize": 36}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return fixtures.imagenet(tmp_path_factory.mktemp("imagenet"))


def settings(root, **more):
    return RunConfig().override({**SMALL, "data.root": str(root), **more}).data


def test_class_folders_real_sets_and_holdout(root):
    data = datasets.build(settings(root))
    assert data.raw["classes"] == ["n01440764", "n01441764", "n01442764"] and data.num_classes == 3
    val = data.splits["val"]
    assert len(val.labels) == 9 and val.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # real.json: each image's own class, and the next class for images number 3, 6, 9
    expected = np.eye(3, dtype=bool)[val.labels]
    expected[[2, 5, 8], [1, 2, 0]] = True
    assert (val.true_sets == expected).all()
    holdout = data.splits["holdout"]
    assert len(holdout.labels) == 6 and np.bincount(holdout.labels).tolist() == [2, 2, 2]
    assert (holdout.true_sets == np.eye(3, dtype=bool)[holdout.labels]).all()  # one-hot: never ReaL
    assert data.threshold_split == "holdout" and data.report_split == "val"
    trained = set(data.files["train_files.txt"])
    held = {p.split("/")[-1] for p, _ in data.splits["holdout"].data.dataset.samples}
    assert len(trained) == 30 and not trained & held  # 12 per class, 2 held out


def test_fraction_is_a_fixed_per_class_draw_outside_the_holdout(root):
    a = datasets.build(settings(root, **{"data.fraction": 0.2}))
    b = datasets.build(settings(root, **{"data.fraction": 0.2}))
    files = a.files["train_files.txt"]
    assert files == b.files["train_files.txt"] and len(files) == 6  # round(0.2 * 10) per class
    assert sorted(np.bincount(a.train.labels).tolist()) == [2, 2, 2]
    whole = datasets.build(settings(root))
    assert set(files) <= set(whole.files["train_files.txt"])


def test_simclr_subset_file(root):
    data = datasets.build(settings(root, **{"data.subset": "subsets/1image.txt"}))
    assert data.files["train_files.txt"] == (root / "subsets" / "1image.txt").read_text().split()
    held = {p.split("/")[-1] for p, _ in data.splits["holdout"].data.dataset.samples}
    assert not held & set(data.files["train_files.txt"])  # the holdout never takes a subset image



def test_a_subset_file_and_real_json_with_a_byte_order_mark_are_read(root, tmp_path):
    subset, real = tmp_path / "1image.txt", tmp_path / "real.json"
    subset.write_bytes(b"\xef\xbb\xbf" + (root / "subsets" / "1image.txt").read_bytes())  # as Notepad saves UTF-8
    real.write_bytes(b"\xef\xbb\xbf" + (root / "real.json").read_bytes())
    data = datasets.build(settings(root, **{"data.subset": str(subset), "data.real": str(real)}))
    assert data.files["train_files.txt"] == (root / "subsets" / "1image.txt").read_text().split()
    assert (data.splits["val"].true_sets == datasets.build(settings(root)).splits["val"].true_sets).all()

def test_transforms_give_the_asked_size(root):
    import torch
    data = datasets.build(settings(root))
    batch = next(data.train.batches(0, 4, 0, torch.device("cpu")))
    assert batch.x.shape == (4, 3, 32, 32) and batch.x.dtype == torch.float32
    x = next(data.splits["val"].data.eval_batches(9, torch.device("cpu")))
    assert x.shape == (9, 3, 32, 32) and abs(float(x.mean())) < 3  # normalised


def broken_copy(root, tmp_path, real):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "real.json").write_text(real if isinstance(real, str) else json.dumps(real))
    return copy


@pytest.mark.parametrize("real, message", [
    ([[0]] * 49_999, r"real.json holds 49999 entries; ReaL has 50,000, one list per ImageNet validation image"),
    ([[0]] * 2 + [[0, 3]] + [[]] * (REAL_ENTRIES - 3),
     r"real.json entry 2 \(ILSVRC2012_val_00000003\) is \[0, 3\]: expected a list of class indices in 0..2"),
    ([[0]] * 2 + [[True, False]] + [[]] * (REAL_ENTRIES - 3),  # bools are ints to Python, not to ReaL
     r"entry 2 \(ILSVRC2012_val_00000003\) is \[true, false\]: expected a list of class indices in 0..2 \(numbers, "
     r"not true/false\)"),
    ('[[0], [1', r"real.json is not valid JSON"),
    ({"a": 1}, r"real.json holds dict entries"),
])
def test_broken_real_files_are_refused_in_one_line(root, tmp_path, real, message):
    with pytest.raises(ValueError, match=message) as err:
        datasets.build(settings(broken_copy(root, tmp_path, real)))
    assert "\n" not in str(err.value)


def test_other_layout_errors(root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train not found: the imagenet dataset reads root/train/<wnid>/"):
        datasets.build(settings(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"ReaL labels .*nothing.json not found"):
        datasets.build(settings(root, **{"data.real": "nothing.json"}))
    (tmp_path / "subset.txt").write_text("n01440764_1000.JPEG\nn09999999_1.JPEG\n")
    with pytest.raises(ValueError, match=r"names 1 image\(s\) not in the training folder \(first: n09999999_1.JPEG\)"):
        datasets.build(settings(root, **{"data.subset": str(tmp_path / "subset.txt")}))
    copy = broken_copy(root, tmp_path, json.loads((root / "real.json").read_text()))
    first = copy / "val" / "n01440764" / "ILSVRC2012_val_00000001.JPEG"
    first.rename(first.with_name("photo.JPEG"))
    with pytest.raises(ValueError, match=r"photo.JPEG is not named ILSVRC2012_val_<number 1..50000>.JPEG"):
        datasets.build(settings(copy))
    with pytest.raises(ValueError, match=r"data.root is empty"):
        settings("")


def test_a_run_end_to_end_writes_its_file_list(root, tmp_path):
    cfg = RunConfig().override({**SMALL, "data.root": str(root), "data.fraction": 0.5, "model": "resnet18",
                                "method": "mile", "method.teacher_steps": 2, "method.student_steps": 1,
                                "optim.steps": 4, "optim.batch_size": 4, "optim.warmup_steps": 0,
                                "run.progress": False, "run.out_dir": str(tmp_path / "run"), "run.workers": 2})
    metrics = train(cfg)
    assert metrics["images"] == 9 and metrics["holdout/images"] == 6
    for key in ("accuracy", "top5_accuracy", "real_accuracy", "f1@0.5", "f1@best", "map", "coverage@0.5"):
        assert 0 <= metrics[key] <= 3, key
    files = (tmp_path / "run" / "train_files.txt").read_text().split()
    assert len(files) == 15 and files == datasets.build(cfg.data).files["train_files.txt"]


def test_real_without_any_label_warns_and_its_metrics_are_null_in_a_strict_json_result(root, tmp_path):
    from milelib.notices import MilelibWarning

    def strict(text):  # what any JSON reader other than Python's accepts: no bare NaN or Infinity
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"result.json holds a bare {name}"))

    cfg = RunConfig().override({**SMALL, "data.root": str(broken_copy(root, tmp_path, [[]] * REAL_ENTRIES)),
                                "method": "sigmoid", "optim.steps": 2, "optim.batch_size": 4, "optim.warmup_steps": 0,
                                "run.progress": False, "run.out_dir": str(tmp_path / "run")})
    with pytest.warns(MilelibWarning, match=r"real.json holds 50,000 empty lists: no validation image has a ReaL "
                                            r"label, so every ReaL metric is undefined \(null in result.json\)"):
        metrics = train(cfg)
    stored = strict((tmp_path / "run" / "result.json").read_text())["metrics"]
    assert np.isnan(metrics["real_accuracy"]) and stored["real_accuracy"] is None
    assert stored["accuracy"] == metrics["accuracy"]  # the defined ones as they were
    assert np.isnan(train(cfg)["real_accuracy"])  # read back as training returned it
