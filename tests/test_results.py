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


def test_undefined_numbers_are_written_as_null_and_read_back_as_nan(tmp_path):
    import math

    import numpy as np

    path = tmp_path / "result.json"
    R.atomic_write_json(path, {"metrics": {"real_accuracy": float("nan"), "map": np.float64("inf"), "f1": 0.5,
                                           "per_class": [np.float32("nan"), 1.0]}})
    text = path.read_text()
    stored = json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in {text}"))  # strict JSON
    assert stored == {"metrics": {"real_accuracy": None, "map": None, "f1": 0.5, "per_class": [None, 1.0]}}
    back = R.undefined_as_nan(stored["metrics"])
    assert math.isnan(back["real_accuracy"]) and back["f1"] == 0.5
    assert R.undefined_as_nan("n/a") == "n/a"  # not a mapping: left for its reader to refuse


@pytest.mark.parametrize("code, fails, fix", [  # where the temporary file is made, or where it is renamed
    (30, "tempfile.mkstemp", r"cannot write .*metrics.json \(Read-only file system\): choose a folder on a writable "
                             r"disk and rerun$"),
    (13, "tempfile.mkstemp", r"cannot write .*metrics.json \(Permission denied\): choose a folder you may write to, "
                             r"or fix its permissions, and rerun$"),
    (28, "os.replace", r"disk full while writing .*metrics.json: the previous file is kept unchanged; free some space "
                       r"and rerun$"),
])
def test_a_failed_write_names_its_file_and_the_fix_in_one_line(tmp_path, monkeypatch, code, fails, fix):
    path = tmp_path / "metrics.json"
    R.atomic_write_json(path, {"old": True})

    def fail(*args, **kwargs):  # as the system says it: naming the temporary file, not the one being written
        raise OSError(code, os.strerror(code), str(tmp_path / ".metrics.json.x.tmp"))

    monkeypatch.setattr(fails, fail)
    with pytest.raises(OSError, match=fix) as err:
        R.atomic_write_json(path, {"new": True})
    assert err.value.errno == code and ".tmp" not in str(err.value) and "\n" not in str(err.value)
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_file_where_the_folder_goes_is_named(tmp_path):
    (tmp_path / "results").write_text("")
    with pytest.raises(OSError, match=r"cannot write .*results/run/metrics.json \(.*\): a file stands where a folder "
                                      r"is needed: move it aside or choose another folder$"):
        R.atomic_write_json(tmp_path / "results" / "run" / "metrics.json", {})
