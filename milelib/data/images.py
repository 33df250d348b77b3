"""Image files on disk, for the paper's real datasets and a practitioner's own single-labelled
folder: a class-per-folder tree (`root/<class>/<image>`), read with PIL, and the `image_folder`
data module that trains on such a folder through the DataLoader feed.

A truncated or corrupt file is never passed over silently: with `bad_images="fail"` it stops
the run with one line naming the file; with `bad_images="skip"` it is left out of its batch and
counted (the collate function returns the count, so it works inside DataLoader workers too).
"""
from __future__ import annotations

import functools
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from ..config import added_later, check_choice, not_hashed
from ..notices import warn
from .decoders import PixelRangeError, check_decoder, decode
from .digits import stratified_split
from .feeds import Data, LoaderData, Split

BAD_IMAGES = ("fail", "skip")


class ImageFiles(torch.utils.data.Dataset):
    """(path, label) samples decoded by `decoder` (decoders.py) as uint8 tensors [3, H, W], passed
    through `transform` (crops, resizes and flips, still uint8: see `transforms`). Workers hand uint8
    over, a quarter of float32's bytes; LoaderData makes them floats and normalises them on the device."""

    def __init__(self, samples, classes, transform=None, bad_images: str = "fail", decoder: str = "pil"):
        check_choice("bad_images", bad_images, BAD_IMAGES)
        check_decoder(decoder)
        self.samples, self.classes, self.transform, self.bad_images = list(samples), list(classes), transform, bad_images
        self.decoder = decoder

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        try:
            x = _decode_named(path, self.decoder)
        except PixelRangeError:
            raise
        except FileNotFoundError:  # a change to the folder, not a bad image: never skipped
            raise FileNotFoundError(f"image {path} was removed after its folder was read, while this run used it: "
                                    f"put it back, or rerun (the folder is read again)") from None
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            if self.bad_images == "skip":
                return None
            bomb = isinstance(err, Image.DecompressionBombError)
            what = "too large to decode safely" if bomb else "truncated or corrupt"
            raise ValueError(f"image {path} is {what} ({str(err).splitlines()[0]}): remove it, "
                             f"or set bad_images='skip' to skip and count such files") from None
        return (self.transform(x) if self.transform else x), label


def _decode_named(path, decoder: str):
    """`decode`, with Pillow's warning about a very large image (which names no file) given again
    naming the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return decode(path, decoder)
        except Image.DecompressionBombWarning as large:
            warn(f"image {path} is very large ({str(large).split(',')[0]}): it is decoded all the same, which takes "
                 f"memory and time; shrink it, or remove it if it is no photo of the dataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return decode(path, decoder)


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
    (.ipynb_checkpoints) not classes, hidden files (.DS_Store, macOS ._ files) not images; its
    files found by `scan`, which refuses in one line what cannot be read (see there)."""
    from torchvision.datasets import ImageFolder

    class Folder(ImageFolder):
        @staticmethod
        def find_classes(directory):
            classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
            return classes, {name: i for i, name in enumerate(classes)}

        @staticmethod
        def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
            return scan(directory, class_to_idx)

    return Folder(str(root))


def scan(root: str, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """(path, class index) of every image file under root/<class>/, in torchvision's order (folders by
    path, then files by name). Written here because torchvision's walk follows folder links round
    cycles for ever and lists FIFOs, which then hang the reader. Refused in one line: a non-regular
    file, a folder link back into the scan, a name that is not UTF-8, and an empty class folder
    (it would shift every class index after it)."""
    folders = {os.path.join(root, name): label for name, label in sorted(class_to_idx.items())}
    seen = {}  # (device, inode) of each folder in the scan -> the path it was reached by
    for folder in [root, *folders]:
        _enter(folder, seen)
    samples, empty = [], []
    for folder, label in folders.items():
        paths = [path for _, files in _walk(folder, seen) for path in files]
        samples += [(path, label) for path in paths]
        empty += [] if paths else [folder]
    if empty:
        raise ValueError(f"class folder {empty[0]} holds no images ({len(empty)} such folder(s)), yet every folder "
                         f"counts as a class: add its images or remove it")
    return samples


def _walk(top: str, seen: dict) -> list[tuple[str, list[str]]]:
    """(folder, its image files) for `top` and every folder under it, links followed, sorted by folder."""
    found, folders = [], [top]
    for here in folders:  # grows as subfolders are found
        files = []
        for entry in sorted(os.scandir(here), key=lambda e: e.name):
            if _is_dir(entry):  # a link to a folder too
                _enter(entry.path, seen)
                folders.append(entry.path)
            elif _is_image(entry.name):
                _check_name(entry.path)
                if not entry.is_file():  # without a stat call for plain files
                    _refuse_non_file(entry.path)
                files.append(entry.path)
        found.append((here, files))
    return sorted(found)


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether a folder entry is a folder (a link to one too); a link that cannot be followed (one
    to itself, a loop of links) refused in one line."""
    try:
        return entry.is_dir()
    except OSError as err:
        target = os.readlink(entry.path) if entry.is_symlink() else "?"
        raise ValueError(f"symbolic link {entry.path} -> {target} cannot be followed ({err.strerror}: it leads to "
                         f"itself, or round a loop of links): remove it or point it at a file or folder") from None


def _enter(folder: str, seen: dict) -> None:
    """Adds a folder to the scan, refusing one reached twice: through a link to the root, a class folder or
    a folder already read (a cycle), or a folder that a link earlier in the scan led to."""
    _check_name(folder)
    status = os.stat(folder)
    key = (status.st_dev, status.st_ino)
    if key in seen:
        again = (f"symbolic link {folder} -> {os.path.realpath(folder)} leads to" if os.path.islink(folder)
                 else f"folder {folder} is also reached through a symbolic link, as")
        raise ValueError(f"{again} {seen[key]}, already in the scan: remove the link (a link to a folder is followed "
                         f"once, never round a cycle)")
    seen[key] = folder


def _check_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.listdir hands such bytes over as lone surrogates
        raise ValueError(f"file name {os.fsencode(path)!r} is not valid UTF-8: rename it (names are written to "
                         f"classes.txt, logs and tables as UTF-8)") from None


NOT_REGULAR = {"is_fifo": "a FIFO", "is_socket": "a socket", "is_char_device": "a character device",
               "is_block_device": "a block device"}


def _refuse_non_file(path: str):
    """Only regular files are read: opening a FIFO, for one, waits for a writer for ever."""
    file = Path(path)
    if not file.exists():
        raise ValueError(f"symbolic link {path} -> {os.readlink(path)} leads to nothing: remove it or fix its target")
    kind = next((what for test, what in NOT_REGULAR.items() if getattr(file, test)()), "not a file")
    raise ValueError(f"{path} is not a regular file ({kind}): remove it")


def image_folder(root, num_classes: int | None = None, **kwargs) -> ImageFiles:
    """Every image under root/<class>/ (see `class_folders`), read by ImageFiles; checks the layout first."""
    root = Path(root).expanduser()
    layout = "expected root/<class name>/<image files>, one folder per class"
    if root.is_file():
        raise NotADirectoryError(f"data folder {root} is a file, not a folder: {layout}; give the folder that holds "
                                 f"the class folders")
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist: {layout} "
                                f"(data_prep/ has the scripts that make it for the paper's datasets)")
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if not folders and (loose := sum(_is_image(p) and p.is_file() for p in root.iterdir())):
        raise FileNotFoundError(f"data folder {root} holds {loose} image files but no class folders: expected "
                                f"{root}/<class name>/<image files>; move the images into one folder per class")
    if not any(_is_image(p) for folder in folders for p in folder.iterdir()):
        raise FileNotFoundError(f"data folder {root} holds no images: {layout}")
    folder = class_folders(root)
    broken = [name for name in folder.classes if "\n" in name or "\r" in name]
    if broken:  # classes.txt holds one class per line
        raise ValueError(f"class folder {broken[0]!r} in {root} has a line break in its name: rename it (class names "
                         f"are written one per line, to classes.txt and the CSVs)")
    if num_classes is not None and num_classes != len(folder.classes):
        raise ValueError(f"{root} has {len(folder.classes)} class folders where {num_classes} are expected (one "
                         f"per class): add or remove class folders, or give the folder of the dataset asked for")
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
    # Cross-fitting (milelib relabel): with folds=K, the images of fold `fold` (a stratified K-fold
    # cut, seed 0) are left out of training and served as the split "heldout".
    folds: int = added_later(0)
    fold: int = added_later(0)
    content: str = added_later("")  # the folder's fingerprint (see `fingerprint`): a changed folder refuses
    exclude: tuple[str, ...] = added_later(())  # files (paths under root) left out: unreadable ones, under bad_images=skip
    decoder: str = not_hashed("pil")  # pil | torchvision (decoders.py): the same pixels, torchvision's faster

    def __post_init__(self):
        check_choice("bad_images", self.bad_images, BAD_IMAGES)
        check_decoder(self.decoder)
        if self.folds == 1 or self.folds < 0 or not 0 <= self.fold < max(self.folds, 1):
            raise ValueError(f"data.folds must be 0 (no cross-fitting) or >= 2 and data.fold in 0..folds-1, got "
                             f"folds {self.folds} and fold {self.fold}")
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
    everything = image_folder(cfg.root, bad_images=cfg.bad_images, decoder=cfg.decoder)
    if cfg.content and fingerprint(Path(cfg.root).expanduser(), everything.samples) != cfg.content:
        raise ValueError(f"{cfg.root} has changed (files added, removed or rewritten) since data.content "
                         f"{cfg.content} was taken: take its fingerprint again (milelib relabel does so itself)")
    root, excluded = Path(cfg.root).expanduser(), set(cfg.exclude)
    kept = [s for s in everything.samples if str(Path(s[0]).relative_to(root)) not in excluded]
    everything = ImageFiles(kept, everything.classes, decoder=cfg.decoder)
    labels = np.array([label for _, label in everything.samples])
    num_classes = len(everything.classes)
    heldout = np.zeros(len(labels), bool)
    if cfg.folds:
        heldout[folds_of(labels, cfg.folds, everything.classes) == cfg.fold] = True
    val_rows, train_rows = stratified_split(labels[~heldout], [cfg.val_fraction], np.random.default_rng(0))
    val_rows, train_rows = np.flatnonzero(~heldout)[val_rows], np.flatnonzero(~heldout)[train_rows]
    if len(val_rows) == 0 or len(train_rows) == 0:
        raise ValueError(f"{cfg.root} holds {len(labels)} images: too few to hold out data.val_fraction "
                         f"{cfg.val_fraction} of them for validation and train on the rest; add images or "
                         f"change data.val_fraction")

    def files(rows, transform, bad_images):
        return ImageFiles([everything.samples[r] for r in rows], everything.classes, transform, bad_images, cfg.decoder)

    splits = {"val": Split(LoaderData(files(val_rows, evaluation, "fail"), labels[val_rows]), labels[val_rows],
                           np.eye(num_classes, dtype=bool)[labels[val_rows]])}
    if cfg.folds:
        rows = np.flatnonzero(heldout)
        splits["heldout"] = Split(LoaderData(files(rows, evaluation, "fail"), labels[rows]), labels[rows])
    if cfg.test_root:
        test = image_folder(cfg.test_root, transform=evaluation, decoder=cfg.decoder)
        if test.classes != everything.classes:
            raise ValueError(f"data.test_root {cfg.test_root} has {len(test.classes)} class folders and data.root "
                             f"{cfg.root} {num_classes}, not the same: both need the same class folders (first "
                             f"differences: {sorted(set(test.classes) ^ set(everything.classes))[:3]})")
        test_labels = np.array([label for _, label in test.samples])
        splits["test"] = Split(LoaderData(test, test_labels), test_labels)
    train = files(train_rows, training, cfg.bad_images)
    return Data(train=LoaderData(train, labels[train_rows]), splits=splits, num_classes=num_classes,
                in_channels=3, threshold_split="val", report_split="test" if cfg.test_root else "val",
                raw={"classes": everything.classes}, files={"classes.txt": everything.classes})


def fingerprint(root, samples) -> str:
    """What a folder holds, in 16 hex digits: every image's path under root, size and bytes (not its
    modification time: a copy keeps the fingerprint, and bytes changed with the size and time kept
    change it). Measured on 2 shared cores: 0.3 s for 1,000 small PNGs, 9 s for 100,000 (470 MB), about
    three times the stat-based one (benchmarks/fingerprint.py)."""
    digest = hashlib.sha256()
    for path, _ in samples:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise FileNotFoundError(f"image {path} cannot be read ({err.strerror}) while the folder's content was "
                                    f"being read: the folder changed; rerun once it no longer changes") from None
        digest.update(f"{Path(path).relative_to(root)}\0{len(data)}\0".encode(errors="replace"))
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def folds_of(labels: np.ndarray, folds: int, classes) -> np.ndarray:
    """Each image's fold, 0..folds-1: scikit-learn's stratified K-fold cut, shuffled with seed 0."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < folds:
        small = int(np.argmin(counts))
        raise ValueError(f"class {classes[small]!r} holds {counts[small]} images, fewer than the {folds} folds: every "
                         f"fold's model must see each class; add images to it or use fewer folds (--folds)")
    fold = np.empty(len(labels), np.int64)
    for k, (_, rows) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=0).split(labels, labels)):
        fold[rows] = k
    return fold
