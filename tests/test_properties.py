"""Property-based tests (Hypothesis): whatever a user types after --set, and whatever a run
folder's files hold, milelib either reads it or says why in one line; never a traceback."""
import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from milelib import RunConfig, store
from milelib.cli import parse_settings

FAST = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
OURS = (ValueError, OSError)  # the one-line errors milelib raises for bad input (FileExistsError is an OSError)


def one_line(err: Exception) -> bool:
    return "\n" not in str(err) and 0 < len(str(err)) < 400


keys = st.one_of(st.sampled_from(["optim.lr", "optim.steps", "method", "method.rho", "seed", "data.fraction",
                                  "model.width", "run.workers", "optim.bce", "data.val"]), st.text(max_size=20))
values = st.one_of(st.text(max_size=20), st.integers().map(str), st.floats().map(str),
                   st.sampled_from(["none", "null", "true", "[1, 3]", "{}", '{"a": 1}', "NaN", "-Infinity", "1e999",
                                    "[" * 50, '"x"', "sigmoid", "mile", "0", "-1"]))
pairs = st.lists(st.one_of(st.builds(lambda k, v: f"{k}={v}", keys, values), st.text(max_size=30)), max_size=4)


@FAST
@given(pairs)
def test_any_set_either_parses_into_a_config_or_is_refused_in_one_line(given_pairs):
    try:
        RunConfig().override(parse_settings(given_pairs))
    except OURS as err:
        assert one_line(err), str(err)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=12)
results = st.one_of(json_values, st.fixed_dictionaries(
    {"config_hash": json_values, "metrics": st.one_of(json_values, st.dictionaries(st.text(max_size=8), json_values)),
     "run": st.one_of(json_values, st.fixed_dictionaries({"wall_time_s": json_values, "threads": json_values})),
     "config": json_values}))


def _prepared_or_refused_in_one_line(folder: Path) -> None:
    try:
        store.prepare(folder)
    except OURS as err:
        assert one_line(err), str(err)


def _folder(files: dict[str, bytes]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="milelib-prop-"))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@FAST
@given(st.one_of(results.map(lambda r: json.dumps(r).encode()), st.binary(max_size=200)))
def test_any_result_json_is_read_back_or_named_as_not_milelibs_in_one_line(content):
    folder = _folder({"result.json": content})
    try:
        saved, problem = store.read_result(folder)
        assert (saved is None) != (problem is None)
        assert problem is None or "\n" not in problem
        if saved is not None:  # what a table gets: numbers, or NaN for an undefined one
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in saved["metrics"].values())
        assert store.finished_result(folder, "0" * 12) is None or saved is not None
        store.diverged(folder, "0" * 12)
        _prepared_or_refused_in_one_line(folder)
    finally:
        shutil.rmtree(folder)


names = st.sampled_from(["result.json", "metrics.csv", "cycles.csv", "classes.txt", "diverged.json",
                         store.MANIFEST, "notes.md"])


@FAST
@given(st.dictionaries(names, st.binary(max_size=100), max_size=4), st.booleans())
def test_any_run_folder_is_taken_as_milelibs_or_refused_in_one_line(files, checkpoints):
    folder = _folder(files)
    if checkpoints:
        (folder / "checkpoints").mkdir()
    try:
        _prepared_or_refused_in_one_line(folder)
    finally:
        shutil.rmtree(folder)
