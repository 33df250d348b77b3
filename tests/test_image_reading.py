"""Reading images right: 16-bit and float pixels scaled, not clipped; decompression bombs treated as
bad images; and a folder scan that reads only regular files, follows links once and refuses names
that are not UTF-8, each refused in one line."""
import contextlib
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from milelib.data import LoaderData
from milelib.data.decoders import PixelRangeError, read_image
from milelib.data.images import class_folders, image_folder


@contextlib.contextmanager
def time_limit(seconds=10):
    """Fails the test instead of hanging it (reading a FIFO waits for a writer for ever)."""
    def stop(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def tree(root, classes=("class_0", "class_1"), per_class=2):
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((4, 4, 3), i, np.uint8)).save(root / name / f"{i}.png")
    return root


def one_line(err) -> str:
    assert "\n" not in str(err.value)
    return str(err.value)


GRADIENT = np.array([[0, 1, 128, 129, 257, 32767], [32768, 40000, 65278, 65406, 65408, 65535]])


@pytest.mark.parametrize("mode, ext", [("I;16", ".png"), ("I;16B", ".tif"), ("I", ".tif")])
def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path, mode, ext):
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    img = Image.frombytes(mode, GRADIENT.shape[::-1], GRADIENT.astype(dtype).tobytes())
    img.save(tmp_path / f"g{ext}")
    assert Image.open(tmp_path / f"g{ext}").mode == mode
    expected = np.floor(GRADIENT * 255 / 65535 + 0.5).astype(np.uint8)  # rounded half up; no ties occur
    assert expected.tolist() == [[0, 0, 0, 1, 1, 127], [128, 156, 254, 254, 255, 255]]
    array = read_image(tmp_path / f"g{ext}")
    assert array.shape == (2, 6, 3) and array.dtype == np.uint8
    assert all(np.array_equal(array[:, :, c], expected) for c in range(3))


def test_float_images_in_0_1_are_scaled_and_in_0_255_kept(tmp_path):
    unit = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    Image.fromarray(unit * 200).save(tmp_path / "bytes.tif")
    assert Image.open(tmp_path / "unit.tif").mode == "F"
    assert np.abs(read_image(tmp_path / "unit.tif")[:, :, 0] - unit * 255).max() <= 0.5
    assert np.abs(read_image(tmp_path / "bytes.tif")[:, :, 1] - unit * 200).max() <= 0.5


def test_pixels_no_8_bit_scaling_fits_are_refused_even_when_skipping(tmp_path):
    Image.fromarray(np.array([[-1.5, 3]], np.float32)).save(tmp_path / "f.tif")
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(tmp_path / "i.tif")
    with pytest.raises(PixelRangeError, match=r"f.tif holds float values from -1.5 to 3: expected \[0, 1\] or "
                                              r"\[0, 255\]") as err:
        read_image(tmp_path / "f.tif")
    one_line(err)
    with pytest.raises(PixelRangeError, match=r"i.tif holds 32-bit values from 0 to 70000: expected 0..65535"):
        read_image(tmp_path / "i.tif")
    root = tree(tmp_path / "root", per_class=1)
    os.replace(tmp_path / "f.tif", root / "class_0" / "f.tif")
    with pytest.raises(PixelRangeError):  # a folder saved so would be skipped image by image
        image_folder(root, bad_images="skip")[1]


@pytest.mark.parametrize("mode", ["LA", "P", "CMYK", "RGBA", "1", "L"])
def test_other_modes_still_go_through_convert_rgb(tmp_path, mode):
    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5).convert(mode)
    img.save(tmp_path / ("x.tif" if mode == "CMYK" else "x.png"))
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    assert np.array_equal(read_image(path), np.array(Image.open(path).convert("RGB")))


def test_a_decompression_bomb_is_a_bad_image_failed_or_skipped_and_counted(tmp_path, monkeypatch):
    root = tree(tmp_path / "root")
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(root / "class_1" / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels: over twice the limit, an error
    data = image_folder(root)
    big = [p for p, _ in data.samples].index(str(root / "class_1" / "big.png"))
    with pytest.raises(ValueError, match=r"image .*big.png is too large to decode safely \(Image size .*\): remove "
                                         r"it, or set bad_images='skip'") as err:
        data[big]
    one_line(err)
    data = image_folder(root, bad_images="skip")
    batch = next(LoaderData(data, [y for _, y in data.samples]).batches(0, 5, seed=0, device=torch.device("cpu")))
    assert batch.skipped == 1 and batch.x.shape == (4, 3, 4, 4)


def test_a_fifo_with_an_image_name_is_refused_at_scan_without_hanging(tmp_path):
    root = tree(tmp_path / "root")
    os.mkfifo(root / "class_0" / "x.jpg")
    with time_limit(), pytest.raises(ValueError, match=r"class_0/x.jpg is not a regular file \(a FIFO\): remove it"):
        image_folder(root)


def test_a_folder_link_back_into_the_scan_is_refused(tmp_path):
    root = tree(tmp_path / "root")
    (root / "class_0" / "loop").symlink_to("..")
    with time_limit(), pytest.raises(ValueError, match=rf"symbolic link {root}/class_0/loop -> {root} leads to "
                                                       rf"{root}, already in the scan: remove the link") as err:
        image_folder(root)
    one_line(err)
    (root / "class_0" / "loop").unlink()
    (root / "class_0" / "other").symlink_to(root / "class_1")
    with pytest.raises(ValueError, match=r"class_0/other -> .*class_1 leads to .*class_1, already in the scan"):
        image_folder(root)


def test_links_to_files_and_outside_folders_are_followed_once(tmp_path):
    root = tree(tmp_path / "root")
    elsewhere = tree(tmp_path / "elsewhere", classes=("more",), per_class=3)
    (root / "class_0" / "linked.png").symlink_to(elsewhere / "more" / "0.png")
    (root / "class_1" / "more").symlink_to(elsewhere / "more")
    data = image_folder(root)
    paths = [p for p, _ in data.samples]
    assert paths.count(str(root / "class_0" / "linked.png")) == 1 and len(paths) == 2 + 1 + 2 + 3
    assert [y for _, y in data.samples] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert data[2][0].shape == (3, 4, 4)


def test_the_scan_keeps_torchvisions_order(tmp_path):
    from torchvision.datasets import ImageFolder

    root = tree(tmp_path / "root")
    for sub in ("a", "a-b", "a/x", "B"):
        tree(root / "class_0" / sub, classes=("",), per_class=2)
    assert class_folders(root).samples == ImageFolder(str(root)).samples


def test_a_name_that_is_not_utf8_is_refused_at_scan(tmp_path):
    root = tree(tmp_path / "root")
    try:
        with open(os.fsencode(root / "class_0") + b"/bad\xff.png", "wb") as file:
            file.write((root / "class_0" / "0.png").read_bytes())
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    with pytest.raises(ValueError, match=r"file name b'.*/class_0/bad\\xff.png' is not valid UTF-8: rename it") as err:
        image_folder(root)
    one_line(err)


def test_images_without_class_folders_say_where_they_belong(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / f"{i}.jpg")
    with pytest.raises(FileNotFoundError, match=rf"^data folder {root} holds 3 image files but no class folders: "
                                                rf"expected {root}/<class name>/<image files>; move the images into "
                                                rf"one folder per class$"):
        image_folder(root)
