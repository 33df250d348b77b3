"""Results are written atomically and carry their provenance."""
import json
import os

import pytest

from milelib import results as R


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "metrics.json"
    R.atomic_write_json(path, {"a": 1})
    R.atomic_write_json(path, {"a": 2, "b": [1, 2]})
    assert json.loads(path.read_text()) == {"a": 2, "b": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left behind
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # readable like any file, not mkstemp's 0600


def test_interrupted_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    R.atomic_write_json(path, {"old": True})

    def fail(*args):  # the disk fills (or the run is stopped) just before the rename
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match=r"disk full while writing .*metrics.json: the previous file is kept unchanged"):
        R.atomic_write_json(path, {"new": True})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_save_results_writes_metrics_and_provenance(tmp_path):
    R.save_results(tmp_path, {"records": [{"f1@0.25": 0.5}]}, {"Sigmoid": {"lr": 0.2}}, 12.34, profile="smoke")
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"records": [{"f1@0.25": 0.5}]}
    assert prov["configs"] == {"Sigmoid": {"lr": 0.2}} and prov["wall_time_s"] == 12.3
    assert prov["profile"] == "smoke" and prov["device"]["kind"] in ("cpu", "cuda")
    assert set(prov["git"]) == {"revision", "clean"} and prov["packages"]["torch"]
