"""The command line trains one run, or an experiment's sweep, from the same configs as the notebooks."""
import io
import json

import pandas as pd

from milelib.cli import main, parse_value


def test_values_are_read_as_json_where_they_parse():
    assert [parse_value(t) for t in ("6", "0.5", "true", "[1, 3]", "none", "sigmoid")] == [6, 0.5, True, [1, 3], None, "sigmoid"]


def test_train_trains_and_prints_metrics(tmp_path, capsys):
    main(["train", "--profile", "smoke", "--set", "method=sigmoid", "optim.steps=6", "run.progress=false",
          "data.root=none", f"run.out_dir={tmp_path}"])
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert printed == saved["metrics"] and saved["config"]["optim"]["steps"] == 6
    assert saved["config"]["run"]["progress"] is False and saved["config"]["data"]["root"] is None
    assert printed["label_steps"] == 6 and 0 <= printed["f1@0.25"] <= 1


def test_sweep_runs_an_experiment_into_the_store_and_prints_its_table(tmp_path, capsys):
    main(["sweep", "multi_mnist", "--profile", "smoke", "--results-dir", str(tmp_path), "--jobs", "1",
          "--set", "optim.steps=6", "run.progress=false"])
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))  # the table alone on stdout; progress on stderr
    assert "6 runs: 0 finished before, 6 to train" in captured.err
    assert list(table.label) == ["Softmax", "Sigmoid", "MILe (released code)", "MILe (Algorithm 1)",
                                 "Oracle (BCE on true sets)", "LL-R", "Predict every class"]  # the notebook's frame
    trained = table[table.seed.notna()]
    assert all((tmp_path / "runs" / "smoke" / d.split("/runs/smoke/")[1] / "result.json").exists() for d in trained.run_dir)


def test_sweep_runs_notebook_08s_two_stages(tmp_path, capsys):
    """`milelib sweep single_positive` runs the selection on the development seeds, records it, then
    the chosen settings on the final seeds: the notebook's runs, through the same session."""
    main(["sweep", "single_positive", "--profile", "smoke", "--results-dir", str(tmp_path), "--jobs", "1",
          "--set", "run.progress=false"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (tmp_path / "08_single_positive" / "smoke" / "selection.json").exists()
    assert set(table.seed.dropna()) == {10} and {"ReaL-like", "Multi-MNIST"} == set(table.stand_in)
    assert "Predict every class" in set(table.label)


def test_a_config_file_with_a_utf8_byte_order_mark_is_read(tmp_path):
    from milelib import RunConfig
    from milelib.cli import read_config

    path = tmp_path / "run.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(RunConfig().override({"seed": 3}).to_dict()).encode())  # Notepad's
    assert read_config(path).seed == 3


def test_settings_the_command_cannot_honour_are_refused_before_anything_runs(tmp_path, monkeypatch):
    import pytest

    from milelib import experiments

    monkeypatch.setattr(experiments, "run_experiment", lambda *a, **k: pytest.fail("the sweep ran"))
    for given, told in ((["seed=5"], "give it as --seeds"), ([f"run.out_dir={tmp_path}"], "give it as --results-dir"),
                        (["optim.lr=0.1", "optim.lr=0.2"], "setting optim.lr is given twice")):
        with pytest.raises(SystemExit, match=f"^milelib: .*{told}"):
            main(["sweep", "multi_mnist", "--profile", "smoke", "--results-dir", str(tmp_path), "--set", *given])
