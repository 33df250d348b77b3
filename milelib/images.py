"""Image files on disk, for the paper's real datasets and a practitioner's own single-labelled
folder: a class-per-folder tree (`root/<class>/<image>`), read with PIL.

A truncated or corrupt file is never passed over silently: with `bad_images="fail"` it stops
the run with one line naming the file; with `bad_images="skip"` it is left out of its batch and
counted (the collate function returns the count, so it works inside DataLoader workers too).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .config import check_choice

BAD_IMAGES = ("fail", "skip")
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".JPEG", ".JPG", ".PNG")


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


def collate_skipping(batch):
    """Stack a batch, leaving out unreadable images: returns (images, labels, number skipped)."""
    kept = [item for item in batch if item is not None]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long), len(batch)
    images, labels = zip(*kept)
    return torch.stack(images), torch.as_tensor(labels), len(batch) - len(kept)


def image_folder(root, num_classes: int | None = None, **kwargs) -> ImageFiles:
    """Every image under root/<class>/, classes in sorted order; checks the layout first."""
    root = Path(root)
    layout = "expected root/<class name>/<image files>, one folder per class"
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist: {layout} "
                                f"(data_prep/ has the scripts that make it for the paper's datasets)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    samples = [(path, label) for label, name in enumerate(classes)
               for path in sorted((root / name).iterdir()) if path.suffix in EXTENSIONS]
    if not samples:
        raise FileNotFoundError(f"data folder {root} holds no images: {layout}")
    if num_classes is not None and num_classes != len(classes):
        raise ValueError(f"{root} has {len(classes)} class folders but num_classes is {num_classes}: "
                         f"set num_classes to {len(classes)} or fix the folder")
    return ImageFiles(samples, classes, **kwargs)
