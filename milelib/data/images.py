"""Image files on disk, for the paper's real datasets and a practitioner's own single-labelled
folder: a class-per-folder tree (`root/<class>/<image>`), read with PIL, and the `image_folder`
data module that trains on such a folder through the DataLoader feed.

A truncated or corrupt file is never passed over silently: with `bad_images="fail"` it stops
the run with one line naming the file; with `bad_images="skip"` it is left out of its batch and
counted (the collate function returns the count, so it works inside DataLoader workers too).
"""
from __future__ import annotations

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
    """(path, label) samples read as float tensors [3, H, W] in [0, 1] (or through `transform`)."""

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
        x = torch.from_numpy(array).permute(2, 0, 1).float() / 255
        return (self.transform(x) if self.transform else x), label


NOT_DECODED = {"EPS", "MPEG"}  # Pillow names them, but decodes them only with outside tools, or never


def image_extensions() -> set[str]:
    """The file extensions of every format Pillow decodes by itself, lower case (.jpg, .png, .bmp,
    .tif, .webp, ...): not its stubs (HDF5, GRIB, BUFR, WMF), which only recognise a file."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items()
            if fmt in Image.OPEN and fmt not in NOT_DECODED and not _is_stub(Image.OPEN[fmt][0])}


def _is_stub(opener) -> bool:
    return isinstance(opener, type) and issubclass(opener, ImageFile.StubImageFile)  # JPEG's opener is a function


def image_folder(root, num_classes: int | None = None, **kwargs) -> ImageFiles:
    """Every image under root/<class>/, classes in sorted order; checks the layout first. Extensions
    count whatever their case; hidden files and folders (.DS_Store, macOS's ._ files) are skipped."""
    root = Path(root).expanduser()
    layout = "expected root/<class name>/<image files>, one folder per class"
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist: {layout} "
                                f"(data_prep/ has the scripts that make it for the paper's datasets)")
    extensions = image_extensions()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {name: sorted(p for p in (root / name).iterdir()
                          if p.suffix.lower() in extensions and not p.name.startswith(".") and p.is_file())
             for name in classes}
    if not any(files.values()):
        raise FileNotFoundError(f"data folder {root} holds no images: {layout}")
    empty = [name for name in classes if not files[name]]
    if empty:
        raise ValueError(f"class folder {root / empty[0]} holds no images ({len(empty)} such folder(s)), yet every "
                         f"folder counts as a class: add its images or remove it")
    if num_classes is not None and num_classes != len(classes):
        raise ValueError(f"{root} has {len(classes)} class folders but num_classes is {num_classes}: "
                         f"set num_classes to {len(classes)} or fix the folder")
    return ImageFiles([(path, label) for label, name in enumerate(classes) for path in files[name]], classes, **kwargs)


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


MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's models expect


def build(cfg: ImageFolderData) -> Data:
    """Train on most of `root`; a held-out slice of it, scored against its single labels, chooses
    each run's threshold (as for ImageNet, never the data reported); `test_root` is reported."""
    from torchvision.transforms import v2

    size = (cfg.image_size, cfg.image_size)
    evaluation = v2.Compose([v2.Resize(size, antialias=True), v2.Normalize(MEAN, STD)])
    training = v2.Compose([v2.Resize(size, antialias=True), *([v2.RandomHorizontalFlip()] if cfg.flip else []),
                           v2.Normalize(MEAN, STD)])
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
                raw={"classes": everything.classes})
