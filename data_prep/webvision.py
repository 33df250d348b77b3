"""Check a downloaded WebVision 1.0 tree against its file lists; say exactly what is missing.

    python data_prep/webvision.py /data/webvision                      # WebVision 1.0
    python data_prep/webvision.py /data/webvision --mini               # mini-WebVision (50 classes, Google)
    python data_prep/webvision.py /data/webvision --imagenet /data/imagenet   # and ImageNet val's classes

milelib reads ROOT/info/train_filelist_google.txt and train_filelist_flickr.txt (`path label`,
paths under ROOT), ROOT/info/val_filelist.txt (names under ROOT/val_images_256/ or val_images/)
and, for the ImageNet evaluation, ImageNet's val/<wnid>/ folders in WebVision's class order
(info/synsets.txt). Every listed image is looked for; the first missing ones are named. Nothing
is written: the loader reads the lists as they are. Exit status 1 when anything is missing.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

SHOWN = 5


def check(root: Path, mini: bool, imagenet: Path | None) -> list[str]:
    from milelib.data.webvision import MINI_CLASSES, VAL_FOLDERS, imagenet_val, read_filelist

    problems = []
    lists = ["train_filelist_google.txt"] + ([] if mini else ["train_filelist_flickr.txt"])
    val_folder = next((root / f for f in VAL_FOLDERS if (root / f).is_dir()), None)
    if val_folder is None:
        problems.append(f"no validation image folder: expected one of {', '.join(VAL_FOLDERS)} under {root}")
    for name, folder in [(n, root) for n in lists] + [("val_filelist.txt", val_folder or root / VAL_FOLDERS[0])]:
        try:
            samples = read_filelist(root / "info" / name, folder)
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
            continue
        if mini:
            samples = [(p, y) for p, y in samples if y < MINI_CLASSES]
        missing = [p for p, _ in samples if not Path(p).is_file()]
        counts = Counter(y for _, y in samples)
        print(f"{name}: {len(samples):,} images of {len(counts)} classes "
              f"({min(counts.values(), default=0):,} to {max(counts.values(), default=0):,} per class)")
        if missing:
            problems.append(f"{len(missing):,} images listed in info/{name} are missing (first: "
                            f"{', '.join(missing[:SHOWN])})")
    if imagenet is not None:
        try:
            found = imagenet_val(imagenet, root, MINI_CLASSES if mini else 1000)
            print(f"ImageNet val of the same classes: {len(found):,} images")
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the folder holding info/, google/, flickr/, val_images_256/")
    parser.add_argument("--mini", action="store_true", help="mini-WebVision: the first 50 classes, Google only")
    parser.add_argument("--imagenet", type=Path, help="ImageNet's root, to check its val/ for the ImageNet evaluation")
    args = parser.parse_args(argv)
    problems = check(args.root.expanduser(), args.mini, args.imagenet.expanduser() if args.imagenet else None)
    if problems:
        print(f"{len(problems)} problem(s):\n" + "\n".join(f"- {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"{args.root}: ready for milelib (DATA_ROOT={args.root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
