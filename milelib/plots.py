"""One place for figure style and saving, and the figures of the notebooks; files are named after
the paper's figures (fig3a_..., table5_...)."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .results import atomic_write_bytes

STYLE = {"figure.dpi": 100, "savefig.dpi": 120, "font.size": 9, "axes.titlesize": 9}


def savefig(fig, folder, name: str) -> None:
    """Write fig as folder/name.png, atomically, with fixed metadata so reruns are byte-stable (no
    return value: a notebook cell ending with it shows the figure, not a path's repr)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    atomic_write_bytes(Path(folder) / f"{name}.png", buf.getvalue())


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
            ax.text(0, -0.04, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=10, family="monospace")  # 10 pt: legible
        fig.tight_layout()
    return fig


def heatmaps(panels: dict, fmt: dict | None = None, cmap: str = "viridis"):
    """Annotated seaborn heatmaps side by side, one per {title: DataFrame (rows x columns)}."""
    import seaborn as sns

    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2))
        for ax, (title, frame) in zip(list(np.atleast_1d(axes)), panels.items()):
            sns.heatmap(frame, annot=True, fmt=(fmt or {}).get(title, ".1f"), cmap=cmap, cbar=False, ax=ax,
                        annot_kws={"fontsize": 8})
            ax.set_title(title)
            ax.invert_yaxis()  # small values at the bottom left, as in the paper's Fig. 3a
        fig.tight_layout()
    return fig


def curves(stats, x: str, metrics: dict, baselines: dict | None = None, logx: bool = True):
    """One panel per {metric: title}: mean ± std over seeds against `x` (a long table with columns
    x, metric, mean, std), with each baseline {label: {metric: value}} as a dashed line."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 2.8))
        for ax, (metric, title) in zip(list(np.atleast_1d(axes)), metrics.items()):
            rows = stats[stats.metric == metric].sort_values(x)
            ax.errorbar(rows[x], rows["mean"], yerr=rows["std"].fillna(0), marker="o", capsize=3, label="MILe")
            for i, (label, values) in enumerate((baselines or {}).items()):
                ax.axhline(values[metric], ls="--", lw=1, color=f"C{i + 1}", label=label)
            ax.set_xscale("log" if logx else "linear")
            ax.set_xlabel(x), ax.set_title(title)
        axes.flat[0].legend(fontsize=7) if len(metrics) > 1 else ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


def grouped_bars(stats, groups: list, hues: list, metrics: dict):
    """One panel per {metric: title}: bars of mean ± std over seeds for each group (x) and hue,
    from a long table with columns group, hue, metric, mean, std."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 2.9))
        width = 0.8 / len(hues)
        for ax, (metric, title) in zip(list(np.atleast_1d(axes)), metrics.items()):
            for j, hue in enumerate(hues):
                rows = stats[(stats.metric == metric) & (stats.hue == hue)].set_index("group").reindex(groups)
                ax.bar(np.arange(len(groups)) + (j - (len(hues) - 1) / 2) * width, rows["mean"], width,
                       yerr=rows["std"].fillna(0), capsize=2, label=hue)
            ax.set_xticks(np.arange(len(groups)), groups)
            lo = np.nanmin(stats[stats.metric == metric]["mean"])
            ax.set_ylim(max(0, lo - 10), None)
            ax.set_title(title)
        np.atleast_1d(axes)[0].legend(fontsize=7)
        fig.tight_layout()
    return fig


def ranking(panels: dict, xlabel: str = "test mAP (%)", highlight=("MILe",)):
    """One panel per {title: table of label, mean, std}: methods as horizontal bars of mean ± std
    over seeds, best at the top; bars whose label starts with one of `highlight` drawn darker."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.3 * max(map(len, panels.values())) + 1))
        for ax, (title, stats) in zip(list(np.atleast_1d(axes)), panels.items()):
            rows = stats.iloc[::-1]
            colors = ["tab:red" if str(label).startswith(highlight) else "tab:gray" for label in rows["label"]]
            ax.barh(np.arange(len(rows)), rows["mean"], xerr=rows["std"].fillna(0), color=colors, capsize=2)
            ax.set_yticks(np.arange(len(rows)), rows["label"])
            ax.set_xlim(max(0, np.nanmin(rows["mean"]) - 10), min(100, np.nanmax(rows["mean"] + rows["std"].fillna(0)) + 2))
            ax.set_xlabel(xlabel)
            ax.set_title(title)
        fig.tight_layout()
    return fig


VERDICT_COLOURS = {"holds": "tab:green", "contradicted": "tab:red", "inconclusive": "tab:gray",
                   "untestable here": "#c8c8c8"}


def _short(text: str, width: int = 78) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def forest(claims, title: str | None = None, group: str | None = None, width: int = 78):
    """Every claim as one row: its mean gap (dot), its adjusted interval (thick: the level Holm used
    for the claim, from `evidence.adjust`) and its unadjusted 95% interval (thin, in the colour of
    the unadjusted verdict), the paper's gap (an open diamond), coloured by the adjusted verdict; rows grouped under a heading per value of
    `group` (a column, e.g. the notebook) in their order. The gap axis is linear within ±2 points
    and logarithmic beyond, so that gaps of 0.3 and 40 points share a page. A claim whose metric is
    not in points (a count of labels, a share, a rho) says so in brackets."""
    import pandas as pd
    from matplotlib.lines import Line2D

    from .report import scale

    rows = claims.reset_index(drop=True)
    keys = rows[group].tolist() if group else [None] * len(rows)
    y, ticks, labels, headings = 0.0, [], [], []
    positions = []
    for i, r in rows.iterrows():
        if group and (i == 0 or keys[i] != keys[i - 1]):
            y += 0.4 if i else 0
            headings.append((y, str(keys[i])))
            y += 1
        positions.append(y)
        metric = r.get("metric")
        unit = f" [{metric}]" if isinstance(metric, str) and scale(metric) == 1.0 else ""
        where = r.get("stand-in", r.get("stand_in"))
        prefix = f"{where}: " if isinstance(where, str) else ""
        ticks.append(y)
        labels.append(_short(prefix + str(r["claim"]), width - len(unit)) + unit)
        y += 1
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(11, 0.8 + 0.24 * (y + 1)))
        for pos, (_, r) in zip(positions, rows.iterrows()):
            colour = VERDICT_COLOURS.get(r["verdict"], "tab:blue")
            raw = VERDICT_COLOURS.get(r.get("raw verdict", r["verdict"]), colour)
            if not pd.isna(r.get("low")):  # on top of the thick bar, in the colour of its own verdict
                ax.plot([r["low"], r["high"]], [pos, pos], color=raw, lw=1, solid_capstyle="butt", zorder=3)
            adj = (r.get("adjusted low"), r.get("adjusted high"))
            if not any(v is None or pd.isna(v) for v in adj):
                ax.plot(adj, [pos, pos], color=colour, lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot([r["gap"]], [pos], "o", color=colour, ms=4)
            if not pd.isna(r.get("paper gap", None)):
                ax.plot([r["paper gap"]], [pos], "D", mfc="none", mec="black", ms=5)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xscale("symlog", linthresh=2, linscale=0.8)
        low, high = ax.get_xlim()
        marks = [x for x in (-50, -20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50) if low <= x <= high]
        ax.set_xticks(marks, [f"{x:+d}" if x else "0" for x in marks])
        ax.set_yticks(ticks + [pos for pos, _ in headings], labels + [text for _, text in headings], fontsize=8)
        for tick in ax.get_yticklabels()[len(ticks):]:
            tick.set_fontweight("bold")
            tick.set_fontsize(9)
        ax.set_ylim(y, -1)
        ax.grid(axis="x", lw=0.3, alpha=0.5)
        ax.set_xlabel("gap in the claim's direction (points, or the unit in brackets); linear within ±2, log beyond")
        handles = [Line2D([], [], color=c, lw=4, alpha=0.6, label=v) for v, c in VERDICT_COLOURS.items()
                   if v in set(rows.verdict)]
        handles += [Line2D([], [], color="black", lw=1, label="95% interval, unadjusted\n(coloured by its own verdict)"),
                    Line2D([], [], color="black", lw=4, alpha=0.6, label="interval at Holm's level"),
                    Line2D([], [], marker="D", mfc="none", mec="black", ls="", label="the paper's gap")]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        if title:
            ax.set_title(title, loc="left")
        fig.tight_layout()
    return fig
