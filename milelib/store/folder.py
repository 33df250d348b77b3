"""A run folder: where it lives in the store, created and proven writable before any training is
spent, refused when it holds a file milelib did not write (never replaced), and its files written
through the manifest, result.json last.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from . import manifest
from .files import atomic_write_bytes, json_bytes, remove_leftovers
from .manifest import CYCLES, DIVERGED, LOG, MANIFEST, RESULT
from .records import _read, log_problem, result_problem

CHECKPOINTS = "checkpoints"


def store_dir(results_dir, profile: str) -> Path:
    """The run store of a profile: `<results>/runs/<profile>`, shared by every notebook."""
    return Path(results_dir) / "runs" / profile


def run_dir(store, cfg) -> Path:
    """A run's folder in the store: `<method>/seed<s>-<config hash>`."""
    return Path(store) / cfg.method.name / f"seed{cfg.seed}-{cfg.config_hash()}"


def prepare(out_dir) -> Path | None:
    """The run folder (`~` expanded), created and proven writable, every file in it milelib's; None
    when the run keeps no files."""
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
    refuse_foreign(out)
    return out


def _visible_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and not p.is_dir())


def refuse_foreign(out: Path) -> None:
    """One line, before any training, for a file in the run folder that milelib did not write (or
    that changed since): the run would replace it, or read it back as its own. A folder from
    before manifests is judged by its files' formats, and adopted when they are milelib's."""
    names = _visible_files(out)
    if (out / MANIFEST).exists():
        for name in names:
            why = _legacy_problem(out / name) or manifest.changed(out / name)
            if why:
                _refuse(out / name, why)
        return
    legacy = (out / CHECKPOINTS).is_dir() or (out / RESULT).is_file()
    for name in names:
        why = _legacy_problem(out / name) or (None if legacy else "no checkpoints/ or result.json beside it")
        if why:
            _refuse(out / name, why)
    if names:
        manifest.adopt(out, names)


def _legacy_problem(path: Path) -> str | None:
    """Why a file in a run folder is not milelib's, by its format (all there is to go by in a
    folder from before manifests)."""
    if path.name == LOG:
        return log_problem(path)
    if path.name == RESULT:
        return result_problem(_read(path))
    if path.name == DIVERGED:
        saved = _read(path)
        return None if isinstance(saved, dict) and isinstance(saved.get("config_hash"), str) else (
            "not a record of a diverged run")
    return None


def _refuse(path: Path, why: str):
    raise manifest.refusal(path, why)


def write_file(out: Path, name: str, data: bytes) -> Path:
    """Write `name` into the run folder, vouched for by its manifest; a file there that milelib did
    not write (put there while the run trained) is refused, not replaced."""
    path = Path(out) / name
    if path.exists():
        why = manifest.changed(path) if (path.parent / MANIFEST).exists() else "no manifest vouches for it"
        if why:
            _refuse(path, why)
    manifest.record(out, name, manifest.checksum(data))
    return atomic_write_bytes(path, data)


def _csv_bytes(rows: list[dict]) -> bytes:
    if not rows:
        return b""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_lines(path: Path, lines: list[str]) -> None:
    """A text file of one line each (a run's class list, its training file list)."""
    path = Path(path)
    write_file(path.parent, path.name, "".join(f"{line}\n" for line in lines).encode())


def write(out: Path, cfg, log: list[dict], cycles: list[dict], result: dict, run_facts: dict) -> None:
    """metrics.csv, cycles.csv, then result.json last: its presence marks the run complete; then the
    temporary files of writes a kill cut short are removed."""
    write_file(out, LOG, _csv_bytes(log))
    if cycles:
        write_file(out, CYCLES, _csv_bytes(cycles))
    write_file(out, RESULT, json_bytes({"config": cfg.to_dict(), "config_hash": cfg.config_hash(),
                                        "metrics": result, "run": run_facts}))
    remove_leftovers(out)


def record_divergence(out: Path, cfg, err: Exception) -> None:
    """diverged.json: the run of `cfg` stopped on a NaN or infinite loss, read back as such."""
    write_file(out, DIVERGED, json_bytes({"config_hash": cfg.config_hash(), "error": str(err), "config": cfg.to_dict()}))
    remove_leftovers(out)
