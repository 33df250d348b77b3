"""ImageNet (ILSVRC-2012) with its ReaL labels, for Table 1: the `imagenet` data module.

Layout (data_prep/imagenet.py checks it): `root/train/<wnid>/*.JPEG` and `root/val/<wnid>/
ILSVRC2012_val_<8 digits>.JPEG`, read through torchvision's ImageFolder (classes in sorted wnid
order, index 0-999), and `root/real.json` (Beyer et al.): 50,000 lists of class indices, one per
validation image in file-name order. An image whose list is empty is left out of every ReaL metric
(metrics.py), never out of accuracy.

Training fractions (1%, 5%, 10%) are a seeded per-class draw, or SimCLR's subset files (one
`wnid_id.JPEG` per line). A run writes the file names it trained on beside itself
(`train_files.txt`, in the subset-file format) so a fraction can be repeated exactly. F1@best
thresholds are chosen on `holdout_per_class` training images per class (never in the training
fraction), scored against their single label; never on ReaL.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import added_later, check_choice, not_hashed
from ..notices import warn
from .feeds import Data, LoaderData, Split, without_labels
from .decoders import check_decoder
from .images import BAD_IMAGES, ImageFiles, class_folders, transforms

REAL_ENTRIES = 50_000  # ImageNet's validation images, hence ReaL's lists
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.")


@dataclass
class ImageNetData:
    """Settings of the `imagenet` data module."""
    name: str = "imagenet"
    root: str = ""                  # root/train/<wnid>/, root/val/<wnid>/, root/real.json
    real: str | None = "real.json"  # ReaL labels, relative to root (or absolute); None: accuracy only
    fraction: float = 1.0           # share of the training images: a seeded per-class draw
    subset: str | None = None       # SimCLR's subset file (e.g. 1percent.txt); replaces fraction
    holdout_per_class: int = 10     # training images per class that choose thresholds, never trained on
    image_size: int = 224           # RandomResizedCrop while training; centre crop in evaluation
    resize: int = 256               # evaluation images are resized to this, then centre-cropped
    bad_images: str = "fail"        # fail | skip (and count) unreadable training images
    unlabelled: bool = added_later(False)  # serve every training image but the holdout without its label
                                           # too (semi-supervised: the fraction's and the rest)
    decoder: str = not_hashed("pil")  # pil | torchvision (decoders.py): the same pixels, torchvision's faster

    def __post_init__(self):
        check_choice("bad_images", self.bad_images, BAD_IMAGES)
        check_decoder(self.decoder)
        if not str(self.root).strip():
            raise ValueError("data.root is empty: the imagenet dataset reads root/train/<wnid>/ and root/val/<wnid>/; "
                             "give that folder (DATA_ROOT in a notebook, MILELIB_DATA in the shell)")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"data.fraction must lie in (0, 1], got {self.fraction}")
        if self.holdout_per_class < 1 or self.image_size < 1 or self.resize < self.image_size:
            raise ValueError(f"data.holdout_per_class and data.image_size must be >= 1 and data.resize >= "
                             f"data.image_size, got {self.holdout_per_class}, {self.image_size}, {self.resize}")


def read_real(path, num_classes: int) -> list[list[int]]:
    """ReaL's labels: 50,000 lists of class indices; a file of another length or with an index
    outside the classes is refused in one line naming the entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ReaL labels {path} not found: download real.json from "
                                f"github.com/google-research/reassessed-imagenet, or set data.real=None")
    try:
        real = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): download real.json again") from None
    if not isinstance(real, list) or len(real) != REAL_ENTRIES:
        size = len(real) if isinstance(real, list) else type(real).__name__
        raise ValueError(f"{path} holds {size} entries; ReaL has {REAL_ENTRIES:,}, one list per ImageNet validation "
                         f"image in file-name order: is it the right file, and whole?")
    for i, labels in enumerate(real):
        if not isinstance(labels, list) or any(not _class_index(c, num_classes) for c in labels):
            bools = isinstance(labels, list) and any(isinstance(c, bool) for c in labels)
            raise ValueError(f"{path} entry {i} (ILSVRC2012_val_{i + 1:08d}) is {json.dumps(labels)}: expected a list "
                             f"of class indices in 0..{num_classes - 1}{' (numbers, not true/false)' if bools else ''}")
    if not any(real):
        warn(f"{path} holds {REAL_ENTRIES:,} empty lists: no validation image has a ReaL label, so every ReaL metric "
             f"is undefined (null in result.json); download real.json again, or set data.real=None")
    return real


def _class_index(c, num_classes: int) -> bool:
    return isinstance(c, int) and not isinstance(c, bool) and 0 <= c < num_classes  # true is an int to Python


def real_sets(paths, real: list[list[int]], num_classes: int) -> np.ndarray:
    """bool [images, classes]: each validation image's ReaL set, matched by its file-name number."""
    sets = np.zeros((len(paths), num_classes), dtype=bool)
    for row, path in enumerate(paths):
        found = VAL_NAME.search(Path(path).name)
        number = int(found.group(1)) if found else 0
        if not 1 <= number <= len(real):
            raise ValueError(f"validation image {path} is not named ILSVRC2012_val_<number 1..{len(real)}>.JPEG: "
                             f"ReaL labels are matched by that number; keep ImageNet's file names")
        sets[row, real[number - 1]] = True
    return sets


def per_class_draw(labels: np.ndarray, rows: np.ndarray, per_class: int | None, fraction: float | None,
                   rng) -> np.ndarray:
    """Rows drawn from `rows` class by class: `per_class` of each (all but one at most), or
    `fraction` of each (at least one); returned sorted."""
    drawn = []
    for c in np.unique(labels[rows]):
        mine = rng.permutation(rows[labels[rows] == c])
        k = min(per_class, len(mine) - 1) if per_class is not None else max(1, round(fraction * len(mine)))
        drawn.append(mine[:k])
    return np.sort(np.concatenate(drawn)) if drawn else np.zeros(0, np.int64)


def read_subset(path, names: list[str]) -> np.ndarray:
    """The rows of the training images a SimCLR subset file names (one `wnid_id.JPEG` per line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"subset file {path} not found: SimCLR's 1percent.txt / 10percent.txt, one "
                                f"wnid_id.JPEG per line (data_prep/imagenet.py writes such files)")
    text = path.read_text(encoding="utf-8-sig")  # a byte order mark is no part of the first name
    wanted = [line.strip() for line in text.splitlines() if line.strip()]
    row_of = {name: row for row, name in enumerate(names)}
    missing = [name for name in wanted if name not in row_of]
    if missing or not wanted:
        raise ValueError(f"subset file {path} names {len(missing)} image(s) not in the training folder (first: "
                         f"{missing[0] if missing else 'none: it is empty'}): use the file made for this copy of ImageNet")
    return np.sort(np.array([row_of[name] for name in wanted]))


def build(cfg: ImageNetData) -> Data:
    root = Path(cfg.root).expanduser()
    train_all, val = class_folders(_folder(root, "train")), class_folders(_folder(root, "val"))
    if val.classes != train_all.classes:
        raise ValueError(f"{root}/val has other class folders than {root}/train (first differences: "
                         f"{sorted(set(val.classes) ^ set(train_all.classes))[:3]}): both need the same wnid folders")
    num_classes = len(train_all.classes)
    labels = np.array(train_all.targets)
    names = [Path(p).name for p, _ in train_all.samples]
    rng = np.random.default_rng(1000)  # the data are fixed whatever the run's seed
    every = np.arange(len(labels))
    chosen = read_subset(_under(root, cfg.subset), names) if cfg.subset else None
    holdout = per_class_draw(labels, np.setdiff1d(every, chosen) if chosen is not None else every,
                             cfg.holdout_per_class, None, rng)
    if chosen is not None:
        train_rows = np.setdiff1d(chosen, holdout)
    else:
        rest = np.setdiff1d(every, holdout)
        train_rows = rest if cfg.fraction >= 1 else per_class_draw(labels, rest, None, cfg.fraction, rng)

    evaluation = transforms(False, cfg.image_size, cfg.resize)
    training = transforms(True, cfg.image_size)

    def files(rows, transform, bad):
        return ImageFiles([train_all.samples[r] for r in rows], train_all.classes, transform, bad, cfg.decoder)

    val_labels = np.array(val.targets)
    val_files = ImageFiles(val.samples, val.classes, evaluation, decoder=cfg.decoder)
    val_sets = None
    if cfg.real:
        val_sets = real_sets([p for p, _ in val.samples], read_real(_under(root, cfg.real), num_classes), num_classes)
    splits = {"val": Split(LoaderData(val_files, val_labels), val_labels, val_sets),
              "holdout": Split(LoaderData(files(holdout, evaluation, "fail"), labels[holdout]), labels[holdout],
                               np.eye(num_classes, dtype=bool)[labels[holdout]])}
    unlabelled = None
    if cfg.unlabelled:
        rest = np.setdiff1d(every, holdout)
        unlabelled = without_labels(LoaderData(files(rest, training, cfg.bad_images), labels[rest]))
    return Data(train=LoaderData(files(train_rows, training, cfg.bad_images), labels[train_rows]), splits=splits,
                num_classes=num_classes, in_channels=3, threshold_split="holdout", report_split="val",
                raw={"classes": train_all.classes}, files={"train_files.txt": [names[r] for r in train_rows]},
                unlabelled=unlabelled)


def _folder(root: Path, name: str) -> Path:
    if not (root / name).is_dir():
        raise FileNotFoundError(f"{root / name} not found: the imagenet dataset reads root/train/<wnid>/ and "
                                f"root/val/<wnid>/ (python data_prep/imagenet.py {root} checks a download and says what is missing)")
    return root / name


def _under(root: Path, path: str) -> Path:
    return Path(path).expanduser() if Path(path).expanduser().is_absolute() else root / path
