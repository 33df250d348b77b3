"""Image folders on a generated fixture: layout errors, and corrupt files failed or skipped and counted."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from milelib.data import LoaderData
from milelib.data.images import image_folder, transforms


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "train"
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * c + i, np.uint8)).save(root / name / f"{i}.png")
    good = (root / "dog" / "2.png").read_bytes()
    (root / "dog" / "2.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "cat" / "notes.txt").write_text("not an image")        # ignored by extension
    return root


def test_reads_classes_and_pixels(folder):
    data = image_folder(folder, num_classes=2)
    assert data.classes == ["cat", "dog"] and len(data) == 6
    x, y = data[1]
    assert y == 0 and x.dtype == torch.uint8 and torch.equal(x, torch.full((3, 8, 8), 1, dtype=torch.uint8))


def test_workers_hand_over_uint8_and_the_device_normalises_as_the_workers_did(folder):
    """The batch the loop sees is the one normalising in the workers gave, to the bit."""
    from torchvision.transforms import v2

    from milelib.data.feeds import MEAN, STD

    files = image_folder(folder, transform=transforms(False, 8, crop=False))
    feed = LoaderData(files, np.array([label for _, label in files.samples]))
    x = next(feed.eval_batches(3, "cpu"))
    in_workers = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])
    expected = torch.stack([in_workers(files[i][0]) for i in range(3)])
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, expected)


def test_corrupt_image_fails_by_default(folder):
    data = image_folder(folder)
    with pytest.raises(ValueError, match=r"image .*dog/2.png is truncated or corrupt .*set bad_images='skip'"):
        data[5]


def test_corrupt_image_skipped_and_counted(folder):
    data = image_folder(folder, bad_images="skip")
    feed = LoaderData(data, [label for _, label in data.samples])
    batch = next(feed.batches(0, batch_size=6, seed=0, device=torch.device("cpu")))  # all six images
    assert batch.skipped == 1 and batch.x.shape == (5, 3, 8, 8)
    assert sorted(batch.index.tolist()) == [0, 1, 2, 3, 4] and sorted(batch.y.tolist()) == [0, 0, 0, 1, 1]


def test_missing_empty_and_wrong_class_count(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match=r"does not exist: expected root/<class name>/<image files>.*data_prep/"):
        image_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"holds no images"):
        image_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"has 2 class folders where 1000 are expected \(one per class\)"):
        image_folder(folder, num_classes=1000)
    with pytest.raises(ValueError, match=r"unknown bad_images 'ignore': choose one of fail, skip"):
        image_folder(folder, bad_images="ignore")


def test_extensions_in_any_case_and_every_format_pillow_decodes(tmp_path):
    root = tmp_path / "train"
    for name, ext, fmt in [("a", ".PNG", "PNG"), ("b", ".BMP", "BMP"), ("c", ".tif", "TIFF"), ("d", ".Jpeg", "JPEG"),
                           ("e", ".webp", "WEBP"), ("f", ".gif", "GIF")]:
        (root / name).mkdir(parents=True)
        Image.fromarray(np.full((6, 6, 3), 9, np.uint8)).save(root / name / f"x{ext}", format=fmt)
    data = image_folder(root)
    assert data.classes == ["a", "b", "c", "d", "e", "f"] and len(data) == 6
    assert all(data[i][0].shape == (3, 6, 6) for i in range(6))


def test_hidden_files_and_folders_are_skipped(folder):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "cat" / "._0.png")  # macOS resource fork
    (folder / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / ".ipynb_checkpoints" / "x.png")
    data = image_folder(folder)
    assert data.classes == ["cat", "dog"] and len(data) == 6
    assert not any(Path(path).name.startswith(".") for path, _ in data.samples)


def test_an_empty_class_folder_is_refused_not_counted(folder):
    (folder / "emu").mkdir()
    (folder / "emu" / "readme.txt").write_text("no images yet")
    with pytest.raises(ValueError, match=r"class folder .*emu holds no images \(1 such folder\(s\)\), yet every "
                                         r"folder counts as a class: add its images or remove it") as err:
        image_folder(folder)
    assert "\n" not in str(err.value)


def test_skipped_images_counts_files_not_draws(tmp_path):
    from milelib import RunConfig, data, fixtures, train

    root = fixtures.image_folder(tmp_path / "photos", num_classes=2, per_class=5)
    cfg = RunConfig().override({"data": "image_folder", "data.root": str(root), "data.val_fraction": 0.2,
                                "data.bad_images": "skip", "data.image_size": 16, "model": "small_cnn",
                                "model.width": 4, "optim.steps": 12, "optim.batch_size": 6, "method": "sigmoid",
                                "run.progress": False})
    first_train_image = Path(data.build(cfg.data).train.dataset.samples[0][0])  # validation never skips
    first_train_image.write_bytes(b"\xff\xd8\xff not a JPEG")  # 8 training images, 72 draws: drawn many times
    assert train(cfg)["skipped_images"] == 1
