"""The readers of a run folder's files, one per format, each validating what it reads: a file that
is not what milelib writes is named with what was expected, never taken for a finished run and
never copied into a table.

- result.json (`result_problem`, `finished_result`, `previous_result`, `finished_hash`): the run's
  config, its hash, its metrics (each a finite number, or null for an undefined one) and run facts;
- diverged.json (`diverged`): the config hash and error of a run stopped on a NaN or infinite loss;
- metrics.csv (`log_problem`): the loss log, `step,phase,loss,lr`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .files import read_json
from .manifest import DIVERGED, RESULT, changed, refusal

RUN_FACTS = ("wall_time_s", "threads")  # what a sweep's table reads from a result's "run"
LOG_HEAD = "step"  # milelib's loss log begins step,phase,loss,lr


def _read(path: Path):
    """A JSON file's content, or the error reading it (one line)."""
    try:
        return read_json(path)
    except (OSError, ValueError) as err:
        return ValueError(str(err).splitlines()[0] if str(err) else type(err).__name__)


def _number_problem(key: str, value) -> str | None:
    if value is None:  # milelib writes an undefined metric (a ReaL score with no labelled image) as null
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"metrics[{key!r}] holds {json.dumps(value)[:40]}, not a number"
    if not math.isfinite(value):
        return f"metrics[{key!r}] is {value}, where milelib writes a finite number or null"
    return None


def result_problem(saved, cfg=None) -> str | None:
    """Why `saved` (a result.json's contents, or the error reading it) is not a finished run's
    result, as written by `write` (for the run of `cfg`, when given, its config stored whole);
    None when it is one."""
    if isinstance(saved, Exception):
        return f"unreadable JSON: {str(saved).splitlines()[0] if str(saved) else type(saved).__name__}"
    if not isinstance(saved, dict):
        return f"a JSON {type(saved).__name__}, not an object"
    missing = [key for key in ("config_hash", "metrics", "run", "config") if key not in saved]
    if missing:
        return f"no {missing[0]!r} key"
    if not isinstance(saved["config_hash"], str):
        return f"'config_hash' holds {json.dumps(saved['config_hash'])[:40]}, not a string"
    for key in ("metrics", "run", "config"):
        if not isinstance(saved[key], dict):
            return f"{key!r} holds {json.dumps(saved[key])[:40]}, not an object"
    if not saved["metrics"]:
        return "'metrics' is empty"
    for key, value in saved["metrics"].items():
        problem = _number_problem(key, value)
        if problem:
            return problem
    absent = [fact for fact in RUN_FACTS if fact not in saved["run"]]
    if absent:
        return f"no 'run.{absent[0]}'"
    bad = [fact for fact in RUN_FACTS if _number_problem(fact, saved["run"][fact]) or saved["run"][fact] is None]
    if bad:
        return f"'run.{bad[0]}' holds {json.dumps(saved['run'][bad[0]])[:40]}, not a number"
    lacking = settings_lacking(saved["config"], cfg) if cfg is not None else []
    return f"its config lacks {', '.join(lacking[:3])}{' and more' if len(lacking) > 3 else ''}" if lacking else None


def settings_lacking(stored: dict, cfg) -> list[str]:
    """The settings of `cfg` (a RunConfig) that `stored`, the config kept in a result.json of its
    hash, lacks: read back, that config would take their defaults and misstate the run. The run
    part is no part of a run's identity, nor a `config.not_hashed` setting, and a setting added after
    runs were stored (`config.added_later`) is absent from theirs while at its default."""
    lacking = []
    for part, settings in cfg.to_dict().items():
        if part == "run":
            continue
        if not isinstance(settings, dict):  # the seed
            lacking += [] if part in stored else [part]
            continue
        given = stored.get(part) if isinstance(stored.get(part), dict) else {}
        later = cfg.out_of_hash(part)
        lacking += [f"{part}.{key}" for key in settings if key not in given and key not in later]
    return lacking


def undefined_as_nan(metrics):
    """A stored run's metrics as training returned them: null (an undefined metric) read back as NaN."""
    if not isinstance(metrics, dict):
        return metrics
    return {key: math.nan if value is None else value for key, value in metrics.items()}


def read_result(folder, cfg=None) -> tuple[dict | None, str | None]:
    """(the result.json of `folder`, None) when it is a finished run's (for `cfg`'s settings, when
    given), (None, why not) when the file is there but is not one, (None, None) when there is none."""
    path = Path(folder).expanduser() / RESULT
    if not path.exists():
        return None, None
    saved = _read(path)
    problem = result_problem(saved) or changed(path)
    if not problem and cfg is not None and saved["config_hash"] == cfg.config_hash():
        problem = result_problem(saved, cfg)  # another config's is its own matter: the caller says
    if problem:
        return None, problem
    return {**saved, "metrics": undefined_as_nan(saved["metrics"])}, None


def finished_result(folder, config) -> dict | None:
    """The result of a run finished with this config (or config hash) in `folder`, or None (none,
    another config's, or a file that is not milelib's: training refuses that one, in one line)."""
    config_hash = config if isinstance(config, str) else config.config_hash()
    saved, _ = read_result(folder, None if isinstance(config, str) else config)
    return saved if saved is not None and saved["config_hash"] == config_hash else None


def previous_result(out: Path, cfg) -> dict | None:
    """The result.json of a run finished in `out` with config `cfg`, or None when there is none. A
    result of another config, or a file that is not a milelib result, is refused in one line."""
    saved, problem = read_result(out, cfg)
    path = Path(out) / RESULT
    if problem:
        raise refusal(path, problem)
    if saved is not None and saved["config_hash"] != cfg.config_hash():
        raise ValueError(f"{path} holds the result of another config (hash {saved['config_hash']} != "
                         f"{cfg.config_hash()}): use another out_dir, or delete that folder to start over")
    return saved


def finished_hash(folder) -> str:
    """The config hash of the run finished in `folder` (its result.json), which stands for the run
    where another run names it (a teacher); one line when it is not a finished run."""
    saved, problem = read_result(folder)
    if saved is None:
        raise FileNotFoundError(f"{folder} holds no finished run ({problem or 'no readable result.json'}): train "
                                f"that run to its end first, or give the folder of one that has finished")
    return saved["config_hash"]


def diverged(folder, config_hash: str) -> str | None:
    """The error of the run of `config_hash` that stopped on a NaN or infinite loss in `folder`, or
    None (none recorded, another config's, or a file that is not milelib's)."""
    path = Path(folder) / DIVERGED
    if not path.exists():
        return None
    saved = _read(path)
    ok = (isinstance(saved, dict) and isinstance(saved.get("error"), str) and saved.get("config_hash") == config_hash
          and not changed(path))
    return saved["error"] if ok else None


def log_problem(path: Path) -> str | None:
    """Why `path` is not a loss log milelib wrote (its header), or None."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            header = f.readline().strip()
    except OSError as err:
        return f"unreadable ({err.strerror})"
    return None if header.split(",")[0] == LOG_HEAD else f"header {header[:40]!r}"
