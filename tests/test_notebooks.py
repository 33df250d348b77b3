"""Every notebook, executed by nbval on a smoke-profile copy, and what it recorded."""
import json
import subprocess
import sys
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_table5_notebook_is_found():
    assert "06_multi_mnist.ipynb" in [nb.name for nb in NOTEBOOKS]


def test_notebooks_are_committed_without_outputs():
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), nb.name
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), nb.name


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

    folder = results / notebook.stem
    recorded = json.loads((folder / "metrics.json").read_text())
    provenance = json.loads((folder / "provenance.json").read_text())
    assert recorded["profile"] == "smoke" and provenance["profile"] == "smoke"
    assert provenance["git"]["revision"] and provenance["packages"]["torch"]
    if notebook.stem == "06_multi_mnist":
        methods = {r["method"] for r in recorded["records"]}
        assert methods == {"Softmax", "Sigmoid", "MILe (released code)", "MILe (Algorithm 1)",
                           "Oracle (BCE on true sets)", "Predict every class"}
        for r in recorded["records"]:
            assert 0 <= r["f1@0.25"] <= 1 and 0 <= r["map"] <= 1
        assert len(recorded["claims"]) == 10
        assert (folder / "table5_example_grids.png").stat().st_size > 10_000
