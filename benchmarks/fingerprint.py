"""What relabel's content fingerprint (data.images.fingerprint: every image's path, size and bytes)
costs against the old one of path, size and modification time, on folders of small PNG files:
the median of a few cold-ish repeats each; writes results/benchmarks/fingerprint.json with provenance.

    python benchmarks/fingerprint.py --files 1000 100000   # the 100,000-file run: minutes, not CI

The files are written once into a temporary folder (10 classes, 64x64 RGB PNGs of ~200 bytes to
~12 KB, random noise so they do not compress away).
"""
import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from milelib.data.images import class_folders, fingerprint
from milelib.results import atomic_write_json, provenance


def by_stat(root, samples) -> str:
    """The fingerprint before: path, size and modification time, no bytes read."""
    digest = hashlib.sha256()
    for path, _ in samples:
        stat = os.stat(path)
        digest.update(f"{Path(path).relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def make_folder(root: Path, files: int) -> int:
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = 0
    for i in range(files):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        side = int(rng.integers(8, 64))
        Image.fromarray(rng.integers(0, 256, (side, side, 3), np.uint8)).save(folder / f"{i:06d}.png")
        sizes += (folder / f"{i:06d}.png").stat().st_size
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    started, rows = time.time(), []
    for files in args.files:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            size = make_folder(root, files)
            samples = class_folders(root).samples
            times = {"content (path, size, bytes)": [], "stat (path, size, mtime)": []}
            for _ in range(args.repeats):
                for name, how in (("content (path, size, bytes)", fingerprint), ("stat (path, size, mtime)", by_stat)):
                    t = time.perf_counter()
                    how(root, samples)
                    times[name].append(time.perf_counter() - t)
            row = {"files": files, "megabytes": round(size / 1e6, 1), "seconds": times,
                   "median_s": {name: round(statistics.median(t), 4) for name, t in times.items()}}
            row["content_s_per_10000_files"] = round(row["median_s"]["content (path, size, bytes)"] / files * 1e4, 3)
            rows.append(row)
            print(f"{files} files ({row['megabytes']} MB): {row['median_s']}", flush=True)
    out = Path(args.out)
    atomic_write_json(out / "fingerprint.json", {"cases": rows, "repeats": args.repeats,
                                                 "note": "the folder is in the page cache after it is written"})
    atomic_write_json(out / "fingerprint.provenance.json", provenance({}, time.time() - started))
    print(f"wrote {out / 'fingerprint.json'}")


if __name__ == "__main__":
    main()
