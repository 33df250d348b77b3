"""WebVision 1.0 (Li et al., 2017), for Table 2: the `webvision` data module.

Read from its file lists, each line `path label`: `root/info/train_filelist_google.txt` and
`..._flickr.txt` (paths relative to root), `root/info/val_filelist.txt` (names under
`root/val_images_256/`, or `root/val_images/`). mini-WebVision: the first 50 classes, Google images
only. WebVision has no multi-label truth: its splits are scored by top-1 and top-5 accuracy, on
WebVision val and, given `imagenet_root`, on the ImageNet val images of the same classes (WebVision
queried ImageNet's 1,000 synsets; label i is the i-th wnid in sorted order).

Class rebalancing as MoPro does (Li et al., ICLR 2021, whose loader the paper follows): class c
weighs w_c = int(10 p_c / min p) with p_c proportional to n_c^-0.5; MoPro repeats each image w_c
times and keeps N of the shuffled list per epoch; here each epoch draws N rows with probabilities
proportional to their class's w_c (with replacement: the same expected counts, and a pure function
of (seed, epoch), so resume stays exact).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import check_choice, hashed_as, not_hashed
from ..notices import warn
from .decoders import check_decoder
from .feeds import Data, LoaderData, Split
from .images import ImageFiles, class_folders, transforms

MINI_CLASSES = 50
VAL_FOLDERS = ("val_images_256", "val_images")
BAD_CHOICES = ("replace", "fail")
REPLACE_TRIES = 100  # unreadable images in a row before a run stops: a folder gone, not a few bad files


class ReplacingFiles(ImageFiles):
    """Training images whose unreadable ones (WebVision's 2.4M crawled files hold some) are each
    replaced by the next readable image of the list, with its label, drawn with the augmentation seed
    of the unreadable one's place. A batch keeps its size on every process (ELR's and LL's `gather`
    needs equal shares) and stays a pure function of (seed, step), so a resume is exact; `fail` would
    stop a run at the same step on every resume, and skipping would leave batches of chance sizes.
    On readable data it gives `fail`'s batches, hence `bad_images` is hashed as "fail". The row (a
    per-image state's index) stays the unreadable image's: its state follows its one replacement.
    Each replacement is named in a warning, by the process that read it (a loader worker's too)."""

    def __init__(self, samples, classes, transform=None, decoder: str = "pil"):
        super().__init__(samples, classes, transform, "skip", decoder)

    def __getitem__(self, i):
        for k in range(min(len(self), REPLACE_TRIES)):
            sample = super().__getitem__((i + k) % len(self))
            if sample is not None:
                if k:
                    warn(f"training image {self.samples[i][0]} is unreadable: replaced by "
                         f"{self.samples[(i + k) % len(self)][0]}, the next readable one of its list "
                         f"(data.bad_images=replace; remove it from the list to train without it)")
                return sample
        raise ValueError(f"training image {self.samples[i][0]} and the {REPLACE_TRIES - 1} after it in its list are "
                         f"unreadable: is the image folder whole? (python data_prep/webvision.py ROOT checks it)")


@dataclass
class WebVisionData:
    """Settings of the `webvision` data module."""
    name: str = "webvision"
    root: str = ""                  # root/info/*.txt, root/google/, root/flickr/, root/val_images_256/
    mini: bool = False              # mini-WebVision: the first 50 classes, Google images only
    imagenet_root: str | None = None  # ImageNet's root (with val/<wnid>/): also report ImageNet val
    rebalance: bool = True          # MoPro's class rebalancing of the training order
    image_size: int = 224
    resize: int = 256
    bad_images: str = hashed_as("replace", "fail")  # replace (ReplacingFiles) | fail: what an unreadable training
                                    # image does; on readable images both give the same run, hence one hash
    decoder: str = not_hashed("pil")  # pil | torchvision (decoders.py): the same pixels, torchvision's faster

    def __post_init__(self):
        if self.bad_images == "skip":
            raise ValueError("data.bad_images='skip' is not WebVision's: skipped images leave the processes of a "
                             "run with batches of unequal sizes (their per-image state cannot be gathered) and the "
                             "batch's size to chance; use 'replace' (each unreadable image replaced by the next "
                             "readable one of its list, and named) or 'fail'")
        check_choice("bad_images", self.bad_images, BAD_CHOICES)
        check_decoder(self.decoder)
        if not str(self.root).strip():
            raise ValueError("data.root is empty: the webvision dataset reads root/info/train_filelist_google.txt "
                             "and the images beside it; give that folder (DATA_ROOT in a notebook)")
        if self.image_size < 1 or self.resize < self.image_size:
            raise ValueError(f"data.image_size must be >= 1 and data.resize >= data.image_size, got "
                             f"{self.image_size} and {self.resize}")


def read_filelist(path, folder: Path) -> list[tuple[str, int]]:
    """[(image path under `folder`, label)] from a file of `path label` lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WebVision file list {path} not found (python data_prep/webvision.py ROOT checks "
                                f"a download and says what is missing)")
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):  # a BOM is no path
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"{path} line {number} is {line!r}: expected 'path label', the label a class index")
        samples.append((str(folder / parts[0]), int(parts[1])))
    return samples


def check_classes(train: list[tuple[str, int]], val: list[tuple[str, int]], info: Path, mini: bool) -> int:
    """The class count (mini: the first 50 classes, each of which needs Google images); one line when
    a val image's class has no training images (it would be scored, but could never be learnt) rather
    than dropping or keeping it without a word."""
    names = "train_filelist_google.txt" + ("" if mini else ", train_filelist_flickr.txt")
    lists = f"the train lists ({names} in {info})"
    held = {y for _, y in train}
    if not held:
        raise ValueError(f"{lists} name no images: is the download whole? (python data_prep/webvision.py ROOT "
                         f"checks it)")
    if mini and not set(range(MINI_CLASSES)) <= held:
        lacking = sorted(set(range(MINI_CLASSES)) - held)
        raise ValueError(f"data.mini takes WebVision's first {MINI_CLASSES} classes, but {lists} have images of "
                         f"{MINI_CLASSES - len(lacking)} of them (first missing: label {lacking[0]}): set "
                         f"data.mini=false for a tree of fewer classes, or give the full WebVision root")
    unknown = [(p, y) for p, y in val if y not in held]
    if unknown:
        raise ValueError(f"{info}/val_filelist.txt has {len(unknown)} of {len(val)} images of classes with no training "
                         f"images (first: {Path(unknown[0][0]).name}, label {unknown[0][1]}; {lists} hold "
                         f"{len(held)} classes, labels {min(held)}..{max(held)}): fix the lists, or remove those lines")
    return MINI_CLASSES if mini else 1 + max(held)


def rebalancing_weights(labels: np.ndarray) -> np.ndarray:
    """Per image: its class's MoPro weight int(10 p_c / min p), p_c proportional to n_c^-0.5."""
    classes, counts = np.unique(labels, return_counts=True)
    p = counts ** -0.5 / (counts ** -0.5).sum()
    weight = dict(zip(classes.tolist(), (10 * p / p.min()).astype(int).tolist()))
    return np.array([weight[c] for c in labels.tolist()], dtype=float)


def build(cfg: WebVisionData) -> Data:
    root = Path(cfg.root).expanduser()
    info = root / "info"
    train = read_filelist(info / "train_filelist_google.txt", root)
    if not cfg.mini:
        train += read_filelist(info / "train_filelist_flickr.txt", root)
    val_folder = next((root / f for f in VAL_FOLDERS if (root / f).is_dir()), root / VAL_FOLDERS[0])
    val = read_filelist(info / "val_filelist.txt", val_folder)
    if not val_folder.is_dir():
        raise FileNotFoundError(f"{val_folder} not found: WebVision's validation images go in one of "
                                f"{', '.join(VAL_FOLDERS)} under {root}")
    num_classes = check_classes(train, val, info, cfg.mini)
    train = [(p, y) for p, y in train if y < num_classes]
    val = [(p, y) for p, y in val if y < num_classes]
    if not val:  # it would train, then report accuracy NaN on 0 images
        raise ValueError(f"{info}/val_filelist.txt names no validation images of the {num_classes} classes trained: "
                         f"is the download whole? (python data_prep/webvision.py ROOT checks it)")
    missing = [p for p, _ in val if not os.path.isfile(p)]  # checked now, not after the last training step
    if missing:
        raise FileNotFoundError(f"{len(missing)} of the {len(val)} validation images that {info}/val_filelist.txt "
                                f"names are missing (first: {missing[0]}): is the download whole? (python "
                                f"data_prep/webvision.py ROOT checks it)")
    labels, val_labels = np.array([y for _, y in train]), np.array([y for _, y in val])
    names = [str(c) for c in range(num_classes)]
    evaluation = transforms(False, cfg.image_size, cfg.resize)
    splits = {"val": Split(LoaderData(ImageFiles(val, names, evaluation, decoder=cfg.decoder), val_labels), val_labels)}
    if cfg.imagenet_root:
        imagenet = imagenet_val(Path(cfg.imagenet_root).expanduser(), root, num_classes)
        imagenet_labels = np.array([y for _, y in imagenet])
        imagenet_files = ImageFiles(imagenet, names, evaluation, decoder=cfg.decoder)
        splits["imagenet"] = Split(LoaderData(imagenet_files, imagenet_labels), imagenet_labels)
    weights = rebalancing_weights(labels) if cfg.rebalance else None
    training = transforms(True, cfg.image_size)
    files = (ReplacingFiles(train, names, training, cfg.decoder) if cfg.bad_images == "replace" else
             ImageFiles(train, names, training, cfg.bad_images, cfg.decoder))
    return Data(train=LoaderData(files, labels, weights=weights), splits=splits, num_classes=num_classes,
                in_channels=3, threshold_split=None, report_split="val", raw={"classes": names})


def imagenet_val(imagenet_root: Path, root: Path, num_classes: int) -> list[tuple[str, int]]:
    """ImageNet's val images of WebVision's first `num_classes` classes; the wnids are checked
    against WebVision's info/synsets.txt when it is there."""
    val = class_folders(imagenet_root / "val") if (imagenet_root / "val").is_dir() else None
    if val is None:
        raise FileNotFoundError(f"{imagenet_root / 'val'} not found: data.imagenet_root is ImageNet's root, "
                                f"holding val/<wnid>/ folders")
    synsets = root / "info" / "synsets.txt"
    if synsets.is_file():
        wnids = [line.split()[0] for line in synsets.read_text(encoding="utf-8-sig").splitlines()
                 if line.strip()][:num_classes]
        if wnids != val.classes[:num_classes]:
            raise ValueError(f"{synsets} and {imagenet_root / 'val'} order their classes differently (first: "
                             f"{wnids[:1]} vs {val.classes[:1]}): WebVision's label i must be ImageNet's i-th wnid")
    return [(p, y) for p, y in val.samples if y < num_classes]
