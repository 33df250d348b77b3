"""How fast the ImageNet loader feeds a model, per decoder (data.decoder: Pillow or torchvision.io):
images per second, and per core, of decoding generated JPEGs alone (in this process: one core), and
of decoding plus the paper's transforms (RandomResizedCrop 224 and flip while training; resize 256
and centre crop 224 in evaluation) through the same DataLoader feed as a run, with 0 and 2 worker
processes. Torch runs one thread, so a case uses as many cores as processes decode: 1 with 0
workers, else the worker count. Alternates decoders and worker counts over the repeats; writes the
median and range to results/benchmarks/loaders.json with provenance. About 45 s on 2 cores.

    python benchmarks/loaders.py [--repeats 5] [--images-per-class 40] [--batches 12] [--workers 0 2]

Measured on 2 cores shared with a training job (Pillow 13.0, torchvision 0.29.1), median images/s
per core with Pillow, then torchvision.io: decoding alone 791 and 872 (x1.10); with
RandomResizedCrop and flip 516 and 590 (x1.15); with resize and centre crop 541 and 543. The
2-worker cases competed with that job for the cores: their numbers say little.

The images are generated JPEGs of ImageNet's typical size (500x375, quality 90), not ImageNet's; a
GPU needs some thousands of images per second for ResNet-50: divide by the per-core rate for the
cores one GPU needs (run.workers="auto" gives each GPU's process its share of the cores, less one).
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import PIL
import torch
import torchvision

from milelib import data as datasets, fixtures
from milelib.config import RunConfig
from milelib.data.decoders import DECODERS
from milelib.data.images import ImageFiles
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


def decodes_per_second(files: ImageFiles) -> float:
    """Every file decoded once, in this process, nothing else: the decoder's own rate on one core."""
    started = time.perf_counter()
    for i in range(len(files)):
        files[i]
    return len(files) / (time.perf_counter() - started)


DECODE = "decode only (in process)"


def feeds(root: Path, decoder: str) -> tuple[ImageFiles, dict]:
    """The files to decode alone, and the feeds: name -> (feed, training)."""
    cfg = RunConfig().override({"data": "imagenet", "data.root": str(root), "data.holdout_per_class": 1,
                                "data.decoder": decoder})
    data = datasets.build(cfg.data)
    val = data.splits["val"].data
    return (ImageFiles(val.dataset.samples, val.dataset.classes, decoder=decoder),
            {"train (decode + RandomResizedCrop 224 + flip)": (data.train, True),
             "val (decode + resize 256 + centre crop 224)": (val, False)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images-per-class", type=int, default=40)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    started = time.time()
    torch.set_num_threads(1)  # with 0 workers, one core decodes and transforms; workers hold one thread each
    rates: dict[tuple, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = fixtures.imagenet(Path(tmp) / "imagenet", num_classes=4, train_per_class=args.images_per_class,
                                 val_per_class=args.images_per_class, size=(500, 375))
        cases = {decoder: feeds(root, decoder) for decoder in DECODERS}
        def measured(name, decoder, w, rate):
            rates.setdefault((name, decoder, w), []).append(rate)
            print(f"{name} | {decoder} | workers {w}: {rate:.0f} images/s", flush=True)

        for repeat in range(args.repeats):
            forward = repeat % 2 == 0  # alternate the order
            for decoder in DECODERS if forward else DECODERS[::-1]:
                files, streams = cases[decoder]
                measured(DECODE, decoder, 0, decodes_per_second(files))
                for w in args.workers if forward else args.workers[::-1]:
                    for name, (feed, training) in streams.items():
                        measured(name, decoder, w, images_per_second(feed, w, training, args.batches))
    rows = []
    for (name, decoder, w), r in rates.items():
        cores = max(1, w)
        rows.append({"split": name, "decoder": decoder, "workers": w, "cores": cores,
                     "batch": None if name == DECODE else BATCH,
                     "images_per_s": r, "median_images_per_s": round(statistics.median(r), 1),
                     "range_images_per_s": [round(min(r), 1), round(max(r), 1)],
                     "median_images_per_s_per_core": round(statistics.median(r) / cores, 1)})
    rows.sort(key=lambda row: (row["split"], row["workers"], row["decoder"]))
    median = {(row["split"], row["decoder"], row["workers"]): row["median_images_per_s"] for row in rows}
    speedup = {f"{split} | workers {w}": round(median[split, "torchvision", w] / median[split, "pil", w], 3)
               for split, decoder, w in median if decoder == "pil"}
    out = Path(args.out)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    atomic_write_json(out / "loaders.json", {
        "cases": rows, "torchvision_vs_pil_images_per_s": speedup, "repeats": args.repeats,
        "images_per_split": 4 * args.images_per_class, "image_size": [500, 375], "jpeg_quality": 90,
        "torch_threads": torch.get_num_threads(), "cores_available": cores,
        "versions": {"pillow": PIL.__version__, "torchvision": torchvision.__version__}})
    atomic_write_json(out / "loaders.provenance.json", provenance({}, time.time() - started))
    print(f"torchvision / pil images/s: {speedup}")
    print(f"wrote {out / 'loaders.json'} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
