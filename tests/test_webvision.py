"""The WebVision loader on generated file lists and JPEGs: Google + Flickr, mini-WebVision, the
ImageNet val split of the same classes, MoPro's rebalancing, and a ResNet-50-D run end to end."""
import shutil

import numpy as np
import pytest
import torch

from milelib import data as datasets, fixtures, train
from milelib.config import RunConfig
from milelib.data.feeds import Order, _Seeded
from milelib.data.webvision import rebalancing_weights

SMALL = {"data": "webvision", "data.image_size": 32, "data.resize": 36}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("web")
    return fixtures.webvision(base / "webvision"), fixtures.imagenet(base / "imagenet")


def settings(root, **more):
    return RunConfig().override({**SMALL, "data.root": str(root), **more}).data


def test_file_lists_sources_and_splits(roots):
    web, imagenet = roots
    data = datasets.build(settings(web, **{"data.imagenet_root": str(imagenet)}))
    # Google: 8, 4, 2 images of classes 0, 1, 2; Flickr: 4 each
    assert len(data.train) == 26 and np.bincount(data.train.labels).tolist() == [12, 8, 6]
    assert data.num_classes == 3 and list(data.splits) == ["val", "imagenet"]
    assert data.splits["val"].labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and data.splits["val"].true_sets is None
    assert len(data.splits["imagenet"].labels) == 9 and data.threshold_split is None
    x = next(data.splits["val"].data.eval_batches(9, torch.device("cpu")))
    assert x.shape == (9, 3, 32, 32)


def test_mini_webvision_is_google_only_and_its_first_50_classes(tmp_path):
    web = fixtures.webvision(tmp_path / "web52", num_classes=52, google_per_class=2, flickr_per_class=1,
                             val_per_class=1, size=(8, 8))
    data = datasets.build(settings(web, **{"data.mini": True}))
    assert len(data.train) == 100 and data.num_classes == 50 and set(data.train.labels.tolist()) == set(range(50))
    assert all("/google/" in path for path, _ in data.train.dataset.samples)
    assert data.splits["val"].labels.tolist() == list(range(50))  # classes 50 and 51 are not mini-WebVision's


def test_mini_on_a_tree_of_fewer_classes_is_refused(roots):
    with pytest.raises(ValueError, match=r"^data.mini takes WebVision's first 50 classes, but the train lists "
                                         r"\(train_filelist_google.txt in .*info\) have images of 3 of them \(first "
                                         r"missing: label 3\): set data.mini=false for a tree of fewer classes"):
        datasets.build(settings(roots[0], **{"data.mini": True}))


def copy_of(web, tmp_path):
    shutil.copytree(web, tmp_path / "copy")
    return tmp_path / "copy"


def test_a_val_label_out_of_range_is_refused_not_dropped(roots, tmp_path):
    web = copy_of(roots[0], tmp_path)
    with open(web / "info" / "val_filelist.txt", "a") as f:
        f.write("val000001.jpg 7\nval000002.jpg 1000\n")
    with pytest.raises(ValueError, match=r"val_filelist.txt has 2 of 11 images of classes with no training images "
                                         r"\(first: val000001.jpg, label 7; the train lists \(.*\) hold 3 classes, "
                                         r"labels 0..2\): fix the lists, or remove those lines$"):
        datasets.build(settings(web))


def test_a_class_absent_from_the_train_lists_is_refused(roots, tmp_path):
    web = copy_of(roots[0], tmp_path)
    for source in ("google", "flickr"):
        path = web / "info" / f"train_filelist_{source}.txt"
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.endswith(" 1")))
    with pytest.raises(ValueError, match=r"has 3 of 9 images of classes with no training images \(first: "
                                         r"val000004.jpg, label 1; .* hold 2 classes, labels 0..2\)"):
        datasets.build(settings(web))


def test_file_lists_with_a_byte_order_mark_are_read(roots, tmp_path):
    web = copy_of(roots[0], tmp_path)
    for name in ("train_filelist_google.txt", "val_filelist.txt", "synsets.txt"):
        path = web / "info" / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # as Windows' Notepad saves UTF-8
    data = datasets.build(settings(web, **{"data.imagenet_root": str(roots[1])}))
    assert data.train.dataset.samples[0][0] == str(web / "google" / "q0001" / "00000000.jpg")
    assert len(data.train) == 26 and data.splits["val"].labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    data.train.dataset[0]  # read as an image, not reported as a corrupt one


def test_rebalancing_weights_by_hand():
    # counts 12, 8, 6: p ~ n^-0.5, so 10 * p / min p = 10, 10 * sqrt(12/8), 10 * sqrt(2) -> 10, 12, 14
    labels = np.repeat([0, 1, 2], [12, 8, 6])
    assert rebalancing_weights(labels).tolist() == [10.0] * 12 + [12.0] * 8 + [14.0] * 6


def test_rebalanced_order_draws_classes_by_weight_and_is_a_function_of_seed_and_step():
    labels = np.repeat([0, 1, 2], [12, 8, 6])
    weights = rebalancing_weights(labels)
    order = Order(len(labels), seed=3, weights=weights)
    drawn = torch.cat([order.batch(step, 13) for step in range(4000)]).numpy()
    share = np.bincount(labels[drawn], minlength=3) / len(drawn)
    expected = np.array([12 * 10, 8 * 12, 6 * 14]) / (12 * 10 + 8 * 12 + 6 * 14)
    assert np.abs(share - expected).max() < 0.01  # 52,000 draws: class 2 rises from 23% to 28%
    again = Order(len(labels), seed=3, weights=weights)
    assert torch.equal(again.batch(1234, 13), order.batch(1234, 13))  # resume sees the same rows


def test_layout_errors(roots, tmp_path):
    web, imagenet = roots
    with pytest.raises(FileNotFoundError, match=r"train_filelist_google.txt not found \(python data_prep/webvision.py"):
        datasets.build(settings(tmp_path))
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(web, copy)
    (copy / "info" / "synsets.txt").write_text("n09999999 other\n")
    with pytest.raises(ValueError, match=r"order their classes differently"):
        datasets.build(settings(copy, **{"data.imagenet_root": str(imagenet)}))
    (copy / "info" / "val_filelist.txt").write_text("val000001.jpg zero\n")
    with pytest.raises(ValueError, match=r"val_filelist.txt line 1 is 'val000001.jpg zero': expected 'path label'"):
        datasets.build(settings(copy))
    shutil.rmtree(copy / "val_images_256")
    (copy / "info" / "val_filelist.txt").write_text("val000001.jpg 0\n")
    with pytest.raises(FileNotFoundError, match=r"val_images_256 not found"):
        datasets.build(settings(copy))


def test_resnet50d_run_end_to_end_with_rebalancing(roots, tmp_path):
    web, imagenet = roots
    cfg = RunConfig().override({**SMALL, "data.root": str(web), "data.imagenet_root": str(imagenet),
                                "model": "resnet50d", "method": "mile", "method.teacher_steps": 1,
                                "method.student_steps": 1, "optim.steps": 2, "optim.batch_size": 4,
                                "optim.warmup_steps": 0, "run.progress": False, "run.out_dir": str(tmp_path / "run")})
    metrics = train(cfg)
    assert metrics["images"] == 9 and metrics["imagenet/images"] == 9
    assert set(metrics) >= {"accuracy", "top5_accuracy", "imagenet/accuracy", "imagenet/top5_accuracy"}
    assert "f1@0.5" not in metrics  # WebVision has no label sets
    assert metrics["top5_accuracy"] == 1.0  # three classes: every label is in the top five


def test_an_unreadable_image_is_replaced_so_batches_keep_their_size_and_order(roots, tmp_path):
    """bad_images="replace", WebVision's default: an unreadable training image is replaced by the next
    readable one of its list (its label, the unreadable one's augmentation seed), so every process's
    share of a batch keeps its size (gather needs equal shapes) and a resume draws the same batches;
    `fail` stopped such a run at the same step on every resume. On readable data both give the same
    batches, so they share one config hash: switching resumes a stopped run instead of starting over."""
    web = copy_of(roots[0], tmp_path)
    clean = datasets.build(settings(roots[0]))
    bad_path, _ = clean.train.dataset.samples[3]
    (web / bad_path.split(str(roots[0]) + "/")[1]).write_bytes(b"not a jpeg")
    cfg = settings(web)
    assert cfg.bad_images == "replace"
    hashes = {RunConfig().override({**SMALL, "data.root": str(web), "data.bad_images": mode}).config_hash()
              for mode in ("replace", "fail")}
    assert len(hashes) == 1 and settings(web, **{"data.bad_images": "fail"}).bad_images == "fail"
    data = datasets.build(cfg)
    shares = [next(data.train.batches(0, 26, seed=3, device="cpu", shard=(rank, 2))) for rank in (0, 1)]
    assert [len(s.index) for s in shares] == [13, 13] and [s.x.shape[0] for s in shares] == [13, 13]
    assert all(s.skipped == 0 for s in shares)
    whole = next(clean.train.batches(0, 26, seed=3, device="cpu"))
    mine = torch.cat([s.index for s in shares])
    assert sorted(mine.tolist()) == sorted(whole.index.tolist())  # the same rows, the order unchanged
    with pytest.warns(UserWarning, match=r"training image .*unreadable: replaced by .*00000004.jpg"):
        replaced = _Seeded(data.train.dataset)[(3, 12345)]
    following = _Seeded(clean.train.dataset)[(4, 12345)]
    assert torch.equal(replaced[0], following[0]) and replaced[1] == following[1] and replaced[2] == 3
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        datasets.build(settings(web, **{"data.bad_images": "fail"})).train.dataset[3]
    with pytest.raises(ValueError, match=r"^data.bad_images='skip' is not WebVision's: .* use 'replace'"):
        settings(web, **{"data.bad_images": "skip"})
