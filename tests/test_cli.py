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
                                 "Oracle (BCE on true sets)", "LL-R"]
    assert all((tmp_path / "runs" / "smoke" / d.split("/runs/smoke/")[1] / "result.json").exists() for d in table.run_dir)


def test_sweep_runs_notebook_08s_two_stages(tmp_path, capsys):
    """`milelib sweep single_positive` runs the selection on the development seeds, records it, then
    the chosen settings on the final seeds: the notebook's runs, through the same session."""
    main(["sweep", "single_positive", "--profile", "smoke", "--results-dir", str(tmp_path), "--jobs", "1",
          "--set", "run.progress=false"])
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (tmp_path / "08_single_positive" / "smoke" / "selection.json").exists()
    assert set(table.seed.dropna()) == {10} and {"ReaL-like", "Multi-MNIST"} == set(table.stand_in)
    assert "Predict every class" in set(table.label)
