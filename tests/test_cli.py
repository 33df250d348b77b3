"""The command line trains one run from the same configs as the notebooks and prints its metrics."""
import json

from milelib.cli import main


def test_cli_trains_and_prints_metrics(tmp_path, capsys):
    main(["--profile", "smoke", "--set", "method=sigmoid", "steps=6", "progress=false", "data_root=none",
          f"out_dir={tmp_path}"])
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert printed == saved["metrics"] and saved["config"]["steps"] == 6
    assert saved["config"]["progress"] is False and saved["config"]["data_root"] is None
    assert printed["label_steps"] == 6 and 0 <= printed["f1@0.25"] <= 1
