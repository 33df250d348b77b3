"""Every notebook: generated from its jupytext source, committed without outputs, executed by nbval
on a smoke-profile copy, and what it recorded."""
import json
import subprocess
import sys
from pathlib import Path

import papermill
import pytest
import torch

from milelib import experiments

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VERDICTS = ("holds", "contradicted", "inconclusive", "untestable here")
CONTROL_VERDICTS = ("holds", "contradicted", "inconclusive", "fails", "not measured", "not measured for these settings")
EXPECTED = set(experiments.names().values())  # the registry's: one experiment module per notebook


def test_every_registered_notebook_is_there_with_its_source():
    assert {"01_imagenet_fractions", "06_multi_mnist", "08_single_positive"} <= EXPECTED  # the registry found them
    assert EXPECTED == {nb.stem for nb in NOTEBOOKS}
    assert {nb.stem for nb in NOTEBOOKS} == {py.stem for py in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")}


def test_committed_notebooks_agree_with_their_sources():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_notebooks.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_notebooks_are_committed_without_outputs():
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), nb.name
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), nb.name
        assert not any("def " in "".join(c["source"]) or "class " in "".join(c["source"]) for c in code), nb.name


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_on_smoke_profile(notebook, tmp_path):
    # nbval ignores papermill parameters, so it runs a copy that papermill prepared.
    results = tmp_path / "results"
    copy = tmp_path / notebook.name
    papermill.execute_notebook(str(notebook), str(copy), prepare_only=True, kernel_name="python3",
                               parameters={"PROFILE": "smoke", "RESULTS_DIR": str(results)})
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider",
                          str(copy)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    folder = results / notebook.stem / "smoke"
    recorded = json.loads((folder / "metrics.json").read_text())
    provenance = json.loads((folder / "provenance.json").read_text())
    assert recorded["profile"] == "smoke" and provenance["profile"] == "smoke"
    assert provenance["git"]["revision"] and provenance["packages"]["torch"]
    scored = [r for r in recorded["records"] if r.get("stage") != "encoder"]  # pretraining has no classifier
    assert scored and all(0 <= r["f1@0.5"] <= 1 and 0 <= r["map"] <= 1 for r in scored)
    assert recorded["claims"] and all(c["verdict"] in VERDICTS for c in recorded["claims"])
    assert recorded["controls"] and all(c["verdict"] in CONTROL_VERDICTS for c in recorded["controls"])
    assert (results / "runs" / "smoke").is_dir()  # the shared run store, per profile
    assert (folder / "claims_forest.png").stat().st_size > 5_000  # every claim in one picture
    if notebook.stem == "06_multi_mnist":
        labels = {r["label"] for r in recorded["records"]}
        assert labels == {"Softmax", "Sigmoid", "MILe (released code)", "MILe (Algorithm 1)",
                          "Oracle (BCE on true sets)", "LL-R", "Predict every class"}
        assert len(recorded["claims"]) == 10
        assert (folder / "table5_example_grids.png").stat().st_size > 10_000
    if notebook.stem == "08_single_positive":
        selection = json.loads((folder / "selection.json").read_text())
        assert selection["dev_seeds"] == [0] and recorded["seeds"] == [10]  # development seeds never reported
        finals = {(r["stand_in"], r["label"]) for r in recorded["records"]}
        for stand_in in ("ReaL-like", "Multi-MNIST"):
            assert {"AN (Sigmoid)", "AN-LS", "WAN", "EPR", "ROLE", "LL-R", "LL-Ct", "EM+APL", "MILe",
                    "Oracle (true sets)", "Predict every class"} <= {label for s, label in finals if s == stand_in}
        assert (folder / "ranking_map.png").stat().st_size > 10_000
    if notebook.stem == "03_self_supervised":
        stages = {r["label"]: r["stage"] for r in recorded["records"]}
        assert {k for k, v in stages.items() if v == "encoder"} == {"SimCLR", "SimCLR 2x"}
        assert {k for k, v in stages.items() if v == "student"} == {
            "Distilled (2x teacher), SimCLR, 25%", "Self-distilled, SimCLR, 25%", "MILe + unlabelled, SimCLR, 25%"}
        encoders = list((results / "runs" / "smoke" / "simclr").glob("*/encoder.pth"))
        assert len(encoders) == 2 and all(set(torch.load(e)) == {"resnet", "head"} for e in encoders)


# The paper path of 01 and 02 on generated trees in ImageNet's and WebVision's layouts: every loader,
# both ResNets (and ResNet-50-D), every fraction, as a user with the data on disk runs it.
TINY = {"data.image_size": 32, "data.resize": 36, "optim.steps": 2, "optim.batch_size": 2, "optim.warmup_steps": 0,
        "method.teacher_steps": 1, "method.student_steps": 1, "run.threads": 1, "run.workers": 0, "run.progress": False,
        "run.device": "cpu"}  # the paper profiles ask for a GPU: on the CPU on purpose


@pytest.mark.parametrize("notebook", ["01_imagenet_fractions", "02_webvision"])
def test_paper_path_runs_on_generated_datasets(notebook, tmp_path):
    from milelib import fixtures

    imagenet = fixtures.imagenet(tmp_path / "imagenet")
    root = imagenet if notebook.startswith("01") else fixtures.webvision(tmp_path / "webvision")
    settings = {**TINY, **({"data.holdout_per_class": 1} if notebook.startswith("01")
                           else {"data.imagenet_root": str(imagenet)})}
    results = tmp_path / "results"
    papermill.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
                               parameters={"PROFILE": "paper", "DATA_ROOT": str(root), "SEEDS": 0,
                                           "RESULTS_DIR": str(results), "SETTINGS": settings})
    recorded = json.loads((results / notebook / "paper" / "metrics.json").read_text())
    records = recorded["records"]
    if notebook.startswith("01"):
        assert len(records) == 34  # 4 methods x 4 fractions x 2 models, and LL-R (a control) at 100% for each
        assert {r["model.name"] for r in records} == {"resnet50", "resnet18"}
        assert all(r["images"] == 9 and r["holdout/images"] == 3 and 0 <= r["f1@0.5"] <= 1 for r in records)
        one = next(r for r in records if r["label"] == "MILe, 1%, resnet18")
        assert len((Path(one["run_dir"]) / "train_files.txt").read_text().split()) == 3  # one per class
    else:
        assert [r["label"] for r in records] == list(__import__("milelib.experiments.webvision", fromlist=["x"]).PAPER_RUNS)
        assert all(r["images"] == 9 and r["imagenet/images"] == 9 and "f1@0.5" not in r for r in records)
    assert recorded["claims"] and all(c["verdict"] in VERDICTS for c in recorded["claims"])


def test_paper_path_of_03_fine_tunes_downloaded_checkpoints_on_generated_imagenet(tmp_path):
    from milelib import fixtures
    from milelib.experiments.self_supervised import CHECKPOINTS

    root = fixtures.imagenet(tmp_path / "imagenet")
    fixtures.ssl_checkpoints(root, {"moco": CHECKPOINTS["MoCo-v2"], "simclr": CHECKPOINTS["SimCLR-v2 (sk0)"]})
    results = tmp_path / "results"
    papermill.execute_notebook(str(ROOT / "notebooks" / "03_self_supervised.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="python3", cwd=str(ROOT / "notebooks"), progress_bar=False,
                               parameters={"PROFILE": "paper", "DATA_ROOT": str(root), "SEEDS": 0,
                                           "RESULTS_DIR": str(results),
                                           "SETTINGS": {**TINY, "data.holdout_per_class": 1}})
    recorded = json.loads((results / "03_self_supervised" / "paper" / "metrics.json").read_text())
    labels = {r["label"] for r in recorded["records"]}
    tuned = {f"{m}, {c}, {f}" for m in ("Sigmoid", "MILe") for c in ("MoCo-v2", "SimCLR-v2 (sk0)") for f in ("1%", "10%", "100%")}
    students = {f"{m}, SimCLR-v2 (sk0), {f}" for m in ("Self-distilled", "MILe + unlabelled") for f in ("1%", "10%")}
    assert labels == tuned | students | {"LL-R, SimCLR-v2 (sk0), 100%"}  # the checkpoints found (no 2x teacher
    assert recorded["controls"]                                                # under paper); LL-R: a control
    assert all(r["images"] == 9 and 0 <= r["f1@0.5"] <= 1 for r in recorded["records"])
    one = next(r for r in recorded["records"] if r["label"] == "Self-distilled, SimCLR-v2 (sk0), 1%")
    config = json.loads((Path(one["run_dir"]) / "result.json").read_text())["config"]
    assert config["method"]["teacher_run"] and config["data"]["unlabelled"] and config["model"]["pretrained"].endswith("r50_1x_sk0.pth")


def test_03_paper_students_fit_the_full_scale_schedule():
    # the CI path above runs 2 steps; at ImageNet's scale each student must still be a valid config
    from milelib import experiments

    exp = experiments.get("self_supervised")
    base = exp.EXPERIMENT.config("paper", data_root="/data")
    encoders = {"SimCLR-v2 (sk0)": "/data/checkpoints/r50_1x_sk0.pth"}
    points = exp.student_points("paper", base, encoders, {"Sigmoid, SimCLR-v2 (sk0), 1%": "/runs/teacher"})
    assert set(points) == {"Self-distilled, SimCLR-v2 (sk0), 1%", "MILe + unlabelled, SimCLR-v2 (sk0), 1%",
                           "MILe + unlabelled, SimCLR-v2 (sk0), 10%"}
    distil = points["Self-distilled, SimCLR-v2 (sk0), 1%"]
    assert distil["method.student_steps"] == distil["optim.steps"] == round(base.optim.steps * 0.01 * 60 / 100)
    mile = base.override(points["MILe + unlabelled, SimCLR-v2 (sk0), 1%"])
    assert mile.method.teacher_steps + mile.method.student_steps < mile.optim.steps


def test_a_smoke_session_says_its_numbers_prove_the_wiring_only(tmp_path, capsys):
    from milelib.experiments import Session
    from milelib.experiments.session import SMOKE_BANNER

    params = {"PROFILE": "smoke", "SEEDS": None, "RESULTS_DIR": str(tmp_path), "DATA_ROOT": None, "JOBS": None,
              "SETTINGS": {}, "LAUNCHER": "local", "GPUS": 1, "SELECT": False}
    Session.from_parameters("multi_mnist", params)
    assert SMOKE_BANNER in capsys.readouterr().out
    Session.from_parameters("multi_mnist", {**params, "PROFILE": "quick"})
    assert "SMOKE PROFILE" not in capsys.readouterr().out


def test_saving_in_jupyterlab_leaves_the_notebooks_as_committed(tmp_path):
    """What an autosave does: the jupytext contents manager JupyterLab runs saves each notebook with
    the kernel's spec and language info (a kernel starts when a notebook opens); both files of
    each pair stay as committed (the .ipynb up to the Python version, which follows the kernel)."""
    import asyncio
    import shutil

    from ipykernel.ipkernel import IPythonKernel
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
    from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

    sys.path.insert(0, str(ROOT / "tools"))
    from sync_notebooks import comparable

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copy2(ROOT / "jupytext.toml", tmp_path)
    manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)(root_dir=str(tmp_path))

    async def save_each():
        for name in (nb.stem for nb in NOTEBOOKS):
            model = await manager.get(f"notebooks/{name}.ipynb", content=True)
            model["content"]["metadata"]["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
            model["content"]["metadata"]["language_info"] = dict(IPythonKernel.language_info)
            await manager.save(model, f"notebooks/{name}.ipynb")

    asyncio.run(save_each())
    for name in (nb.stem for nb in NOTEBOOKS):
        assert (tmp_path / "notebooks" / f"{name}.py").read_bytes() == (ROOT / "notebooks" / f"{name}.py").read_bytes()
        saved, committed = ((folder / "notebooks" / f"{name}.ipynb").read_text() for folder in (tmp_path, ROOT))
        assert comparable(saved) == comparable(committed), name


SMOKE_PARAMETERS = {"PROFILE": "smoke", "SEEDS": None, "DATA_ROOT": None, "JOBS": None, "SETTINGS": {},
                    "LAUNCHER": "local", "GPUS": 1, "SELECT": False}


AXES = {"imagenet_fractions": ("data.fraction", 0.5), "webvision": ("data.label_noise", 0.2),
        "self_supervised": ("data.fraction", 0.5), "kt_ks_heatmap": ("method.teacher_steps", 7),
        "rho_sweep": ("method.rho", 0.2), "multi_mnist": ("method.variant", "algorithm1"),
        "distillation": ("method.teacher_steps", 7), "single_positive": ("method.rho", 0.2)}  # a key its runs set


def test_every_notebook_names_an_axis_for_the_test_below():
    assert set(AXES) == set(experiments.names())


@pytest.mark.parametrize("name", sorted(AXES))
def test_settings_naming_what_the_runs_set_themselves_are_refused(name, tmp_path):
    # 05's points set method.rho (its axis): SETTINGS={"method.rho": 0.2} would change no run, silently
    from milelib.experiments import Session

    key, value = AXES[name]
    notebook = experiments.names()[name]
    with pytest.raises(ValueError, match=rf"SETTINGS sets {key}, which the runs of {notebook} set themselves"):
        Session.from_parameters(name, {**SMOKE_PARAMETERS, "PROFILE": "quick", "RESULTS_DIR": str(tmp_path),
                                       "SETTINGS": {key: value}})
    Session.from_parameters(name, {**SMOKE_PARAMETERS, "PROFILE": "quick", "RESULTS_DIR": str(tmp_path),
                                   "SETTINGS": {"optim.weight_decay": 1e-3}})  # a setting no run sets: taken


def test_a_setting_a_run_derives_from_the_base_is_not_refused():
    # 01's paper points scale the steps (and MILe's k_t, k_s) to their fraction from the base's: they
    # follow a given optim.steps, so it is not dropped; its quick points set each fraction's lr outright
    exp = experiments.get("imagenet_fractions").EXPERIMENT
    assert exp.overridden("paper", {"optim.steps": 400_000, "run.device": "cpu"}, "/data") == {}
    assert exp.overridden("quick", {"optim.lr": 0.3}) == {"optim.lr": [0.2, 0.4]}  # an axis: refused
    # notebook 03's distillation students take k_t = 0 by design: a given k_t reaches MILe's runs, and is said
    students = experiments.get("self_supervised").EXPERIMENT.overridden("quick", {"method.teacher_steps": 7})
    assert students == {"method.teacher_steps": [0]}


def test_05s_axis_is_named_in_the_refusal():
    from milelib.experiments import Session

    with pytest.raises(ValueError, match=r"SETTINGS sets method.rho, which the runs of 05_rho_sweep set themselves .*"
                                         r"change its values in milelib/experiments/rho_sweep.py"):
        Session(name="rho_sweep", profile="smoke", settings={"method.rho": 0.2})


def test_a_notebook_made_from_the_template_runs_under_smoke(tmp_path):
    """As a user adds one: `tools/new_notebook.py 99 ...` in a copy of the repository writes the
    experiment module and the notebook; the registry lists it, the sync check passes, and the
    notebook runs under smoke and records its controls and claims."""
    import os
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(ROOT / "milelib", root / "milelib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "notebooks").mkdir()
    for source in (ROOT / "notebooks").glob("[0-9][0-9]_*.*"):
        shutil.copy(source, root / "notebooks")
    env = {**os.environ, "PYTHONPATH": str(root)}
    made = subprocess.run([sys.executable, str(root / "tools" / "new_notebook.py"), "99", "ninety_nine", "A new question"],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    again = subprocess.run([sys.executable, str(root / "tools" / "new_notebook.py"), "99", "ninety_nine", "Again"],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 1 and "exists" in again.stderr and "never overwrites" in again.stderr
    listed = subprocess.run([sys.executable, "-c", "from milelib.experiments import names; print(names()['ninety_nine'])"],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.stdout.strip() == "99_ninety_nine", listed.stderr
    check = subprocess.run([sys.executable, str(root / "tools" / "sync_notebooks.py"), "--check"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    results = tmp_path / "results"
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(root)  # the kernel papermill starts inherits it
    try:
        papermill.execute_notebook(str(root / "notebooks" / "99_ninety_nine.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", cwd=str(root / "notebooks"), progress_bar=False,
                                   parameters={"PROFILE": "smoke", "RESULTS_DIR": str(results)})
    finally:
        os.environ.pop("PYTHONPATH") if old is None else os.environ.update(PYTHONPATH=old)
    recorded = json.loads((results / "99_ninety_nine" / "smoke" / "metrics.json").read_text())
    assert [c["claim"] for c in recorded["claims"]] == ["MILe above Sigmoid on mAP"]
    assert recorded["controls"] and {r["label"] for r in recorded["records"]} >= {"Sigmoid", "MILe", "LL-R"}
