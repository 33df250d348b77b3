"""What milelib wrote in a run folder: `.milelib-files.json`, each file's name and the SHA-256 of
its content, so that any other file there (a user's result.json, cycles.csv, classes.txt) is
refused before the run would replace it, and a file changed after milelib wrote it is named as such
instead of being read back.

The manifest takes a file's new checksum before the file is written (the one before is kept too),
so a process killed between the two leaves a folder whose every file is still vouched for.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .files import atomic_write_bytes, read_json

MANIFEST = ".milelib-files.json"
RESULT, DIVERGED, LOG, CYCLES = "result.json", "diverged.json", "metrics.csv", "cycles.csv"
KEPT = 2  # checksums kept per file: the new one and the one before it


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_checksum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(folder) -> dict[str, list[str]] | None:
    """The manifest of `folder` (file name -> checksums), None when there is none (a run folder
    from before manifests, or a new one); one line when it is damaged."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        saved = read_json(path)
    except (OSError, ValueError) as err:
        saved = err
    files = saved.get("files") if isinstance(saved, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, list) and all(isinstance(s, str) for s in v)
                                              for v in files.values()):
        raise ValueError(f"{path}, milelib's list of the files it wrote in this run folder, is damaged (expected "
                         f'{{"files": {{name: [sha256, ...]}}}}): delete the run folder to train the run again')
    return files


def record(folder, name: str, digest: str) -> None:
    """Vouch for `name` holding the content of `digest` (called before it is written)."""
    files = load(folder) or {}
    files[name] = [digest, *[d for d in files.get(name, []) if d != digest]][:KEPT]
    atomic_write_bytes(Path(folder) / MANIFEST, (json.dumps({"files": files}, indent=1, sort_keys=True) + "\n").encode())


def adopt(folder, names: list[str]) -> None:
    """Vouch for files written before manifests existed (a stored run's), as they are."""
    files = load(folder) or {}
    for name in names:
        files.setdefault(name, [file_checksum(Path(folder) / name)])
    atomic_write_bytes(Path(folder) / MANIFEST, (json.dumps({"files": files}, indent=1, sort_keys=True) + "\n").encode())


def changed(path: Path) -> str | None:
    """Why the file at `path` is not as milelib wrote it ("not written by milelib", "changed after
    milelib wrote it"), or None: vouched for, or in a folder without a manifest."""
    files = load(path.parent)
    if files is None:
        return None
    if path.name not in files:
        return "the run folder's manifest does not list it"
    try:
        found = file_checksum(path)
    except OSError as err:
        return f"unreadable: {err.strerror}"
    if found in files[path.name] or found in (load(path.parent) or {}).get(path.name, []):  # it may have moved on
        return None
    return CHANGED


CHANGED = "its checksum is not the one milelib recorded"  # why a file milelib wrote no longer is as written


def refusal(path: Path, why: str) -> FileExistsError:
    """The one line for a file in a run folder that is not as milelib wrote it."""
    if why == CHANGED:
        return FileExistsError(f"{path} was changed after milelib wrote it ({why}): the run would take it for its own "
                               f"or replace it; move it aside (or delete the run folder to train the run again), or "
                               f"choose another run.out_dir")
    return FileExistsError(f"{path} was not written by milelib ({why}) and the run would replace it: choose "
                           f"another run.out_dir, or move that file aside")
