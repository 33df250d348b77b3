"""A run folder: created and proven writable before any training is spent (a metrics.csv milelib did
not write is refused, never replaced), its finished result read back (or refused when it belongs to
another config), and its files written, result.json last.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .notices import warn
from .results import atomic_write_bytes, atomic_write_json, read_json, undefined_as_nan


def prepare(out_dir) -> Path | None:
    """The run folder (`~` expanded), created and proven writable; None when the run keeps no files."""
    if out_dir is None:
        return None
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"  # one per process: torchrun's ranks probe together
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(f"output folder {out} cannot be created or written ({err.strerror}): "
                      f"choose another out_dir, or fix the path or its permissions") from None
    _refuse_foreign_log(out / "metrics.csv")
    return out


def _refuse_foreign_log(path: Path) -> None:
    """A metrics.csv that milelib did not write (not its header, or no run beside it) is a user's
    file, which the run's own log would replace at its end: refused before any training."""
    if not path.is_file():
        return
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            header = f.readline().strip()
    except OSError:
        header = ""
    ours = header.split(",")[0] == "step"  # milelib's log: step,phase,loss,lr
    beside = (path.parent / "result.json").exists() or (path.parent / "checkpoints").is_dir()
    if not ours or not beside:
        why = f"header {header[:40]!r}" if not ours else "no checkpoints/ or result.json beside it"
        raise FileExistsError(f"{path} was not written by milelib ({why}) and the run would replace it: choose "
                              f"another run.out_dir, or move that file aside")


def finished_hash(folder) -> str:
    """The config hash of the run finished in `folder` (its result.json), which stands for the run
    where another run names it (a teacher); one line when it is not a finished run."""
    try:
        saved = read_json(Path(folder).expanduser() / "result.json")
    except (OSError, ValueError):
        saved = None
    problem = "no readable result.json" if saved is None else result_problem(saved)
    if problem:
        raise FileNotFoundError(f"{folder} holds no finished run ({problem}): train that run to "
                                f"its end first, or give the folder of one that has finished")
    return saved["config_hash"]


RUN_FACTS = ("wall_time_s", "threads")  # what a sweep's table reads from a result's "run"


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
    for key in ("metrics", "run", "config"):
        if not isinstance(saved[key], dict):
            return f"{key!r} holds {json.dumps(saved[key])[:40]}, not an object"
    absent = [fact for fact in RUN_FACTS if fact not in saved["run"]]
    if absent:
        return f"no 'run.{absent[0]}'"
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


def previous_result(out: Path, cfg) -> dict | None:
    """The result.json of a run finished in `out` with config `cfg`, or None when there is none. A
    result of another config is refused; an unreadable or malformed one (its config stored short of
    a setting included) is reported and will be rewritten."""
    path, config_hash = out / "result.json", cfg.config_hash()
    if not path.exists():
        return None
    try:
        saved = read_json(path)
    except (OSError, ValueError) as err:
        saved = err
    problem = result_problem(saved)
    if not problem and saved["config_hash"] == config_hash:  # another config's is refused below, whole or not
        problem = result_problem(saved, cfg)
    if problem:
        warn(f"{path} is not a milelib result ({problem}): the run finishes from its checkpoints "
             f"and rewrites it")
        return None
    if saved["config_hash"] != config_hash:
        raise ValueError(f"{path} holds the result of another config (hash {saved['config_hash']} != {config_hash}): "
                         f"use another out_dir, or delete that folder to start over")
    return {**saved, "metrics": undefined_as_nan(saved["metrics"])}


def _csv_bytes(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_lines(path: Path, lines: list[str]) -> None:
    atomic_write_bytes(path, "".join(f"{line}\n" for line in lines).encode())


def write(out: Path, cfg, log: list[dict], cycles: list[dict], result: dict, run_facts: dict) -> None:
    """metrics.csv, cycles.csv, then result.json last: its presence marks the run complete."""
    atomic_write_bytes(out / "metrics.csv", _csv_bytes(log))
    if cycles:
        atomic_write_bytes(out / "cycles.csv", _csv_bytes(cycles))
    atomic_write_json(out / "result.json", {"config": cfg.to_dict(), "config_hash": cfg.config_hash(),
                                            "metrics": result, "run": run_facts})
