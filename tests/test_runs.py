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
    assert calls == [0, 1]  # both read back, identical but for the flag that says so
    assert [r["reused"] for r in first] == [False, False] and [r["reused"] for r in again] == [True, True]
    assert [{**r, "reused": None} for r in again] == [{**r, "reused": None} for r in first]
    assert all(r["train_wall_time_s"] > 0 for r in first)

    (tmp_path / "sigmoid" / f"seed1-{first[1]['config_hash']}" / "result.json").unlink()  # incomplete
    run_methods(METHODS, "smoke", (0, 1), tmp_path)
    assert calls == [0, 1, 1]

    changed = run_methods(METHODS, "smoke", (0,), tmp_path, rho=0.3)  # another config: its own folder
    assert calls == [0, 1, 1, 0] and changed[0]["config_hash"] != first[0]["config_hash"]
    assert sorted(p.name for p in (tmp_path / "sigmoid").iterdir()) == sorted(
        f"seed{r['seed']}-{r['config_hash']}" for r in first + changed)


def test_slug():
    assert slug("MILe (released code)") == "mile-released-code"
    assert slug("Oracle (BCE on true sets)") == "oracle-bce-on-true-sets"
