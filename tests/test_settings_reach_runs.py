"""A notebook's SETTINGS reach every run it trains: naming the method a run already has keeps the
settings given for it (`RunConfig.override`), so {"method.variant": "algorithm1"} is never dropped
from a MILe point, and a setting of another part reaches every point."""
from __future__ import annotations

import pytest

from milelib import RunConfig, experiments

SETTINGS = {"method.variant": "algorithm1", "method.iterative_groundtruth": True, "optim.weight_decay": 1e-3}
POINT_NOTEBOOKS = ["imagenet_fractions", "webvision", "kt_ks_heatmap", "rho_sweep", "multi_mnist", "distillation"]


def check_points(base: RunConfig, points: dict[str, dict]) -> int:
    """Every setting of SETTINGS that a point does not vary itself (notebook 06's points are the
    two variants) holds in the point's config; the number of MILe points."""
    miles = 0
    for label, point in points.items():
        cfg = base.override(point)
        assert cfg.optim.weight_decay == 1e-3, label
        if cfg.method.name == "mile":
            miles += 1
            for key in set(SETTINGS) - set(point) - {"optim.weight_decay"}:
                assert getattr(cfg.method, key.split(".")[1]) == SETTINGS[key], (label, key)
    return miles


@pytest.mark.parametrize("name", POINT_NOTEBOOKS)
def test_settings_reach_every_point(name):
    exp = experiments.get(name).EXPERIMENT
    for profile in ("smoke", "quick"):
        base = exp.config(profile, SETTINGS)
        assert check_points(base, exp.points_for(profile, base)) > 0, (name, profile)


def test_settings_reach_notebook_03s_fine_tuning_and_students():
    module = experiments.get("self_supervised")
    base = module.EXPERIMENT.config("quick", SETTINGS)
    encoders = {module.SCRATCH: None, module.SEMI_CHECKPOINT["quick"]: "enc.pt"}
    assert check_points(base, module.finetune_points("quick", base, encoders)) > 0
    students = module.student_points("quick", base, encoders, {})
    assert check_points(base, {k: {**v, "model.pretrained": None} for k, v in students.items()}) > 0


def test_settings_reach_notebook_08s_candidates():
    module = experiments.get("single_positive")
    base = module.EXPERIMENT.config("smoke", SETTINGS)
    for stand_in, cfg in module.stand_in_configs(base, "smoke").items():
        found = module.candidates("smoke", cfg, stand_in)
        points = {f"{m} {c}": s for m, by in found.items() for c, s in by.items()}
        assert check_points(cfg, points) > 0, stand_in


def test_naming_the_chosen_method_keeps_its_settings_and_switching_resets_them():
    cfg = RunConfig().override({"method.rho": 0.1, "method.variant": "algorithm1"})
    assert cfg.override({"method": "mile"}).method == cfg.method
    assert cfg.override({"method": "mile"}).config_hash() == cfg.config_hash()
    assert cfg.override({"method": "sigmoid"}).override({"method": "mile"}).method.rho == 0.25  # switched away: defaults
    assert cfg.override({"model": "small_cnn", "model.width": 4}).model.width == 4


def test_settings_may_not_name_what_each_run_decides():
    for key in ("seed", "run.out_dir"):
        with pytest.raises(ValueError, match=f"SETTINGS sets {key}, which the notebook decides for each run"):
            experiments.check_parameters({"PROFILE": "quick", "SETTINGS": {key: 5}})
