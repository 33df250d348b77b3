"""One place for figure style and saving; figures are named after the paper's (fig3a_..., table5_...)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from .results import atomic_write_bytes

STYLE = {"figure.dpi": 100, "savefig.dpi": 120, "font.size": 9, "axes.titlesize": 9}


def savefig(fig, folder, name: str) -> Path:
    """Write fig as folder/name.png, atomically, with fixed metadata so reruns are byte-stable."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return atomic_write_bytes(Path(folder) / f"{name}.png", buf.getvalue())


def grid_predictions(grids, sets: dict, n: int = 4, classes=None):
    """Each of the first n grids with its single label, its true set and every method's predicted set."""
    classes = classes or [str(c) for c in range(grids.true_sets.shape[1])]

    def names(row):
        return "{" + ",".join(classes[c] for c in row.nonzero()[0]) + "}"

    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.0 + 0.3 * len(sets)))
        for i, ax in enumerate(axes):
            ax.imshow(grids.images[i], cmap="gray_r")
            ax.set_xticks([]), ax.set_yticks([])
            lines = [f"label: {classes[grids.labels[i]]}", f"true: {names(grids.true_sets[i])}"]
            lines += [f"{label}: {names(s[i])}" for label, s in sets.items()]
            ax.set_title(f"test grid {i}", loc="left")
            ax.text(0, -0.04, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=7, family="monospace")
        fig.tight_layout()
    return fig
