"""Mean and spread over seeds, by hand."""
import math

from milelib import report


RECORDS = [{"label": "A", "seed": 0, "f1": 0.30}, {"label": "A", "seed": 1, "f1": 0.34},
           {"label": "B", "seed": 0, "f1": 0.50}]


def test_seed_stats_by_hand():
    stats = report.seed_stats(RECORDS, ["f1"]).set_index("label")
    # A: mean of 30 and 34 = 32; sample std = sqrt(((30-32)^2 + (34-32)^2) / 1) = sqrt(8)
    assert math.isclose(stats.loc["A", "mean"], 32.0) and math.isclose(stats.loc["A", "std"], math.sqrt(8))
    assert stats.loc["A", "seeds"] == 2 and math.isnan(stats.loc["B", "std"])


def test_mean_std_table_keeps_method_order_and_formats():
    table = report.mean_std_table(RECORDS, ["f1"], digits=2)
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "F1"] == "32.00 ± 2.83" and table.loc["B", "F1"] == "50.00"


def test_beside_paper_difference():
    table = report.beside_paper(RECORDS, {"Paper-A": {"f1": 30.5}}, {"A": "Paper-A"}, ["f1"])
    row = table.loc[("Paper-A", "F1")]
    assert (row["paper"], row["ours"], row["ours - paper"]) == (30.5, 32.0, 1.5)


def test_coverage_and_threshold_are_not_percentages():
    records = [{"label": "A", "seed": s, "coverage@0.25": c, "best_threshold": t}
               for s, c, t in [(0, 1.0, 0.002), (1, 1.5, 0.004)]]
    table = report.mean_std_table(records, ["coverage@0.25", "best_threshold"])
    # coverage: mean 1.25, std sqrt(2 * 0.25^2) = 0.354; threshold: mean 0.003, std 0.00141
    assert table.loc["A", "labels per image @0.25"] == "1.25 ± 0.35"
    assert table.loc["A", "best threshold"] == "0.003 ± 0.00141"


def test_metric_keys_read_as_headings():
    assert [report.heading(k) for k in ("map", "f1@0.25", "real_accuracy", "imagenet/top5_accuracy",
                                        "precision@0.5", "final_empty_share")] == [
        "mAP", "F1 @0.25", "ReaL accuracy", "ImageNet top-5", "precision @0.5", "empty sets (share)"]
