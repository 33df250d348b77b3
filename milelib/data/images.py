"""Image files on disk, for the paper's real datasets and a practitioner's own single-labelled
folder: a class-per-folder tree (`root/<class>/<image>`), read with PIL, and the `image_folder`
data module that trains on such a folder through the DataLoader feed.

A truncated or corrupt file is never passed over silently: with `bad_images="fail"` it stops
the run with one line naming the file; with `bad_images="skip"` it is left out of its batch and
counted (the collate function returns the count, so it works inside DataLoader workers too).
"""
from __future__ import annotations

import functools

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from ..config import check_choice
from .digits import stratified_split
from .feeds import Data, LoaderData, Split

BAD_IMAGES = ("fail", "skip")


def read_image(path) -> np.ndarray:
    """An RGB uint8 [H, W, 3] array; decodes the whole file, so truncation is caught here."""
    with Image.open(path) as img:
        img.load()
        return np.array(img.convert("RGB"))  # a writable copy, as torch.from_numpy wants


class ImageFiles(torch.utils.data.Dataset):
    """(path, label) samples read as uint8 tensors [3, H, W], passed through `transform` (crops,
    resizes and flips, still uint8: see `transforms`). Workers hand uint8 over, a quarter of float32's
    bytes; LoaderData makes them floats and normalises them on the device."""

    def __init__(self, samples, classes, transform=None, bad_images: str = "fail"):
        check_choice("bad_images", bad_images, BAD_IMAGES)
        self.samples, self.classes, self.transform, self.bad_images = list(samples), list(classes), transform, bad_images

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        try:
            array = read_image(path)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            if self.bad_images == "skip":
                return None
            raise ValueError(f"image {path} is truncated or corrupt ({str(err).splitlines()[0]}): remove it, "
                             f"or set bad_images='skip' to skip and count such files") from None
        x = torch.from_numpy(array).permute(2, 0, 1)
        return (self.transform(x) if self.transform else x), label


NOT_DECODED = {"EPS", "MPEG"}  # Pillow names them, but decodes them only with outside tools, or never


@functools.lru_cache(maxsize=1)  # asked once per file when a folder is scanned
def image_extensions() -> frozenset[str]:
    """The file extensions of every format Pillow decodes by itself, lower case (.jpg, .png, .bmp,
    .tif, .webp, ...): not its stubs (HDF5, GRIB, BUFR, WMF), which only recognise a file."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN and fmt not in NOT_DECODED and not _is_stub(Image.OPEN[fmt][0]))


def _is_stub(opener) -> bool:
    return isinstance(opener, type) and issubclass(opener, ImageFile.StubImageFile)  # JPEG's opener is a function


def _is_image(path) -> bool:
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in image_extensions()


def class_folders(root):
    """torchvision's ImageFolder over root/<class>/<images>: classes in sorted order, hidden folders
    (.ipynb_checkpoints) not classes, hidden files (.DS_Store, macOS ._ files) not images, and an
    empty class folder refused in one line (it would shift every class index after it)."""
    from torchvision.datasets import ImageFolder

    class Folder(ImageFolder):
        @staticmethod
        def find_classes(directory):
            classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
            return classes, {name: i for i, name in enumerate(classes)}

    try:
        return Folder(str(root), is_valid_file=_is_image)
    except FileNotFoundError as err:
        empty = re.search(r"Found no valid file for the classes (.+?)\.", str(err))
        if not empty:
            raise
        names = empty.group(1).split(", ")
        raise ValueError(f"class folder {Path(root) / names[0]} holds no images ({len(names)} such folder(s)), yet "
                         f"every folder counts as a class: add its images or remove it") from None


def image_folder(root, num_classes: int | None = None, **kwargs) -> ImageFiles:
    """Every image under root/<class>/ (see `class_folders`), read by ImageFiles; checks the layout first."""
    root = Path(root).expanduser()
    layout = "expected root/<class name>/<image files>, one folder per class"
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist: {layout} "
                                f"(data_prep/ has the scripts that make it for the paper's datasets)")
    if not any(_is_image(p) for folder in root.iterdir() if folder.is_dir() and not folder.name.startswith(".")
               for p in folder.iterdir()):
        raise FileNotFoundError(f"data folder {root} holds no images: {layout}")
    folder = class_folders(root)
    if num_classes is not None and num_classes != len(folder.classes):
        raise ValueError(f"{root} has {len(folder.classes)} class folders but num_classes is {num_classes}: "
                         f"set num_classes to {len(folder.classes)} or fix the folder")
    return ImageFiles(folder.samples, folder.classes, **kwargs)


def transforms(training: bool, size: int, resize: int | None = None, crop: bool = True, flip: bool = True):
    """uint8 image tensor -> uint8 image tensor of `size` x `size`. With `crop`, the paper's ImageNet
    transforms (RandomResizedCrop `size` and flips when training; resize to `resize` and centre crop
    `size` otherwise); without, a plain resize to `size` x `size` (and flips when training). The
    scaling to [0, 1] and ImageNet's normalisation follow on the device (feeds.LoaderData)."""
    from torchvision.transforms import v2

    if crop:
        steps = ([v2.RandomResizedCrop(size, antialias=True)] if training else
                 [v2.Resize(resize or size, antialias=True), v2.CenterCrop(size)])
    else:
        steps = [v2.Resize((size, size), antialias=True)]
    if training and flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps)


@dataclass
class ImageFolderData:
    """Settings of the `image_folder` data module: a single-labelled folder of one's own."""
    name: str = "image_folder"
    root: str = ""                  # root/<class>/<image files>: the training images
    test_root: str | None = None    # a labelled folder with the same classes, reported when given
    val_fraction: float = 0.1       # held-out training images (per class) that choose thresholds
    image_size: int = 64            # images are resized to image_size x image_size
    flip: bool = True               # random horizontal flips while training
    bad_images: str = "fail"        # fail | skip (and count) unreadable training images

    def __post_init__(self):
        check_choice("bad_images", self.bad_images, BAD_IMAGES)
        if not str(self.root).strip():
            raise ValueError("data.root is empty: the image_folder dataset reads root/<class>/<images>; give that folder")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"data.val_fraction must lie in (0, 1), got {self.val_fraction}")
        if self.image_size < 1:
            raise ValueError(f"data.image_size must be >= 1, got {self.image_size}")


def build(cfg: ImageFolderData) -> Data:
    """Train on most of `root`; a held-out slice of it, scored against its single labels, chooses
    each run's threshold (as for ImageNet, never the data reported); `test_root` is reported."""
    evaluation = transforms(False, cfg.image_size, crop=False)
    training = transforms(True, cfg.image_size, crop=False, flip=cfg.flip)
    everything = image_folder(cfg.root, bad_images=cfg.bad_images)
    labels = np.array([label for _, label in everything.samples])
    num_classes = len(everything.classes)
    val_rows, train_rows = stratified_split(labels, [cfg.val_fraction], np.random.default_rng(0))
    if len(val_rows) == 0 or len(train_rows) == 0:
        raise ValueError(f"{cfg.root} holds {len(labels)} images: too few to hold out data.val_fraction "
                         f"{cfg.val_fraction} of them for validation and train on the rest; add images or "
                         f"change data.val_fraction")

    def files(rows, transform, bad_images):
        return ImageFiles([everything.samples[r] for r in rows], everything.classes, transform, bad_images)

    splits = {"val": Split(LoaderData(files(val_rows, evaluation, "fail"), labels[val_rows]), labels[val_rows],
                           np.eye(num_classes, dtype=bool)[labels[val_rows]])}
    if cfg.test_root:
        test = image_folder(cfg.test_root, num_classes=num_classes, transform=evaluation)
        if test.classes != everything.classes:
            raise ValueError(f"{cfg.test_root} has other class folders than {cfg.root}: both need the same "
                             f"class names (first differences: {sorted(set(test.classes) ^ set(everything.classes))[:3]})")
        test_labels = np.array([label for _, label in test.samples])
        splits["test"] = Split(LoaderData(test, test_labels), test_labels)
    train = files(train_rows, training, cfg.bad_images)
    return Data(train=LoaderData(train, labels[train_rows]), splits=splits, num_classes=num_classes,
                in_channels=3, threshold_split="val", report_split="test" if cfg.test_root else "val",
                raw={"classes": everything.classes}, files={"classes.txt": everything.classes})
