"""`milelib reproduce`: executed copies appear only once a notebook has run through; a failure or a
Ctrl-C leaves no half-executed notebook; two batches never share a temporary file; and notebook
parameters are checked in the library."""
import os

import papermill
import pytest

from milelib import experiments
from milelib.reproduce import NotebookFailed, reproduce


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_first", "02_second"):
        (folder / f"{name}.ipynb").write_text("{}")
    return folder


def fake_papermill(monkeypatch, fail_on=None, error=KeyboardInterrupt):
    written = []

    def execute(source, target, **kwargs):
        written.append((source, target, kwargs["parameters"]))
        with open(target, "w") as f:
            f.write("half")  # papermill writes the output notebook as it goes
        if fail_on and fail_on in source:
            raise error
        with open(target, "w") as f:
            f.write("whole")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    return written


def test_every_notebook_lands_whole_in_its_profile_folder(tmp_path, notebooks, monkeypatch):
    written = fake_papermill(monkeypatch)
    done = reproduce("smoke", tmp_path / "results", notebooks, log=lambda *a, **k: None)
    assert [p.relative_to(tmp_path) for p in done] == [
        tmp_path.joinpath("results/01_first/smoke/01_first.ipynb").relative_to(tmp_path),
        tmp_path.joinpath("results/02_second/smoke/02_second.ipynb").relative_to(tmp_path)]
    assert all(p.read_text() == "whole" for p in done)
    assert all(f".{os.getpid()}.tmp.ipynb" in target for _, target, _ in written)  # unique to this process
    assert written[0][2] == {"PROFILE": "smoke"}  # results/ beside notebooks/: the notebooks' own default
    assert not list((tmp_path / "results").rglob("*.tmp.ipynb"))


def test_another_results_folder_is_passed_to_the_notebooks(tmp_path, notebooks, monkeypatch):
    written = fake_papermill(monkeypatch)
    reproduce("quick", tmp_path / "elsewhere", notebooks, log=lambda *a, **k: None)
    assert {w[2]["RESULTS_DIR"] for w in written} == {str((tmp_path / "elsewhere").resolve())}
    assert (tmp_path / "elsewhere/02_second/quick/02_second.ipynb").read_text() == "whole"


@pytest.mark.parametrize("error", [KeyboardInterrupt, papermill.PapermillExecutionError(
    cell_index=3, exec_count=4, source="x", ename="ValueError", evalue="unknown profile 'fast'", traceback=[])])
def test_a_stopped_or_failed_batch_leaves_no_half_executed_notebook(tmp_path, notebooks, monkeypatch, error):
    fake_papermill(monkeypatch, fail_on="02_second", error=error)
    expected = KeyboardInterrupt if error is KeyboardInterrupt else NotebookFailed
    with pytest.raises(expected) as err:
        reproduce("smoke", tmp_path / "results", notebooks, log=lambda *a, **k: None)
    if expected is NotebookFailed:
        assert str(err.value) == "02_second.ipynb failed in cell 4: ValueError: unknown profile 'fast'"
    assert (tmp_path / "results/01_first/smoke/01_first.ipynb").read_text() == "whole"
    assert not (tmp_path / "results/02_second/smoke/02_second.ipynb").exists()
    assert not list((tmp_path / "results").rglob("*.tmp.ipynb"))


PARAMETERS = {"PROFILE": "quick", "SEEDS": None, "RESULTS_DIR": "../results", "DATA_ROOT": None, "JOBS": None}


@pytest.mark.parametrize("given", [{}, {"SEEDS": 0}, {"SEEDS": [0, 1]}, {"JOBS": 2}, {"DATA_ROOT": "/data"},
                                   {"In": [], "_i1": "x", "get_ipython": print}])
def test_good_notebook_parameters_pass(given):
    experiments.check_parameters({**PARAMETERS, **given})


@pytest.mark.parametrize("given, message", [
    ({"SEED": 1}, r"unknown notebook parameter 'SEED': did you mean SEEDS\? the parameters are PROFILE, SEEDS"),
    ({"PROFILES": "smoke"}, r"unknown notebook parameter 'PROFILES': did you mean PROFILE\?"),
    ({"EPOCHS": 3}, r"unknown notebook parameter 'EPOCHS': the parameters are"),
    ({"SEEDS": "0,1"}, r"notebook parameter SEEDS is '0,1': it takes None, a seed or a list of seeds"),
    ({"SEEDS": []}, r"notebook parameter SEEDS is \[\]"),
    ({"SEEDS": [0, 0]}, r"notebook parameter SEEDS is \[0, 0\]"),
    ({"SEEDS": [-1]}, r"notebook parameter SEEDS is \[-1\]"),
    ({"SEEDS": 1.5}, r"notebook parameter SEEDS is 1.5"),
    ({"JOBS": 0}, r"notebook parameter JOBS is 0: it takes None or an int >= 1"),
    ({"PROFILE": "fast"}, r"notebook parameter PROFILE is 'fast': it takes one of smoke, quick, paper"),
    ({"RESULTS_DIR": ""}, r"notebook parameter RESULTS_DIR is ''"),
    ({"DATA_ROOT": 3}, r"notebook parameter DATA_ROOT is 3"),
])
def test_unknown_or_mistyped_notebook_parameters_fail_in_one_line(given, message):
    with pytest.raises(ValueError, match=message) as err:
        experiments.check_parameters({**PARAMETERS, **given})
    assert "\n" not in str(err.value)
