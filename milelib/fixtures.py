"""Small trees of real JPEG files in the layouts of the paper's datasets, generated on the spot: the
tests run every loader and the notebooks' paper path on them, the loader benchmark times them, and
a user can dry-run the paper path before downloading anything (`milelib.fixtures.imagenet(path)`).

Each class's images share a colour, so a model can learn them; nothing here is real data.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from .data.imagenet import REAL_ENTRIES


def jpeg(path: Path, colour, rng, size=(48, 40)) -> None:
    """A real JPEG file: a colour plus noise, `size` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.asarray(colour) + rng.normal(0, 30, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def colours(num_classes: int, rng) -> np.ndarray:
    return rng.integers(20, 236, (num_classes, 3))


def imagenet(root, num_classes: int = 3, train_per_class: int = 12, val_per_class: int = 3, size=(48, 40),
             seed: int = 0) -> Path:
    """root/train/<wnid>/<wnid>_<i>.JPEG, root/val/<wnid>/ILSVRC2012_val_<n>.JPEG (numbered
    across classes as ImageNet's are), root/real.json (50,000 lists: each fixture val image's own
    class plus, for every third, the next class; the others empty) and SimCLR-style subset files
    root/subsets/1image.txt (one training image per class) and 50percent.txt."""
    root, rng = Path(root), np.random.default_rng(seed)
    wnids = [f"n{1440764 + 1000 * c:08d}" for c in range(num_classes)]
    tint = colours(num_classes, rng)
    real: list[list[int]] = [[] for _ in range(REAL_ENTRIES)]
    number, half, one = 0, [], []
    for c, wnid in enumerate(wnids):
        for i in range(train_per_class):
            name = f"{wnid}_{1000 + i}.JPEG"
            jpeg(root / "train" / wnid / name, tint[c], rng, size)
            if i % 2 == 0:
                half.append(name)
            if i == 0:
                one.append(name)
        for _ in range(val_per_class):
            number += 1
            jpeg(root / "val" / wnid / f"ILSVRC2012_val_{number:08d}.JPEG", tint[c], rng, size)
            real[number - 1] = [c] + ([(c + 1) % num_classes] if number % 3 == 0 else [])
    (root / "real.json").write_text(json.dumps(real))
    (root / "subsets").mkdir(exist_ok=True)
    (root / "subsets" / "1image.txt").write_text("\n".join(one) + "\n")
    (root / "subsets" / "50percent.txt").write_text("\n".join(half) + "\n")
    return root


def webvision(root, num_classes: int = 3, google_per_class: int = 8, flickr_per_class: int = 4,
              val_per_class: int = 3, size=(48, 40), seed: int = 1, imbalance: bool = True) -> Path:
    """WebVision 1.0's layout: root/info/{train_filelist_google,train_filelist_flickr,val_filelist,
    synsets}.txt, images under root/google/q<NNNN>/, root/flickr/q<NNNN>/, root/val_images_256/.
    With `imbalance`, class c has c+1 times fewer Google images than class 0 (at least 2)."""
    root, rng = Path(root), np.random.default_rng(seed)
    tint = colours(num_classes, rng)
    lists: dict[str, list[str]] = {"google": [], "flickr": [], "val": []}
    for c in range(num_classes):
        google = max(2, google_per_class // (c + 1)) if imbalance else google_per_class
        for source, count in (("google", google), ("flickr", flickr_per_class)):
            for i in range(count):
                rel = f"{source}/q{c + 1:04d}/{i:08d}.jpg"
                jpeg(root / rel, tint[c], rng, size)
                lists[source].append(f"{rel} {c}")
        for i in range(val_per_class):
            name = f"val{c * val_per_class + i + 1:06d}.jpg"
            jpeg(root / "val_images_256" / name, tint[c], rng, size)
            lists["val"].append(f"{name} {c}")
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    for source in ("google", "flickr"):
        (info / f"train_filelist_{source}.txt").write_text("\n".join(lists[source]) + "\n")
    (info / "val_filelist.txt").write_text("\n".join(lists["val"]) + "\n")
    (info / "synsets.txt").write_text("".join(f"n{1440764 + 1000 * c:08d} class {c}\n" for c in range(num_classes)))
    return root


def image_folder(root, num_classes: int = 3, per_class: int = 10, size=(48, 40), seed: int = 2) -> Path:
    """A practitioner's single-labelled folder: root/<class name>/<i>.jpg."""
    root, rng = Path(root), np.random.default_rng(seed)
    tint = colours(num_classes, rng)
    for c in range(num_classes):
        for i in range(per_class):
            jpeg(root / f"class_{c}" / f"{i:03d}.jpg", tint[c], rng, size)
    return root


def digit_grid_folder(root, n: int = 600, seed: int = 0, digit_size: int = 28) -> tuple[Path, np.ndarray]:
    """A single-labelled folder whose every image's full label set is known: 3x3 grids holding 2 or 3
    of the embedded MNIST digits (real handwriting), each filed as root/digit_<c>/<i>.png under one
    of its digits (the centre's with probability 0.6). Returns the root and the true sets, bool
    [n, 10] in the order of the files' sorted relative paths (the order relabel's CSV lists them)."""
    from .data.digits import load_digits
    from .data.grids import make_grids

    root = Path(root)
    digits = load_digits()["all"]
    if digit_size != 28:
        digits = type(digits)(digits.images[:, ::28 // digit_size, ::28 // digit_size].copy(), digits.labels)
    grids = make_grids(digits, n, seed, filled_cells=(2, 3))
    paths = [f"digit_{label}/{i:05d}.png" for i, label in enumerate(grids.labels)]
    for path, image in zip(paths, grids.images):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / path)
    return root, grids.true_sets[np.argsort(paths)]


def ssl_checkpoints(root, names: dict[str, str]) -> dict[str, Path]:
    """A freshly initialised torchvision ResNet-50 saved in self-supervised layouts, each at
    root/<names[layout]>: "moco" (MoCo v2: module.encoder_q., its MLP head, the momentum encoder
    and queue) and "simclr" (SimCLR v2 as Separius/SimCLRv2-Pytorch converts it: {"resnet",
    "head"}, its own key names). Real shapes: they load into ResNet-50 (about 100 MB each)."""
    import torch
    import torchvision

    from .pretrained import _BLOCK

    with torch.random.fork_rng():  # seeded: an unlucky draw made a student's loss NaN at step 1, 1 run in 4
        torch.manual_seed(0)
        state = torchvision.models.resnet50().state_dict()
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    back = {v: k for k, v in _BLOCK.items()}  # torchvision's module name -> the converter's

    def separius(key):
        top, *rest = key.split(".")
        if top in ("conv1", "bn1"):
            return {"conv1": "net.0.0.", "bn1": "net.0.1.0."}[top] + rest[-1]
        if top.startswith("layer"):
            return f"net.{top[5:]}.blocks.{rest[0]}.{back['.'.join(rest[1:-1])]}.{rest[-1]}"
        return key

    small = torch.zeros(2, 2)
    contents = {"moco": {"state_dict": {**{f"module.encoder_q.{k}": v for k, v in body.items()},
                                        "module.encoder_q.fc.0.weight": small, "module.encoder_k.conv1.weight": small,
                                        "module.queue": small}, "arch": "resnet50"},
                "simclr": {"resnet": {separius(k): v for k, v in state.items()}, "head": {"layers.0.weight": small}}}
    out = {}
    for layout, name in names.items():
        out[layout] = Path(root) / name
        out[layout].parent.mkdir(parents=True, exist_ok=True)
        torch.save(contents[layout], out[layout])
    return out
