"""The review `milelib relabel` writes beside its CSV, for a person to look at: a contact sheet of
the images at the top of each list (PNG, and an HTML page with the images inline) with their given
label and predicted set, and a heatmap of the classes predicted together. Each file carries a mark
("milelib relabel") so a rerun replaces it, and never a file it did not write.
"""
from __future__ import annotations

import base64
import html
import io
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .data.decoders import read_image
from .data.images import ImageFiles
from .store import atomic_write_bytes

MARK = "milelib relabel"
SHOWN = 8     # images per list
THUMB = 160   # pixels on the longer side, in the HTML page


def paths(csv: Path) -> list[Path]:
    """The review files of the CSV `csv`: contact sheet (PNG, HTML) and co-occurrence heatmap."""
    stem = csv.with_suffix("")
    return [Path(f"{stem}.review.png"), Path(f"{stem}.review.html"), Path(f"{stem}.cooccurrence.png")]


def wrote(path: Path) -> bool:
    """Whether `path` is a review file this command wrote (and may replace)."""
    try:
        if path.suffix == ".png":
            with Image.open(path) as img:
                return img.info.get("Software") == MARK
        with open(path, "rb") as f:
            return f'<meta name="generator" content="{MARK}">'.encode() in f.read(400)
    except OSError:
        return False


def lists(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"most ambiguous (highest second-class probability)": table.nlargest(SHOWN, "ambiguity"),
            "given label not predicted, least likely first": table[table.given_not_predicted].nsmallest(SHOWN, "p_given")}


def write(csv: Path, table: pd.DataFrame, images: ImageFiles, classes: list[str]) -> list[Path]:
    sheet, page, heat = paths(csv)
    shown = lists(table)
    pixels = {path: read_image(file) for path, (file, _) in zip(table.path, images.samples)
              if any(path in rows.path.values for rows in shown.values())}
    atomic_write_bytes(sheet, _contact_sheet(shown, pixels))
    atomic_write_bytes(page, _page(shown, pixels).encode())
    atomic_write_bytes(heat, _heatmap(table, classes))
    return [sheet, page, heat]


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": MARK})
    plt.close(fig)
    return buffer.getvalue()


def _caption(row: pd.Series, most: int = 3) -> str:
    """Path, given label and its probability, and the predicted set (its first `most` classes, by probability)."""
    chosen = sorted(row["predicted"].split(";"), key=lambda c: -row[f"p({c})"])
    shown = ", ".join(chosen[:most]) + (f" +{len(chosen) - most} more" if len(chosen) > most else "")
    return f"{row['path']}\ngiven: {row['label']} (p {row['p_given']:.2f})\n" + textwrap.fill(f"predicted: {shown}", 30)


def _contact_sheet(shown: dict[str, pd.DataFrame], pixels: dict) -> bytes:
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2.6 * SHOWN, 3.6 * len(shown)), layout="constrained")
    for part, (title, rows) in zip(fig.subfigures(len(shown), 1, squeeze=False)[:, 0], shown.items()):
        part.suptitle(title, x=0.01, ha="left", fontsize=13)
        for ax, (_, row) in zip(part.subplots(1, SHOWN), rows.iterrows()):
            ax.imshow(pixels[row["path"]])
            ax.set_title(_caption(row), fontsize=10, y=-0.5)
        for ax in part.axes:
            ax.axis("off")
        if rows.empty:
            part.text(0.01, 0.5, "none", fontsize=12)
    return _png(fig)


def _page(shown: dict[str, pd.DataFrame], pixels: dict) -> str:
    parts = [f'<!doctype html><html><head><meta charset="utf-8"><meta name="generator" content="{MARK}">'
             "<title>milelib relabel: review</title><style>body{font-family:sans-serif}figure{display:inline-block;"
             f"width:{THUMB + 20}px;vertical-align:top;margin:6px}}figcaption{{font-size:13px;word-wrap:break-word}}"
             "</style></head><body>"]
    for title, rows in shown.items():
        parts.append(f"<h2>{html.escape(title)}</h2>" + ("" if len(rows) else "<p>none</p>"))
        for _, row in rows.iterrows():
            thumb = Image.fromarray(pixels[row["path"]])
            thumb.thumbnail((THUMB, THUMB))
            buffer = io.BytesIO()
            thumb.save(buffer, format="PNG")
            data = base64.b64encode(buffer.getvalue()).decode()
            caption = "<br>".join(html.escape(line) for line in _caption(row).splitlines())
            parts.append(f'<figure><img src="data:image/png;base64,{data}" width="{THUMB}" alt="{html.escape(row["path"])}">'
                         f"<figcaption>{caption}</figcaption></figure>")
    return "".join(parts) + "</body></html>\n"


def _heatmap(table: pd.DataFrame, classes: list[str]) -> bytes:
    """Images whose predicted sets hold both classes (the diagonal: images predicted that class)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    chosen = np.array([[name in row.split(";") for name in classes] for row in table.predicted], dtype=np.int64)
    together = pd.DataFrame(chosen.T @ chosen, index=classes, columns=classes)
    side = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    sns.heatmap(together, annot=len(classes) <= 20, fmt="d", cmap="viridis", ax=ax, annot_kws={"fontsize": 10})
    ax.set_title("images predicted with both classes", fontsize=12)
    ax.tick_params(labelsize=10)
    return _png(fig)
