"""plots.forest: one row per claim, grouped, coloured by the adjusted verdict, both intervals drawn."""
import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from milelib import evidence, plots  # noqa: E402


def claims(n: int, notebook: str, shift: float = 0.0) -> pd.DataFrame:
    rows = [evidence.gap_claim(pd.Series([i - 3 + shift + d for d in (0.5, -0.2, 0.3, 0.1, -0.4)]), "map", "A", "B",
                               f"{notebook}: claim {i}", paper_gap=1.0 if i % 2 else None) for i in range(n)]
    return evidence.adjust(pd.DataFrame(rows)).assign(notebook=notebook)


def test_one_row_per_claim_under_a_heading_per_group():
    every = pd.concat([claims(20, "01_a"), claims(17, "02_b", 0.5)], ignore_index=True)
    fig = plots.forest(every, "all", group="notebook")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels.count("01_a") == 1 and labels.count("02_b") == 1
    assert [x for x in labels if x not in ("01_a", "02_b")] == list(every.claim)  # 37 rows, in order
    thick = [line for line in ax.get_lines() if line.get_linewidth() == 4]
    thin = [line for line in ax.get_lines() if line.get_linewidth() == 1 and len(line.get_xdata()) == 2
            and line.get_color() != "black"]
    assert len(thick) == len(thin) == 37
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D" and len(line.get_xdata()) == 1]
    assert len(diamonds) == int(every["paper gap"].notna().sum())
    colours = {plots.VERDICT_COLOURS[v] for v in every.verdict}
    assert {line.get_color() for line in thick} == colours


def test_the_thick_bar_is_the_adjusted_interval():
    one = claims(3, "01_a")
    ax = plots.forest(one).axes[0]
    thick = [line for line in ax.get_lines() if line.get_linewidth() == 4]
    for line, (_, row) in zip(thick, one.iterrows()):
        assert list(line.get_xdata()) == pytest.approx([row["adjusted low"], row["adjusted high"]])


def test_a_claim_not_in_points_says_its_unit():
    row = evidence.gap_claim(pd.Series([0.1, 0.2, 0.3]), "coverage@0.5", "A", "B", "fewer labels")
    ax = plots.forest(evidence.adjust(pd.DataFrame([row]))).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fewer labels [coverage@0.5]"]
