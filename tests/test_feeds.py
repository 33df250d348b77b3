"""The feeds: batch order a pure function of (seed, step); the DataLoader feed resumes at any step with
the same batches and augmentations whatever the worker count; the `image_folder` dataset (real JPEG
files) trains end to end, reports the right split, resumes exactly, and evaluates every image once."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image

import milelib.methods.supervised as S
from milelib import RunConfig, train
from milelib.data import LoaderData, batch_indices, images
from milelib.data.feeds import on_device, sample_seeds
from milelib.evaluate import predict
from stopping import Stop, stop_on_call

CPU = torch.device("cpu")
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230)]


def make_folder(root, per_class, seed):
    """root/<class>/<i>.jpg: 16x16 RGB JPEGs, the left half in the class's colour, the right half
    dark, with noise, so a horizontal flip changes the image."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(["a_red", "b_green", "c_blue"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 40, (16, 16, 3))
            pixels[:, :8] += np.array(COLOURS[c])
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name / f"{i:02d}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("images")
    return make_folder(base / "train", 12, 0), make_folder(base / "test", 7, 1)


def folder_config(root, **more):
    return RunConfig().override({"data": "image_folder", "data.root": str(root), "data.image_size": 16,
                                 "method": "sigmoid", "model.width": 8, "optim.steps": 6, "optim.batch_size": 8,
                                 "optim.warmup_steps": 2, "optim.lr": 0.05, "run.workers": 2, "run.threads": 1,
                                 "run.progress": False, **more})


def test_batch_indices_each_epoch_a_permutation_less_the_remainder():
    n, size = 10, 3  # 3 batches per epoch, one row of each epoch's permutation left out
    for epoch in range(3):
        rows = torch.cat([batch_indices(epoch * 3 + k, n, size, seed=5) for k in range(3)]).tolist()
        assert len(rows) == 9 and len(set(rows)) == 9 and set(rows) <= set(range(n))
    epochs = [tuple(torch.cat([batch_indices(e * 3 + k, n, size, 5) for k in range(3)]).tolist()) for e in range(4)]
    assert len(set(epochs)) > 1  # a fresh order per epoch
    assert all(len(batch_indices(s, n, size, 5)) == size for s in range(12))


def test_batch_indices_are_a_pure_function_of_seed_and_step():
    first = batch_indices(7, 50, 4, seed=1).clone()
    for step in range(30):  # other steps, sizes and seeds in between, and the cache thrashed
        batch_indices(step, 51, 5, seed=step % 3)
    assert torch.equal(batch_indices(7, 50, 4, seed=1), first)
    assert not torch.equal(batch_indices(7, 50, 4, seed=2), first)
    assert sample_seeds(3, 4, 1) == sample_seeds(3, 4, 1) != sample_seeds(3, 4, 2)
    assert sample_seeds(3, 4, 1) != sample_seeds(4, 4, 1)


def flip_feed(root):
    return images.build(images.ImageFolderData(root=str(root), image_size=16, flip=True)).train


def take(feed, start, count, workers):
    return list(itertools.islice(feed.batches(start, 8, seed=3, device=CPU, workers=workers), count))


def test_loader_batches_resume_at_any_step_with_the_same_augmentations(folders):
    feed = flip_feed(folders[0])
    assert len(feed) == 32  # 36 images less a held-out 10%: round(3.6) = 4; 4 batches of 8 per epoch
    reference = take(feed, 0, 7, workers=0)  # crosses into a second epoch
    for workers in (0, 2):
        whole = take(feed, 0, 7, workers)
        for k in (1, 3, 5):
            for a, b in zip(whole[k:], take(feed, k, 7 - k, workers)):
                assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.index, b.index)
        for a, b in zip(reference, whole):  # and the worker count changes nothing
            assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.index, b.index)
    for step, b in enumerate(reference):
        assert b.index.tolist() == batch_indices(step, 32, 8, 3).tolist()
        assert torch.equal(b.y, torch.as_tensor(feed.labels)[b.index])

    # the flips are real: each training image is its evaluation image, flipped or not, and both occur
    plain = images.build(images.ImageFolderData(root=str(folders[0]), image_size=16, flip=False)).train
    flipped = 0
    for b in reference:
        for x, row in zip(b.x, b.index.tolist()):
            same = on_device(plain.dataset[row][0][None], "cpu")[0]  # the loader hands uint8 over
            assert torch.equal(x, same) or torch.equal(x, same.flip(-1))
            flipped += not torch.equal(x, same)
    assert 0 < flipped < 7 * 8


def test_image_folder_trains_and_reports_the_val_split_without_a_test_root(folders):
    result = train(folder_config(folders[0]))
    assert result["label_steps"] == 6
    assert 0 <= result["accuracy"] <= 1 and "f1@0.5" in result and "real_accuracy" in result  # val has one-hot sets
    assert not any(key.startswith(("val/", "test/")) for key in result)


def test_image_folder_reports_the_test_root_with_accuracy_only(folders):
    result = train(folder_config(folders[0], **{"data.test_root": str(folders[1])}))
    reported = {k for k in result if "/" not in k} - {"label_steps", "imitation_steps"}
    assert reported == {"accuracy", "top5_accuracy", "images"}  # test images have no true sets
    assert "val/f1@0.5" in result and "val/accuracy" in result and "val/best_threshold" in result
    # accuracy on 21 test images is a multiple of 1/21
    assert round(result["accuracy"] * 21, 9) == round(result["accuracy"] * 21)


def test_image_folder_run_stopped_and_resumed_equals_an_unstopped_one(folders, tmp_path, monkeypatch):
    settings = {"optim.steps": 12, "run.checkpoint_every": 4, "run.log_every": 3}
    expected = train(folder_config(folders[0], **settings, **{"run.out_dir": str(tmp_path / "a")}))
    real = S.sgd_step
    for stop_at in (7, 6):  # steps 6 (resumed from 4, with step 4's loss not yet logged), then 9 (from 8)
        stop_on_call(monkeypatch, S, stop_at)
        with pytest.raises(Stop):
            train(folder_config(folders[0], **settings, **{"run.out_dir": str(tmp_path / "b")}))
    monkeypatch.setattr(S, "sgd_step", real)
    # resumed with another worker count: the batches must not depend on it
    got = train(folder_config(folders[0], **settings, **{"run.out_dir": str(tmp_path / "b"), "run.workers": 0}))
    assert json.loads((tmp_path / "b" / "result.json").read_text())["run"]["resumed_from_steps"] == [4, 8]
    assert got == expected  # equal, not close
    assert (tmp_path / "b" / "metrics.csv").read_text() == (tmp_path / "a" / "metrics.csv").read_text()


@pytest.mark.parametrize("workers", [0, 2])
def test_eval_batches_count_every_image_once_in_order(folders, workers):
    data = images.build(images.ImageFolderData(root=str(folders[0]), test_root=str(folders[1]), image_size=16))
    test = data.splits["test"].data
    assert isinstance(test, LoaderData) and len(test) == 21  # 3 classes x 7, not a multiple of 4
    xs = list(test.eval_batches(4, CPU, workers))
    assert [len(x) for x in xs] == [4, 4, 4, 4, 4, 1]  # ceil(21 / 4) = 6 batches, the last of 1
    assert torch.equal(torch.cat(xs), on_device(torch.stack([test.dataset[i][0] for i in range(21)]), CPU))

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
    probs = predict(net, test, lambda z: z.softmax(1), CPU, batch_size=4, workers=workers)
    assert probs.shape == (21, 3)
    assert np.allclose(probs, net(torch.cat(xs)).softmax(1).detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_image_read_in_a_worker_is_the_same_one_line_as_without_workers(tmp_path, workers):
    from milelib import fixtures
    root = fixtures.image_folder(tmp_path / "images", num_classes=2, per_class=5)
    bad = sorted(root.rglob("*.jpg"))[0]
    bad.write_bytes(b"\xff\xd8\xff not a JPEG")  # wherever it lands, it is read: 2 steps of 4 train on all 8
    cfg = RunConfig().override({"data": "image_folder", "data.root": str(root), "model": "small_cnn",
                                "model.width": 4, "data.image_size": 16, "optim.steps": 2, "optim.batch_size": 4,
                                "data.val_fraction": 0.2, "method": "sigmoid", "run.workers": workers,
                                "run.progress": False})
    with pytest.raises(ValueError) as err:
        train(cfg)
    assert str(err.value).startswith(f"image {bad} is truncated or corrupt") and "\n" not in str(err.value)
    assert workers == 0 or err.value.__suppress_context__  # not torch's error with the worker's traceback


class _Failing(torch.utils.data.Dataset):
    def __init__(self, err):
        self.err = err

    def __len__(self):
        return 2

    def __getitem__(self, row):
        raise self.err


@pytest.mark.parametrize("err", [FileNotFoundError("image x.jpg not found: fix the list"), KeyError("class_9")],
                         ids=["FileNotFoundError", "KeyError"])
def test_a_workers_error_keeps_its_type_and_message(err):
    feed = LoaderData(_Failing(err), np.zeros(2, np.int64))
    with pytest.raises(type(err)) as caught:
        list(feed.eval_batches(2, CPU, workers=1))
    assert str(caught.value) == str(err)
