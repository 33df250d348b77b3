"""The training-length protocol: its rule on hand-made curves, its record end to end on the smoke
profile, and the convergence control that notebooks read from that record."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from milelib import convergence as cv, experiments
from milelib.experiments import controls


def curve(method: str, points: dict[int, list[float]], **extra) -> list[dict]:
    return [{"method": method, "steps": n, "seed": s, "val/map": v / 100, **extra}
            for n, values in points.items() for s, v in enumerate(values)]


def test_the_shortest_length_whose_doubling_adds_at_most_half_a_point_for_every_method():
    sigmoid = curve("Sigmoid", {100: [80, 82], 200: [85, 85], 400: [85.4, 85.4], 800: [85.5, 85.5]})
    mile = curve("MILe", {100: [70, 70], 200: [75, 75], 400: [76, 76], 800: [76.3, 76.3]})
    # Sigmoid: 200 -> 400 adds 0.4; MILe adds 1.0 there and 0.3 from 400 to 800
    assert cv.choose_length(pd.DataFrame(sigmoid)) == 200
    assert cv.choose_length(pd.DataFrame(sigmoid + mile)) == 400
    assert cv.choose_length(pd.DataFrame(sigmoid + mile), tolerance=0.2) is None  # the sweep must go longer


def test_a_collapsed_method_is_left_out_of_the_rule_where_it_collapsed():
    sigmoid = curve("Sigmoid", {100: [80], 200: [85], 400: [85.2]})
    mile = curve("MILe", {100: [70], 200: [60]}, final_full_share=0.0) + curve("MILe", {400: [61]}, final_full_share=1.0)
    table = pd.DataFrame(sigmoid + mile)
    table.loc[(table.method == "MILe") & (table.steps == 200), "final_full_share"] = 0.9  # all-class sets
    assert cv.collapsed(table).sum() == 2
    assert cv.choose_length(table) == 200  # Sigmoid decides alone at 200 -> 400


def test_the_protocol_records_its_stages_and_choice_on_the_smoke_profile(tmp_path):
    choice = cv.protocol("real_like", "smoke", tmp_path, jobs=1, log=lambda *a, **k: None)
    folder = tmp_path / "convergence" / "real_like" / "smoke"
    assert {p.name for p in folder.iterdir()} == {"loss.csv", "lengths.csv", "mile.csv", "ll_r.csv", "lengths.png",
                                                 "choice.json", "provenance.json"}
    assert json.loads((folder / "choice.json").read_text()) == choice
    loss = pd.read_csv(folder / "loss.csv")
    assert set(loss.seed) == set(cv.SEEDS) and choice["optim.lr"] in set(loss.lr)  # read on validation only
    assert not [c for c in loss if c.startswith(("map", "f1", "accuracy"))]
    lengths = pd.read_csv(folder / "lengths.csv")
    assert {"Sigmoid", "MILe (former setting)", "MILe (chosen)"} <= set(lengths.method)
    ll_r = pd.read_csv(folder / "ll_r.csv")  # LL-R's share: the candidate of best mean validation mAP
    means = ll_r.groupby("share")["val/map"].mean()
    assert set(means.index) == set(cv.SMOKE["ll_shares"]) and choice["ll_share"] == means.idxmax()
    assert (ll_r.steps == choice["optim.steps"]).all() and ll_r.drop_duplicates("share").delta_rel.is_unique


def test_the_convergence_control_reads_the_record(tmp_path):
    base = experiments.get("kt_ks_heatmap").EXPERIMENT.config("smoke")
    folder = tmp_path / "convergence" / "real_like" / "smoke"
    folder.mkdir(parents=True)
    assert controls.converged(base, "real_like", "smoke", tmp_path)["verdict"] == "not measured"
    steps = base.optim.steps
    lengths = curve("Sigmoid", {steps: [80, 80, 80], 2 * steps: [80.2, 80.4, 80.3]})
    lengths += curve("MILe (chosen)", {steps: [70, 70, 70], 2 * steps: [70.1, 70.1, 70.1]})
    pd.DataFrame(lengths).to_csv(folder / "lengths.csv", index=False)
    record = {"optim.steps": steps, "optim.bce": base.optim.bce, "optim.lr": base.optim.lr, "seeds": [100, 101, 102],
              "tolerance_points": 0.5}
    (folder / "choice.json").write_text(json.dumps(record))
    row = controls.converged(base, "real_like", "smoke", tmp_path)
    assert row["verdict"] == "holds" and abs(row["gap"] - 0.3) < 1e-9
    assert controls.converged(base.override({"optim.lr": 0.5}), "real_like", "smoke", tmp_path)["verdict"] == \
        "not measured for these settings"
    (folder / "choice.json").write_text(json.dumps({**record, "tolerance_points": 0.2}))
    assert controls.converged(base, "real_like", "smoke", tmp_path)["verdict"] == "fails"


def test_the_convergence_control_finds_the_committed_record_when_results_go_elsewhere(tmp_path):
    # `milelib reproduce --results-dir OTHER` (or RESULTS_DIR=OTHER) read OTHER/convergence, found nothing,
    # and made every claim untestable; the committed record is the one the protocol chose the profile by
    base = experiments.get("rho_sweep").EXPERIMENT.config("quick")
    here = controls.converged(base, "real_like", "quick", tmp_path / "elsewhere")
    committed = controls.converged(base, "real_like", "quick", controls.REPOSITORY_RESULTS)
    assert here == committed and here["verdict"] == "holds"
    missing = controls.converged(base, "real_like", "smoke", tmp_path / "elsewhere")  # no record anywhere
    assert missing["verdict"] == "not measured" and str(tmp_path / "elsewhere") in missing["looked in"]


def test_the_trained_control_names_runs_left_at_chance():
    table = pd.DataFrame([{"label": "Sigmoid", "seed": 0, "val/accuracy": 0.85},
                          {"label": "Softmax", "seed": 0, "val/accuracy": 0.10},
                          {"label": "Softmax", "seed": 1, "val/accuracy": 0.80}])
    row = controls.trained(table)
    assert row["verdict"] == "fails" and row["failed runs"] == "Softmax (seed 0)"
    assert controls.trained(table[table["val/accuracy"] > 0.5])["verdict"] == "holds"


def test_session_trains_the_control_runs_on_the_control_seeds_too(tmp_path, monkeypatch):
    import dataclasses

    from milelib.experiments import Session, kt_ks_heatmap
    from milelib.experiments.session import CONTROLS_ONLY

    smoke = kt_ks_heatmap.PROFILES["smoke"]
    monkeypatch.setitem(kt_ks_heatmap.PROFILES, "smoke", dataclasses.replace(smoke, control_seeds=(0, 1)))
    session = Session(name="kt_ks_heatmap", profile="smoke", seeds=0, results_dir=str(tmp_path), log=lambda *a, **k: None)
    table = pd.DataFrame([{"label": label, "seed": 0, "map": 0.5} for label in ("Sigmoid", "MILe, k_t=2, k_s=2")])
    every = session.with_control_runs(table)
    more = every[every.seed == 1]
    assert sorted(more.label) == sorted(kt_ks_heatmap.EXPERIMENT.control_runs)  # only the control runs, only seed 1
    assert more[CONTROLS_ONLY].all() and every[every.seed == 0][CONTROLS_ONLY].isna().all()  # marked for the record
    assert len(every[every.seed == 0]) == 2                                      # the table's own rows kept as they were
    # a profile without control seeds trains nothing more
    monkeypatch.setitem(kt_ks_heatmap.PROFILES, "smoke", smoke)
    assert session.with_control_runs(table).equals(table)


def test_a_best_value_at_an_end_of_its_list_is_extended_past_it():
    assert cv.past_edge(0.8, [0.2, 0.4, 0.8]) == 1.6  # at the top: doubled
    assert cv.past_edge(0.2, [0.2, 0.4, 0.8]) == 0.1  # at the bottom: halved
    assert cv.past_edge(0.4, [0.2, 0.4, 0.8]) is None  # inside: an optimum
    assert cv.past_edge(0.08, [0.08]) == 0.16          # a list of one: doubled


def test_a_collapsed_candidate_is_never_the_best_and_06s_f1_setting_is_the_grids_choice():
    """`best` leaves out a candidate that collapsed on any seed, though its F1 at 0.25 is the highest
    (predicting every class); on the recorded Multi-MNIST grid it gives notebook 06's settings: on
    validation mAP the profile's, on validation F1@0.25 multi_mnist.F1_CHOICE."""
    from milelib.experiments import multi_mnist

    rows = [{"candidate": "everything", "seed": s, "val/f1@0.25": 0.75, "final_full_share": 1.0 if s else 0.2}
            for s in range(2)]
    rows += [{"candidate": "learned", "seed": s, "val/f1@0.25": 0.4, "final_full_share": 0.0} for s in range(2)]
    assert cv.best(pd.DataFrame(rows), "val/f1@0.25").candidate == "learned"
    grid = pd.read_csv(Path(__file__).parents[1] / "results/convergence/multi_mnist/quick/mile.csv")
    setting = lambda row: {f"method.{k}": row[k] for k in ("teacher_steps", "student_steps", "rho")}  # noqa: E731
    quick = multi_mnist.PROFILES["quick"].settings
    assert setting(cv.best(grid)) == {k: quick[k] for k in setting(cv.best(grid))}
    assert setting(cv.best(grid, "val/f1@0.25")) == multi_mnist.F1_CHOICE["quick"]
    points = multi_mnist.EXPERIMENT.points_for("quick")
    assert points[multi_mnist.MILE_F1] == {"method.variant": "released", **multi_mnist.F1_CHOICE["quick"]}
    assert multi_mnist.MILE_F1 not in multi_mnist.EXPERIMENT.points_for("smoke")


def test_a_diverged_run_scores_zero_in_the_shared_lr_rule():
    """lr 0.4 suits both families but one Softmax seed diverged (no metric): 0.2 wins, not 0.4."""
    rows = [{"candidate": f"lr={lr}", "lr": lr, "method": m, "seed": s, "val/map": v}
            for lr, values in ((0.4, {"sigmoid": [0.9, 0.9], "softmax": [0.9, float("nan")]}),
                               (0.2, {"sigmoid": [0.8, 0.8], "softmax": [0.8, 0.8]}))
            for m, vs in values.items() for s, v in enumerate(vs)]
    assert cv.best_shared(pd.DataFrame(rows)).lr == 0.2


def test_the_fraction_stage_chooses_the_shared_lr_at_each_fraction(tmp_path):
    """Stage 5 reads the stand-in's recorded loss and length, trains Sigmoid and Softmax at each lr
    and fraction on the protocol's seeds, and records its table and the lr per fraction."""
    out = tmp_path / "convergence" / "real_like" / "smoke"
    out.mkdir(parents=True)
    (out / "choice.json").write_text(json.dumps({"optim.bce": "mean", "optim.steps": 8}))
    chosen = cv.fraction_stage("real_like", [0.5], "smoke", tmp_path, jobs=1, log=lambda *a, **k: None)
    table = pd.read_csv(out / "fractions.csv")
    assert set(table.method) == {"sigmoid", "softmax"} and set(table.seed) == set(cv.SEEDS)
    assert set(table.fraction) == {0.5} and set(table.steps) == {8} and set(table.lr) == set(cv.SMOKE["lrs"]["mean"])
    assert chosen["fraction_lrs"] == {"0.5": cv.SMOKE["lrs"]["mean"][0]}
    assert json.loads((out / "fraction_lrs.json").read_text()) == chosen


def test_01s_lr_per_fraction_is_stage_5s_recorded_choice_and_100_percent_keeps_the_shared_lr():
    from milelib.experiments import imagenet_fractions as table1

    recorded = json.loads((Path(__file__).parents[1] / "results/convergence/real_like/quick/fraction_lrs.json")
                          .read_text())["fraction_lrs"]
    assert {float(f): lr for f, lr in recorded.items()} == table1.FRACTION_LRS["quick"]
    points = table1.EXPERIMENT.points_for("quick")
    assert {f: points[f"Softmax, {table1.pct(f)}"]["optim.lr"] for f in table1.FRACTION_LRS["quick"]} \
        == table1.FRACTION_LRS["quick"]
    assert "optim.lr" not in points["MILe, 100%"]  # the profile's lr: the runs of notebooks 04, 05 and 07
