"""`milelib reproduce`: executed copies appear only once a notebook has run through; a failure or a
Ctrl-C leaves no half-executed notebook; two batches never share a temporary file; and notebook
parameters are checked in the library."""
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

import milelib.reproduce as R
from milelib import experiments


def notebook(path, *sources):
    """A real notebook: a tagged parameters cell (PROFILE), then the given code cells."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('PROFILE = "quick"', metadata={"tags": ["parameters"]}),
                                         *map(nbformat.v4.new_code_cell, sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_first", "02_second"):
        notebook(folder / f"{name}.ipynb", "print(PROFILE)")
    return folder


def fake_execute(monkeypatch, fail_on=None, error=KeyboardInterrupt):
    calls = []

    def execute(nb, target, parameters, cwd):
        calls.append((nb.name, target, parameters))
        target.write_text("half")  # papermill writes the output notebook as it goes
        if fail_on and fail_on in nb.name:
            raise error
        target.write_text("whole")

    monkeypatch.setattr(R, "execute", execute)
    return calls


def quiet(*args, **kwargs):
    pass


def test_every_notebook_lands_whole_in_its_profile_folder(tmp_path, notebooks, monkeypatch):
    calls = fake_execute(monkeypatch)
    done = R.reproduce("smoke", tmp_path / "results", notebooks, log=quiet)
    assert done == [tmp_path / "results/01_first/smoke/01_first.ipynb", tmp_path / "results/02_second/smoke/02_second.ipynb"]
    assert all(p.read_text() == "whole" for p in done)
    assert all(target.name.endswith(f".{os.getpid()}.tmp.ipynb") for _, target, _ in calls)  # unique to this process
    assert calls[0][2] == {"PROFILE": "smoke"}  # results/ beside notebooks/: the notebooks' own default
    assert not list((tmp_path / "results").rglob("*.tmp.ipynb"))


def test_only_the_numbered_notebooks_run_and_an_unknown_number_is_refused(tmp_path, notebooks, monkeypatch):
    fake_execute(monkeypatch)
    done = R.reproduce("smoke", tmp_path / "results", notebooks, log=quiet, only=["02"])
    assert done == [tmp_path / "results/02_second/smoke/02_second.ipynb"]
    with pytest.raises(ValueError, match="unknown notebook number '09': choose one of 01, 02"):
        R.reproduce("smoke", tmp_path / "results", notebooks, log=quiet, only=["09"])


def test_another_results_folder_is_passed_to_the_notebooks(tmp_path, notebooks, monkeypatch):
    calls = fake_execute(monkeypatch)
    R.reproduce("quick", tmp_path / "elsewhere", notebooks, log=quiet)
    assert {c[2]["RESULTS_DIR"] for c in calls} == {str((tmp_path / "elsewhere").resolve())}


def test_jobs_launcher_gpus_and_settings_reach_every_notebook(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('PROFILE = "quick"\nJOBS = None\nLAUNCHER = "local"\nGPUS = 1\nSETTINGS = {}',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import json, pathlib\npathlib.Path('seen.json').write_text(json.dumps("
                                  "[PROFILE, JOBS, LAUNCHER, GPUS, SETTINGS]))")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "01_only.ipynb")
    R.reproduce("smoke", tmp_path / "results", folder, log=quiet, JOBS=3, LAUNCHER="torchrun", GPUS=2,
                SETTINGS={"optim.steps": 100, "run.workers": 12}, SELECT=None)
    seen = json.loads((folder / "seen.json").read_text())
    assert seen == ["smoke", 3, "torchrun", 2, {"optim.steps": 100, "run.workers": 12}]
    with pytest.raises(ValueError, match="notebook parameter GPUS is 0"):
        R.reproduce("smoke", tmp_path / "results", folder, log=quiet, GPUS=0)


@pytest.mark.parametrize("error", [KeyboardInterrupt, R.NotebookFailed("02_second.ipynb failed in cell 2: ...")])
def test_a_stopped_or_failed_batch_leaves_no_half_executed_notebook(tmp_path, notebooks, monkeypatch, error):
    fake_execute(monkeypatch, fail_on="02_second", error=error)
    with pytest.raises(KeyboardInterrupt if error is KeyboardInterrupt else R.NotebookFailed):
        R.reproduce("smoke", tmp_path / "results", notebooks, log=quiet)
    assert (tmp_path / "results/01_first/smoke/01_first.ipynb").read_text() == "whole"
    assert not (tmp_path / "results/02_second/smoke/02_second.ipynb").exists()
    assert not list((tmp_path / "results").rglob("*.tmp.ipynb"))


def test_a_failure_is_told_in_one_line_from_the_executed_copy(tmp_path):
    executed = tmp_path / "x.ipynb"
    executed.write_text(json.dumps({"cells": [
        {"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "stream", "text": "ok"}]},
        {"cell_type": "code", "execution_count": 2, "outputs": [
            {"output_type": "error", "ename": "ValueError", "evalue": "unknown profile 'x'\nmore", "traceback": []}]}]}))
    assert R.failure(tmp_path / "04_a.ipynb", executed, 1) == "04_a.ipynb failed in cell 2: ValueError: unknown profile 'x'"
    assert "failed before its first cell" in R.failure(tmp_path / "04_a.ipynb", tmp_path / "missing.ipynb", 1)


def test_an_unknown_profile_is_refused_before_any_notebook_runs(tmp_path, notebooks, monkeypatch):
    calls = fake_execute(monkeypatch)
    with pytest.raises(ValueError, match=r"unknown profile 'fast': choose one of smoke, quick, paper"):
        R.reproduce("fast", tmp_path / "results", notebooks, log=quiet)
    assert calls == []


def test_real_notebooks_through_papermill_and_a_failing_one(tmp_path, notebooks):
    notebook(notebooks / "03_fails.ipynb", "raise ValueError(f'no data for {PROFILE}')")
    # cell 3: the parameters cell, papermill's injected one, then the failing one
    with pytest.raises(R.NotebookFailed, match=r"^03_fails.ipynb failed in cell 3: ValueError: no data for smoke$"):
        R.reproduce("smoke", tmp_path / "results", notebooks, log=quiet)
    executed = json.loads((tmp_path / "results/01_first/smoke/01_first.ipynb").read_text())
    assert "".join(executed["cells"][-1]["outputs"][0]["text"]) == "smoke\n"  # PROFILE was injected
    assert not (tmp_path / "results/03_fails/smoke/03_fails.ipynb").exists()
    assert not list((tmp_path / "results").rglob("*.tmp.ipynb"))


def test_ctrl_c_stops_the_batch_and_leaves_no_half_executed_notebook(tmp_path, ctrl_c_as_in_a_terminal):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook(folder / "01_slow.ipynb", "import time; time.sleep(120)")
    notebook(folder / "02_next.ipynb", "print(PROFILE)")
    batch = subprocess.Popen([sys.executable, "-m", "milelib", "reproduce", "--profile", "smoke", "--notebooks",
                              str(folder), "--results-dir", str(tmp_path / "results")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not list((tmp_path / "results").rglob("*.tmp.ipynb")):  # papermill has written its first copy
        assert batch.poll() is None and time.time() < deadline, batch.stderr.read()
        time.sleep(0.1)
    time.sleep(2)
    os.killpg(batch.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
    out, err = batch.communicate(timeout=60)
    assert batch.returncode == 130, err
    assert err.strip().splitlines()[-1] == "milelib: stopped; rerun the same command to resume"
    assert not list((tmp_path / "results").rglob("*.ipynb"))  # neither a half copy nor the next notebook
    assert "02_next" not in out


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
