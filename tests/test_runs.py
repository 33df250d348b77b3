"""Runs finished with the same config are read back; others are (re)trained."""
import milelib.runs as runs_module
from milelib.runs import run_methods, slug

METHODS = {"Sigmoid": dict(method="sigmoid")}


def counting(monkeypatch):
    calls, real = [], runs_module.train

    def train(cfg):
        calls.append(cfg.seed)
        return real(cfg)

    monkeypatch.setattr(runs_module, "train", train)
    return calls


def test_finished_runs_are_skipped_and_changed_ones_rerun(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    first = run_methods(METHODS, "smoke", (0, 1), tmp_path)
    assert calls == [0, 1]
    again = run_methods(METHODS, "smoke", (0, 1), tmp_path)
    assert calls == [0, 1] and again == first  # both read back, identical

    (tmp_path / "sigmoid" / "seed1" / "result.json").unlink()  # an incomplete run
    run_methods(METHODS, "smoke", (0, 1), tmp_path)
    assert calls == [0, 1, 1]

    import shutil
    shutil.rmtree(tmp_path / "sigmoid" / "seed0")
    changed = run_methods(METHODS, "smoke", (0,), tmp_path, rho=0.3)  # another config: trained anew
    assert calls == [0, 1, 1, 0] and changed[0]["config_hash"] != first[0]["config_hash"]


def test_slug():
    assert slug("MILe (released code)") == "mile-released-code"
    assert slug("Oracle (BCE on true sets)") == "oracle-bce-on-true-sets"
