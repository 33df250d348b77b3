"""Notebook 08's protocol: settings are chosen on validation mAP over the development seeds, never on
test numbers; a MILe variant is kept only if it beats the paper's MILe on validation; the final
stage runs the chosen settings on other seeds."""
from __future__ import annotations

import pytest

from milelib import experiments
from milelib.experiments import controls

sp = experiments.get("single_positive")
BASE = sp.EXPERIMENT.config("quick")


def fake_sweep(val, test=lambda *a: 0.5):
    """A selection sweep's table without training: val/map and (test) map from functions of
    (stand-in, method, candidate index, seed)."""
    import pandas as pd

    rows = []
    for stand_in, points in sp.selection_points("quick", BASE).items():
        index = {}
        for label in points:
            method, candidate = label.split(" · ")
            i = index[method] = index.get(method, -1) + 1
            for seed in sp.DEV_SEEDS["quick"]:
                rows.append({"stand_in": stand_in, "label": label, "seed": seed,
                             "val/map": val(stand_in, method, i, seed), "map": test(stand_in, method, i, seed)})
    return pd.DataFrame(rows)


def test_each_method_keeps_its_best_candidate_on_validation_never_on_test():
    # validation favours each method's last candidate (by a margin only the mean over seeds shows),
    # the test numbers its first: the selection must follow validation
    def val(s, m, i, seed):
        return 0.5 + 0.02 * i + (0.05 if seed == 0 and i == 0 else 0.0)  # seed 0 alone prefers candidate 0

    def test(s, m, i, seed):
        return 0.9 - 0.1 * i

    chosen = sp.select(fake_sweep(val, test), "quick", BASE)
    assert chosen["dev_seeds"] == [0, 1, 2] and chosen["metric"] == "val/map"
    for stand_in, cfg in sp.stand_in_configs(BASE, "quick").items():
        cands = sp.candidates("quick", cfg, stand_in)
        for method, picked in chosen["chosen"][stand_in].items():
            last = list(cands[method])[-1]
            assert picked["candidate"] == last, (stand_in, method)
            assert picked["settings"] == cands[method][last]


def test_a_mile_variant_is_kept_only_if_it_beats_mile_on_validation():
    def val(s, m, i, seed):  # on Multi-MNIST variant (b) beats MILe; on ReaL-like no variant does
        if m == sp.MILE:
            return 0.70
        return 0.75 if (s, m) == ("Multi-MNIST", sp.VARIANTS[1]) else 0.60

    final = sp.select(fake_sweep(val), "quick", BASE)["final"]
    assert list(final["ReaL-like"]) == [*sp.SPML, sp.MILE, *sp.FRAME]
    assert list(final["Multi-MNIST"]) == [*sp.SPML, sp.MILE, sp.VARIANTS[1], *sp.FRAME]
    assert final["Multi-MNIST"][sp.VARIANTS[1]]["method.negatives"] == "weak"
    assert final["ReaL-like"]["Oracle (true sets)"] == {"method": "oracle"}


def test_the_final_stage_refuses_development_seeds():
    sp.check_final_seeds("quick", [10, 11, 12])
    with pytest.raises(ValueError, match=r"development seed\(s\) \[2\]"):
        sp.check_final_seeds("quick", [2, 10])


def test_candidates_scale_with_the_run_and_the_stand_in():
    cfgs = sp.stand_in_configs(BASE, "quick")
    real, multi = (sp.candidates("quick", cfgs[s], s) for s in ("ReaL-like", "Multi-MNIST"))
    # EPR's k around each stand-in's validation label count (1.25 and 6.1 labels per grid)
    assert [c["method.expected_positives"] for c in real["EPR"].values()] == pytest.approx([0.62, 1.25, 1.87], abs=0.01)
    assert [c["method.expected_positives"] for c in multi["EPR"].values()] == pytest.approx([3.05, 6.11, 9.16], abs=0.01)
    # 3,200 steps of 156 full batches of 64 an epoch start 21 epochs: LL's share reaches s/2, s and 2s
    # times the hidden-positive share h = (k - 1) / 10 in the last (h = 2.5% and 51%), s the share
    # chosen on validation (2 on ReaL-like), none beyond the unannotated 90% of the entries; EM + APL
    # pseudo-labels from the 11th (half, as the authors' 5 of 10), 0.9 of the true negative share
    # (Multi-MNIST trains as notebook 06's profile does: 12,800 steps, 83 epochs started)
    assert BASE.optim.steps == 3_200 and BASE.data.train // BASE.optim.batch_size == 156
    assert cfgs["Multi-MNIST"].optim.steps == 12_800 and cfgs["Multi-MNIST"].optim.lr == 0.2
    for cands, h, s, epochs in ((real, 0.0247, 2.0, 21), (multi, 0.5107, controls.LL_SHARES["multi_mnist"], 83)):
        expected = [f * s * h / (epochs - 1) for f in (0.5, 1, 2) if f * s * h < 0.9]
        assert [c["method.delta_rel"] for c in cands["LL-R"].values()] == pytest.approx(expected, rel=0.01)
    assert len(multi["LL-R"]) == 2  # 2 x 1.0 x h would modify more than the unannotated entries
    assert controls.LL_SHARES["real_like"] == 2.0
    assert {c["method.warmup_epochs"] for c in real["EM+APL"].values()} == {10}
    assert [c["method.neg_proportion"] for c in real["EM+APL"].values()] == pytest.approx([0.9 * 8.753 / 9] * 6, abs=1e-3)
    assert [c["method.neg_proportion"] for c in multi["EM+APL"].values()] == pytest.approx([0.9 * 3.893 / 9] * 6, abs=1e-3)
    every = [s for c in real.values() for s in c.values()]
    assert all(sp.EXPERIMENT.config("quick", {**sp.stand_in_settings("quick")["Multi-MNIST"], **s}) for s in every)  # all valid
    assert {s["method"] for s in every} == {"sigmoid", "an_ls", "wan", "epr", "role", "ll_r", "ll_ct", "em_apl",
                                            "boost_lu", "gr_loss", "mile"}
    assert sum(map(len, real.values())) == 68
    # BoostLU runs LL-R at the stand-in's chosen share (LL-R's middle candidate) on the CAM head
    for cands in (real, multi):
        ll_r = [c["method.delta_rel"] for c in cands["LL-R"].values()][1]
        assert {c["method.delta_rel"] for c in cands["BoostLU"].values()} == {ll_r}
        assert {c["model.head"] for c in [*cands["BoostLU"].values(), *cands["LL-R, CAM head"].values()]} == {"cam"}
    # the authors' switches: sampled targets without rho, a warm-up of a quarter of the run
    assert all("method.rho" not in c for c in real[sp.VARIANTS[3]].values())
    assert {c["method.warmup_steps"] for c in multi[sp.VARIANTS[4]].values()} == {3_200}


def test_the_claims_compare_mile_with_sigmoid_and_the_spml_loss_best_on_validation():
    import pandas as pd

    # EPR has the best test mAP, WAN the best validation mAP: the comparator is WAN, chosen on validation
    rows = [{"stand_in": "ReaL-like", "label": label, "seed": seed, "map": value + 0.01 * seed, "val/map": val}
            for label, value, val in ((sp.AN, 0.80, 0.80), ("WAN", 0.85, 0.86), ("EPR", 0.90, 0.70), (sp.MILE, 0.78, 0.78))
            for seed in (10, 11, 12)]
    found = sp.claims(pd.DataFrame(rows))
    answer = found[found.paper != "published order"]
    assert answer["claim"].tolist() == [f"{sp.MILE} beats {sp.AN} on mAP",
                                        f"{sp.MILE} beats WAN (best SPML on validation) on mAP"]
    assert answer["gap"].tolist() == pytest.approx([-2.0, -7.0])  # the same on every seed: a zero-width interval
    assert answer["verdict"].tolist() == ["contradicted", "contradicted"]
    assert answer["low"].tolist() == pytest.approx([-2.0, -7.0]) and answer["seeds"].tolist() == [3, 3]
    said = sp.conclusion(found)
    assert "No: on no stand-in does MILe, or a kept variant, beat the best SPML loss on test mAP." in said
    assert f"ReaL-like: {sp.MILE} beats {sp.AN} on mAP, contradicted (-2.00)" in said
    found.loc[0, "verdict"] = "holds"  # beating AN alone is no "yes"
    assert "No: on no stand-in" in sp.conclusion(found)
    found.loc[1, "verdict"] = "holds"
    assert f"Yes, in ReaL-like: {sp.MILE} beats WAN (best SPML on validation) on mAP." in sp.conclusion(found)
    found["verdict"] = "untestable here"
    assert sp.conclusion(found).endswith("ReaL-like: untestable, a positive control failed there.")


def test_a_stored_selection_is_extended_by_the_candidates_it_lacks(tmp_path, monkeypatch):
    # a selection stored before GR-Loss existed, holding a candidate no longer tried: only GR-Loss's
    # candidates train, the stale one is dropped, and the choice is made again over all of them
    import json

    def val(s, m, i, seed):
        return 0.99 if (m, i) == ("GR-Loss", 1) else 0.5 + 0.01 * i

    full = fake_sweep(val)
    stored = sp.select(full, "quick", BASE)
    stale = {**stored["candidates"][0], "candidate": "gone", "hash": "0" * 12, "val_map": 1.0}
    stored["candidates"] = [r for r in stored["candidates"] if r["method"] != "GR-Loss"] + [stale]
    stored.update(git={"revision": "abc"}, wall_time_s=1.0, runs=300)
    path = tmp_path / "selection.json"
    path.write_text(json.dumps(stored))
    asked = []

    def run_stage(points, base, profile, seeds, store, **kwargs):
        asked.append(points)
        labels = {label for chosen in points.values() for label in chosen}
        return full[full.label.isin(labels)].copy()

    monkeypatch.setattr(sp, "run_stage", run_stage)
    got = sp.selection("quick", BASE, tmp_path, path, rerun=False)
    assert {m.split(" · ")[0] for chosen in asked[0].values() for m in chosen} == {"GR-Loss"}
    assert sum(map(len, asked[0].values())) == 6  # 3 candidates on each stand-in
    assert got["chosen"]["ReaL-like"]["GR-Loss"]["candidate"] == "w_max=4" and "GR-Loss" in got["final"]["ReaL-like"]
    assert "gone" not in {r["candidate"] for r in got["candidates"]}
    assert got["runs"] == 300 and got["extended"][0]["candidates"] == 6
    assert json.loads(path.read_text()) == json.loads(json.dumps(got))
    asked.clear()
    assert sp.selection("quick", BASE, tmp_path, path, rerun=False)["chosen"] == got["chosen"] and not asked  # complete now


def test_the_published_ordering_is_set_beside_ours():
    import pandas as pd

    # ours: LL-R above AN by 1 point on every seed; EM+APL and BoostLU tie with AN (gaps +-0.5 by seed)
    values = {sp.AN: 0.80, "LL-R": 0.81, "EM+APL": 0.80, "BoostLU": 0.80}
    rows = [{"stand_in": "ReaL-like", "label": label, "seed": seed,
             "map": value + (0.005 * (-1) ** seed if label in ("EM+APL", "BoostLU") else 0)}
            for label, value in values.items() for seed in (10, 11, 12, 13)]
    got = pd.DataFrame(sp.published_ordering(pd.DataFrame(rows))).set_index("claim")
    assert len(got) == 6 and set(got.stand_in) == {"ReaL-like"}  # every pair of the four published methods
    assert got.loc["LL-R above AN (Sigmoid) (as published on VOC, COCO, NUS)", "verdict"] == "holds"
    assert got.loc["LL-R above AN (Sigmoid) (as published on VOC, COCO, NUS)", "gap"] == pytest.approx(1.0)
    # EM+APL is above LL-R on VOC and COCO, below on NUS: the order of the majority, the datasets named
    assert got.loc["EM+APL above LL-R (as published on VOC, COCO)", "verdict"] == "contradicted"
    assert got.loc["BoostLU above EM+APL (as published on VOC, COCO, NUS)", "verdict"] == "inconclusive"
