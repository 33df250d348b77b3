"""Check a downloaded ImageNet (ILSVRC-2012) and its ReaL labels, and write the training-fraction lists.

    python data_prep/imagenet.py /data/imagenet                 # check; say exactly what is missing
    python data_prep/imagenet.py /data/imagenet --extract       # unpack the archives first (torchvision)
    python data_prep/imagenet.py /data/imagenet --fractions 0.01 0.05 0.1   # and write subsets/*.txt

milelib reads ROOT/train/<wnid>/*.JPEG, ROOT/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG and
ROOT/real.json (github.com/google-research/reassessed-imagenet). With the three archives
(ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar, ILSVRC2012_devkit_t12.tar.gz) in ROOT,
`--extract` unpacks them into that layout through torchvision's ImageNet dataset. `--fractions`
writes ROOT/subsets/<p>percent.txt: the training images the loader draws at that fraction, one
`wnid_id.JPEG` per line (SimCLR's subset format: `data.subset` reads them back). Idempotent: a
file that would not change is left alone. Exit status 1 when anything is missing or wrong.
"""
import argparse
import sys
from pathlib import Path

TRAIN_IMAGES, VAL_IMAGES, CLASSES = 1_281_167, 50_000, 1_000
ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz")


def check(root: Path, real: str, expect_full: bool) -> list[str]:
    """Problems found, one line each; empty when the tree is what milelib reads."""
    from milelib.data.imagenet import read_real, real_sets
    from milelib.data.images import class_folders

    problems, folders = [], {}
    for split in ("train", "val"):
        if not (root / split).is_dir():
            archives = [a for a in ARCHIVES if (root / a).is_file()]
            hint = "run again with --extract" if len(archives) == 3 else f"missing archives: {', '.join(a for a in ARCHIVES if a not in archives)}"
            problems.append(f"{root / split} is missing ({hint})")
            continue
        try:
            folders[split] = class_folders(root / split)
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
    for split, expected in (("train", TRAIN_IMAGES), ("val", VAL_IMAGES)):
        if split in folders:
            found = folders[split]
            print(f"{split}: {len(found.samples):,} images in {len(found.classes)} class folders")
            if expect_full and (len(found.samples), len(found.classes)) != (expected, CLASSES):
                problems.append(f"{root / split} holds {len(found.samples):,} images in {len(found.classes)} folders; "
                                f"ILSVRC-2012 has {expected:,} in {CLASSES} (pass --partial for a subset)")
    if len(folders) == 2 and folders["train"].classes != folders["val"].classes:
        problems.append(f"train and val have other class folders (first differences: "
                        f"{sorted(set(folders['train'].classes) ^ set(folders['val'].classes))[:3]})")
    real_path = Path(real) if Path(real).is_absolute() else root / real
    try:
        labels = read_real(real_path, len(folders["train"].classes) if "train" in folders else CLASSES)
        if "val" in folders:
            sets = real_sets([p for p, _ in folders["val"].samples], labels, len(folders["val"].classes))
            print(f"ReaL: {int(sets.any(axis=1).sum()):,} of {len(sets):,} val images labelled, "
                  f"{sets.sum() / max(1, sets.any(axis=1).sum()):.2f} labels per labelled image")
    except (ValueError, FileNotFoundError) as err:
        problems.append(str(err))
    return problems


def write_fractions(root: Path, fractions, real: str) -> None:
    from milelib.config import RunConfig
    from milelib.data import build
    from milelib.store import write_lines

    for fraction in fractions:
        cfg = RunConfig().override({"data": "imagenet", "data.root": str(root), "data.real": real,
                                    "data.fraction": fraction})
        lines = build(cfg.data).files["train_files.txt"]
        path = root / "subsets" / f"{100 * fraction:g}percent.txt"
        text = "".join(f"{line}\n" for line in lines)
        if path.is_file() and path.read_text() == text:
            print(f"{path}: unchanged ({len(lines):,} images)")
            continue
        path.parent.mkdir(exist_ok=True)
        write_lines(path, lines)
        print(f"{path}: wrote {len(lines):,} images (set data.subset={path.relative_to(root)} to train on exactly these)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the folder holding train/, val/ and real.json (or the archives)")
    parser.add_argument("--real", default="real.json", help="ReaL's file, relative to ROOT or absolute")
    parser.add_argument("--extract", action="store_true", help="unpack the ILSVRC-2012 archives in ROOT first")
    parser.add_argument("--fractions", nargs="*", type=float, default=[], help="write subsets/<p>percent.txt")
    parser.add_argument("--partial", action="store_true", help="accept fewer images than ILSVRC-2012 (a subset)")
    args = parser.parse_args(argv)
    root = args.root.expanduser()
    if args.extract:
        from torchvision.datasets import ImageNet  # unpacks the archives into wnid folders

        for split in ("train", "val"):
            if not (root / split).is_dir():
                ImageNet(str(root), split=split)
    problems = check(root, args.real, expect_full=not args.partial)
    if problems:
        print(f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 1
    try:
        write_fractions(root, args.fractions, args.real)
    except FileExistsError as err:  # a subset file of the user's (or SimCLR's) under that name: never replaced
        print(err, file=sys.stderr)
        return 1
    print(f"{root}: ready for milelib (DATA_ROOT={root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
