"""Every bad input fails, or warns, with one clear line (one test per case of
tests/bad_input_cases.py), and docs/errors.md shows what users really see."""
from pathlib import Path

import pytest

import bad_input_cases
from milelib import RunConfig, experiments

DOC = Path(__file__).parents[1] / "docs" / "errors.md"
CASES = bad_input_cases.names()
UNCLEAR = ("Exception", "RuntimeError", "KeyError", "AttributeError", "TypeError")  # a traceback's, not ours


def test_the_table_keeps_every_case():
    # 36 by the engine issue, 26 by the run-folder one, 14 by the scale one, 48 and 10 by issue 21, 69 for files
    # a run did not write, records read back, the command line, signals and data folders
    assert len(CASES) >= 200 and len(set(CASES)) == len(CASES)
    assert all(len(case) <= 100 for case in CASES)  # pytest names a longer one's test "caseN"


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_fails_or_warns_in_one_line(case):
    kind, message = bad_input_cases.run_case(case)
    assert kind != "none", "no error raised, no warning given"
    assert "\n" not in message and len(message) < 400, message
    assert kind not in UNCLEAR, (kind, message)


def test_docs_errors_md_is_the_table():
    rows = bad_input_cases.collect()  # the cases run above are read back, not run again
    assert DOC.read_text() == bad_input_cases.markdown(rows), "docs/errors.md is stale: python tools/write_errors.py"


def test_switching_the_method_drops_what_the_profile_gave_the_old_one():
    # the profile's MILe settings are not the user's: settings that switch the method leave them behind
    sigmoid = RunConfig().override({"method": "sigmoid"}).method
    for name in experiments.NAMES:
        exp = experiments.get(name).EXPERIMENT
        for profile in ("smoke", "quick"):
            assert exp.config(profile, {"method": "sigmoid"}).method == sigmoid, (name, profile)
    with pytest.raises(ValueError, match=r"^unknown setting 'method.variant' for method 'sigmoid'"):  # given with it
        experiments.get("multi_mnist").EXPERIMENT.config("smoke", {"method": "sigmoid", "method.variant": "algorithm1"})


def test_cli_reports_bad_input_in_one_line(capsys):
    from milelib.cli import main
    with pytest.raises(SystemExit, match=r"^milelib: unknown method 'mixup': choose one of"):
        main(["train", "--profile", "smoke", "--set", "method=mixup"])
    with pytest.raises(SystemExit, match=r"bad setting 'lr': write key=value"):
        main(["train", "--profile", "smoke", "--set", "lr"])
    with pytest.raises(SystemExit, match=r"^milelib: optim.steps takes int, got 'many'$"):
        main(["train", "--profile", "smoke", "--set", "optim.steps=many"])
    with pytest.raises(SystemExit, match=r"^milelib: unknown setting 'steps': did you mean optim.steps\?$"):
        main(["sweep", "rho_sweep", "--profile", "smoke", "--set", "steps=4"])
