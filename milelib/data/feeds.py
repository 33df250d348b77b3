"""How data reach the loop: one bundle (:class:`Data`) and two feeds behind one interface.

- :class:`TensorData`: a whole split as uint8 tensors on the device, normalised batch by batch
  (the grids: no loader cost).
- :class:`LoaderData`: a torch ``Dataset`` of files on disk, read by a ``DataLoader`` with worker
  processes and pinned memory.

Either way the batch of step s is :func:`batch_indices` (s), a pure function of (seed, step), and
random augmentations draw from a generator seeded by (seed, step, position in the batch): a run
resumed at any step sees exactly the batches it would have seen, whatever the worker count.
"""
from __future__ import annotations

import ast
import functools
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
import torch

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as torchvision's models expect


@dataclass
class Batch:
    x: torch.Tensor                       # inputs on the device, channels_last
    y: torch.Tensor                       # single labels
    index: torch.Tensor                   # rows of the training data (ELR keeps per-image state)
    true_sets: torch.Tensor | None = None  # multi-label truth, where the data know it (the oracle)
    skipped: int = 0                      # unreadable images left out (bad_images="skip")
    skipped_rows: tuple = ()              # their rows: a file drawn again is still one file


@dataclass
class Split:
    """An evaluation split: its images in order, their single labels and, optionally, their true
    label sets (ImageNet val has ReaL; WebVision val has none: accuracy only)."""
    data: TensorData | LoaderData
    labels: np.ndarray
    true_sets: np.ndarray | None = None


@dataclass
class Data:
    """What a data module's builder returns."""
    train: TensorData | LoaderData
    splits: dict[str, Split]              # named evaluation splits, in the order they are reported
    num_classes: int
    in_channels: int
    threshold_split: str | None           # the split on which each run chooses its F1@best threshold
    report_split: str                     # its metrics are reported unprefixed, the others as "split/..."
    raw: dict = field(default_factory=dict)  # the module's own objects (e.g. the grids, for figures)
    files: dict = field(default_factory=dict)  # name -> lines, written beside the run (e.g. the
                                               # training file list, to repeat a fraction exactly)
    unlabelled: TensorData | LoaderData | None = None  # training images without their labels (every
                                                       # one, the labelled fraction too): semi-supervised


@functools.lru_cache(maxsize=4)  # a labelled and an unlabelled stream alternate
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The seeded permutation of one epoch, made once per epoch rather than once per step."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class Order:
    """The rows of each step's global batch, a pure function of (seed, step): a fresh seeded
    permutation per epoch (its last partial batch dropped) or, with `weights` (class rebalancing),
    n rows drawn per epoch with probabilities in proportion to the weights."""

    def __init__(self, n: int, seed: int, weights: np.ndarray | None = None):
        self.n, self.seed = n, seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self._epoch = (None, None)

    def epoch(self, epoch: int) -> torch.Tensor:
        if self.weights is None:
            return epoch_order(self.n, self.seed, epoch)
        if self._epoch[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch = (epoch, torch.multinomial(self.weights, self.n, replacement=True, generator=g))
        return self._epoch[1]

    def batch(self, step: int, batch_size: int) -> torch.Tensor:
        epoch, k = divmod(step, steps_per_epoch(self.n, batch_size))
        return self.epoch(epoch)[k * batch_size:(k + 1) * batch_size]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Whole batches in one epoch of n rows (the last partial batch is dropped)."""
    return max(1, n // batch_size)


def epochs_started(steps: int, n: int, batch_size: int) -> int:
    """Epochs a run of `steps` starts on n rows (its last may be partial)."""
    return math.ceil(steps / steps_per_epoch(n, batch_size))


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """The rows of a step's batch: a fresh seeded permutation per epoch (its last partial batch
    dropped), a pure function of (seed, step), so the order never depends on what ran before."""
    return Order(n, seed).batch(step, batch_size)


def step_sequence(steps: int | Iterable[int]) -> Iterator[int]:
    """The steps a feed serves: start, start + 1, ... for an int, else the steps given (a feed that
    serves only some steps, as the unlabelled stream serves imitation steps only)."""
    return itertools.count(steps) if isinstance(steps, int) else iter(steps)


def sample_seeds(step: int, batch_size: int, seed: int) -> list[int]:
    """One augmentation seed per position of a step's batch, a pure function of (seed, step)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step + 7)
    return torch.randint(2**62, (batch_size,), generator=g).tolist()


class TensorData:
    """A split held as tensors: uint8 images [N, C, H, W], labels [N], true sets [N, classes]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, true_sets: np.ndarray | None = None,
                 mean: float = 0.0, std: float = 1.0):
        self.images, self.labels, self.true_sets = images, labels, true_sets
        self.mean, self.std = mean, std
        self._on: dict = {}

    def __len__(self) -> int:
        return len(self.labels)

    def _tensors(self, device):
        if device not in self._on:
            sets = None if self.true_sets is None else torch.as_tensor(self.true_sets).to(device)
            self._on[device] = (torch.as_tensor(self.images).to(device),
                                torch.as_tensor(self.labels).to(device), sets)
        return self._on[device]

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)  # faster on CPUs too (2x measured)

    def batches(self, steps: int | Iterable[int], batch_size: int, seed: int, device, workers: int = 0,
                shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        """Batches of `steps` (an int: that step and every one after it); with shard=(rank,
        processes), this process's rows."""
        images, labels, sets = self._tensors(device)
        order, (rank, size) = Order(len(self), seed), shard
        for step in step_sequence(steps):
            idx = order.batch(step, batch_size)[rank::size].to(device)
            yield Batch(self._inputs(images[idx]), labels[idx], idx, None if sets is None else sets[idx])

    def eval_batches(self, batch_size: int, device, workers: int = 0, rows: range | None = None) -> Iterator[torch.Tensor]:
        images, rows = self._tensors(device)[0], rows if rows is not None else range(len(self))
        for start in range(rows.start, rows.stop, batch_size):
            yield self._inputs(images[torch.arange(start, min(start + batch_size, rows.stop), device=device)])


class _StepBatches(torch.utils.data.Sampler):
    """Yields this process's share of the batches of `steps`: [(row, augmentation seed), ...], the
    seeds those of the rows' places in the global batch."""

    def __init__(self, steps: int | Iterable[int], order: Order, batch_size: int, seed: int, shard: tuple[int, int]):
        self.steps, self.order, self.batch_size, self.seed, self.shard = steps, order, batch_size, seed, shard

    def __iter__(self):
        rank, size = self.shard
        for step in step_sequence(self.steps):
            rows = self.order.batch(step, self.batch_size).tolist()
            yield list(zip(rows, sample_seeds(step, self.batch_size, self.seed)))[rank::size]


class _Seeded(torch.utils.data.Dataset):
    """dataset[row] with torch's RNG seeded for that one sample, and the row appended."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __getitem__(self, item):
        row, seed = item
        cpu = torch.default_generator  # transforms draw from it; seeding it alone is 30x cheaper than
        state = cpu.get_state()        # fork_rng + manual_seed, with the same numbers (measured)
        cpu.manual_seed(seed)
        try:
            sample = self.dataset[row]
        finally:
            cpu.set_state(state)
        return (None, row) if sample is None else (*sample, row)


def _collate(batch):
    """Stack a batch, leaving out unreadable images ((None, row)): (images, labels, rows, rows skipped)."""
    kept = [item for item in batch if item[0] is not None]
    images, labels, rows = zip(*kept) if kept else ((), (), ())
    return (torch.stack(images) if kept else torch.empty(0), torch.as_tensor(labels, dtype=torch.long),
            torch.as_tensor(rows, dtype=torch.long), tuple(item[1] for item in batch if item[0] is None))


class LoaderData:
    """A split of files on disk: `dataset[row]` returns (image tensor [C, H, W], label) or None
    for an unreadable image that is to be skipped. `weights` (per row) rebalance the training order."""

    def __init__(self, dataset, labels: np.ndarray, true_sets: np.ndarray | None = None,
                 weights: np.ndarray | None = None):
        self.dataset, self.labels, self.true_sets, self.weights = dataset, np.asarray(labels), true_sets, weights

    def __len__(self) -> int:
        return len(self.labels)

    def _loader(self, device, workers: int, **kwargs):
        return torch.utils.data.DataLoader(_Seeded(self.dataset), num_workers=workers, collate_fn=_collate,
                                           pin_memory=torch.device(device).type == "cuda",
                                           persistent_workers=workers > 0, **kwargs)

    def batches(self, steps: int | Iterable[int], batch_size: int, seed: int, device, workers: int = 0,
                shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
        sets = None if self.true_sets is None else torch.as_tensor(self.true_sets)
        order = Order(len(self), seed, self.weights)
        loader = self._loader(device, workers, batch_sampler=_StepBatches(steps, order, batch_size, seed, shard))
        for x, y, rows, skipped in _batches(loader):
            yield Batch(on_device(x, device), y.to(device, non_blocking=True), rows.to(device, non_blocking=True),
                        None if sets is None else sets[rows].to(device, non_blocking=True), len(skipped), skipped)

    def eval_batches(self, batch_size: int, device, workers: int = 0, rows: range | None = None) -> Iterator[torch.Tensor]:
        order = [(row, 0) for row in (rows if rows is not None else range(len(self)))]  # nothing random
        for x, _, _, skipped in _batches(self._loader(device, workers, batch_size=batch_size, sampler=order)):
            if skipped:
                raise ValueError(f"{len(skipped)} evaluation images are unreadable: an evaluation split must "
                                 f"count every image; remove or replace them")
            yield on_device(x, device)


class WorkerKilled(RuntimeError):
    """A DataLoader worker process died without a word (killed, most often by the OOM killer)."""


_KILLED = re.compile(r"DataLoader worker \(pids?\(?s?\)? ?([\d, ]+)\) (?:is killed by signal: ([^.]+)|exited "
                     r"unexpectedly)")
_FROM_WORKER = re.compile(r"Caught (\w+) in (DataLoader worker process \d+|pin memory thread[^.]*)\.\n"
                          r"Original Traceback")


def _batches(loader):
    """A DataLoader's batches; an error in a worker process reaches the caller as the worker's own
    message, as with no workers (torch re-raises it with the worker's whole traceback as message)."""
    try:
        yield from loader
    except Exception as err:  # noqa: BLE001 - only a worker's error is rewritten; any other goes on as it is
        killed = _KILLED.search(str(err))
        if killed:  # the worker died without a word (the OOM killer's SIGKILL): torch's text, and a traceback
            how = f"was killed ({killed.group(2)})" if killed.group(2) else "exited unexpectedly"
            raise WorkerKilled(f"a DataLoader worker (pid {killed.group(1)}) {how}: most often the system ran out of "
                               f"memory; lower run.workers (or optim.batch_size, data.image_size) and rerun, which "
                               f"resumes from the last checkpoint") from None
        message = worker_message(err)
        if message is None:
            raise
        if isinstance(err, KeyError):  # its line shows its argument's repr
            message = _literal(message)
        try:
            plain = type(err)(message)
        except Exception:  # noqa: BLE001 - a type that takes other arguments: torch does the same
            plain = RuntimeError(message)
        raise plain from None


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def worker_message(err: BaseException) -> str | None:
    """What the exception raised in a DataLoader worker said, from the one torch re-raises in the
    main process ("Caught ValueError in DataLoader worker process 1. Original Traceback ... ValueError:
    <message>"); None for an error that did not come from a worker."""
    text = str(err)
    found = _FROM_WORKER.match(text)
    if found is None:
        return None
    lines = text.splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=1)  # the last frame's line
    said = "\n".join(lines[last_frame + 1:]).strip()  # "<module.>ValueError: <message>"
    return re.sub(rf"^(?:[\w.]+\.)?{found.group(1)}(?:: |$)", "", said) or found.group(1)


def on_device(x: torch.Tensor, device) -> torch.Tensor:
    """A uint8 batch [B, 3, H, W] from the loader as the network's input: copied to the device, then
    scaled to [0, 1] and normalised with ImageNet's mean and std there (torchvision's own functions,
    so the numbers are those of doing it in the workers), channels_last."""
    from torchvision.transforms.v2 import functional as TF

    x = TF.normalize(TF.to_dtype(x.to(device, non_blocking=True), torch.float32, scale=True), MEAN, STD)
    return x.contiguous(memory_format=torch.channels_last)


class _Unlabelled(torch.utils.data.Dataset):
    """dataset[row] with its label replaced by -1."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __getitem__(self, row):
        sample = self.dataset[row]
        return None if sample is None else (sample[0], -1)


def without_labels(feed: TensorData | LoaderData) -> TensorData | LoaderData:
    """The same images with every label -1 and no true sets: the unlabelled stream of
    semi-supervised methods, which a label loss cannot read by mistake (-1 is no class)."""
    unknown = np.full(len(feed), -1, dtype=np.int64)
    if isinstance(feed, TensorData):
        return TensorData(feed.images, unknown, None, feed.mean, feed.std)
    return LoaderData(_Unlabelled(feed.dataset), unknown)
