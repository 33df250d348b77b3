"""Every bad input fails with one clear line, and docs/errors.md shows what users really see."""
from pathlib import Path

from milelib import bad_inputs

DOC = Path(__file__).parents[1] / "docs" / "errors.md"


def test_every_bad_input_fails_with_one_line_and_the_doc_is_current():
    rows = bad_inputs.collect()
    assert len(rows) >= 76  # 36 by the engine issue, 26 by the run-folder one, 14 by the scale one
    for case, kind, message in rows:
        assert kind != "none", f"{case}: no error raised"
        assert "\n" not in message and len(message) < 400, case
        assert kind not in ("Exception", "RuntimeError", "KeyError", "AttributeError", "TypeError"), (case, kind)
    assert DOC.read_text() == bad_inputs.markdown(rows), "docs/errors.md is stale: python -m milelib.bad_inputs > docs/errors.md"


def test_cli_reports_bad_input_in_one_line(capsys):
    import pytest

    from milelib.cli import main
    with pytest.raises(SystemExit, match=r"^milelib: unknown method 'mixup': choose one of"):
        main(["train", "--profile", "smoke", "--set", "method=mixup"])
    with pytest.raises(SystemExit, match=r"bad setting 'lr': write key=value"):
        main(["train", "--profile", "smoke", "--set", "lr"])
    with pytest.raises(SystemExit, match=r"^milelib: optim.steps takes int, got 'many'$"):
        main(["train", "--profile", "smoke", "--set", "optim.steps=many"])
    with pytest.raises(SystemExit, match=r"^milelib: unknown setting 'steps': did you mean optim.steps\?$"):
        main(["sweep", "rho_sweep", "--profile", "smoke", "--set", "steps=4"])
