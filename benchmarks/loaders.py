"""How fast the ImageNet loader feeds a model: images per second of decoding JPEGs and applying the
paper's transforms (RandomResizedCrop 224 and flip while training; resize 256 and centre crop 224
in evaluation), through the same DataLoader feed as a run, with 0 and 2 worker processes.
Alternates the settings over several repeats; writes the median and range to
results/benchmarks/loaders.json with provenance.

    python benchmarks/loaders.py [--repeats 3] [--images-per-class 40] [--workers 0 2]

The images are generated JPEGs of ImageNet's typical size (500x375), not ImageNet's; a GPU needs
some thousands of images per second for ResNet-50 (the README's "Speed" section).
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from milelib import data as datasets, fixtures
from milelib.config import RunConfig
from milelib.results import atomic_write_json, provenance

BATCH = 32


def images_per_second(feed, workers: int, training: bool, batches: int) -> float:
    """Training: images per second over `batches` batches after two warm-up batches (worker
    start-up, prefetch). Evaluation: one whole pass over the split, start-up included, as a run's
    evaluation pays it."""
    cpu = torch.device("cpu")
    if not training:
        started = time.perf_counter()
        n = sum(len(x) for x in feed.eval_batches(BATCH, cpu, workers))
        return n / (time.perf_counter() - started)
    stream = feed.batches(0, BATCH, 0, cpu, workers)
    next(stream), next(stream)
    started = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * BATCH / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images-per-class", type=int, default=40)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        root = fixtures.imagenet(Path(tmp) / "imagenet", num_classes=4, train_per_class=args.images_per_class,
                                 val_per_class=args.images_per_class, size=(500, 375))
        cfg = RunConfig().override({"data": "imagenet", "data.root": str(root), "data.holdout_per_class": 1})
        data = datasets.build(cfg.data)
        feeds = {"train (decode + RandomResizedCrop 224 + flip)": (data.train, True),
                 "val (decode + resize 256 + centre crop 224)": (data.splits["val"].data, False)}
        rows = []
        for name, (feed, training) in feeds.items():
            rates = {w: [] for w in args.workers}
            for repeat in range(args.repeats):
                for w in (args.workers if repeat % 2 == 0 else args.workers[::-1]):  # alternate the order
                    rates[w].append(images_per_second(feed, w, training, args.batches))
                    print(f"{name} | workers {w}: {rates[w][-1]:.0f} images/s", flush=True)
            rows.append({"split": name, "batch": BATCH, "images_per_s": {str(w): r for w, r in rates.items()},
                         "median_images_per_s": {str(w): round(statistics.median(r), 1) for w, r in rates.items()},
                         "range_images_per_s": {str(w): [round(min(r), 1), round(max(r), 1)] for w, r in rates.items()}})
    out = Path(args.out)
    atomic_write_json(out / "loaders.json", {"cases": rows, "repeats": args.repeats, "image_size": [500, 375],
                                             "torch_threads": torch.get_num_threads()})
    atomic_write_json(out / "loaders.provenance.json", provenance({}, time.time() - started))
    print(f"wrote {out / 'loaders.json'}")


if __name__ == "__main__":
    main()
