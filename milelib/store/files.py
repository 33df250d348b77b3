"""Files written whole or not at all, and read back as JSON.

Every file is written to a hidden temporary file in the same folder, flushed to disk and renamed
over the old one, so a process stopped at any moment leaves either the previous file or the new
one, never half of one; a write that fails names its file and the fix in one line.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; results are for everyone to read
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in WRITE_FIXES:
            raise OSError(err.errno, _cannot_write(err, path)) from None
        raise
    return path


WRITE_FIXES = {  # errno -> what to do, for the one line that names the file milelib could not write
    errno.ENOSPC: "free some space and rerun",
    errno.EDQUOT: "free some space (the disk quota is reached) and rerun",
    errno.EFBIG: "raise the file-size limit (ulimit -f) or choose a folder on a disk that allows larger files, "
                 "and rerun",
    errno.EROFS: "choose a folder on a writable disk and rerun",
    errno.EACCES: "choose a folder you may write to, or fix its permissions, and rerun",
    errno.EPERM: "choose a folder you may write to, or fix its permissions, and rerun",
    errno.EEXIST: "a file stands where a folder is needed: move it aside or choose another folder",
    errno.ENOTDIR: "a file stands where a folder is needed: move it aside or choose another folder",
    errno.EISDIR: "a folder stands where the file goes: move it aside or choose another folder",
}


def _cannot_write(err: OSError, path: Path) -> str:
    if err.errno == errno.ENOSPC:
        return f"disk full while writing {path}: the previous file is kept unchanged; {WRITE_FIXES[errno.ENOSPC]}"
    return f"cannot write {path} ({err.strerror}): {WRITE_FIXES[err.errno]}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_bytes(obj) -> bytes:
    """Strict JSON: an undefined number (NaN, infinite: a ReaL metric with no labelled image) is
    written as null, never as the bare NaN that JSON readers other than Python's refuse."""
    return (json.dumps(_finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False) + "\n").encode()


def atomic_write_json(path, obj) -> Path:
    return atomic_write_bytes(path, json_bytes(obj))


def _finite(obj):
    if isinstance(obj, (float, np.floating)):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def read_json(path):
    """A JSON file's content; a UTF-8 byte-order mark (as Windows editors write) is accepted."""
    return json.loads(Path(path).read_text(encoding="utf-8-sig"))


def remove_leftovers(folder) -> None:
    """The hidden temporary files a process killed mid-write left in `folder` (never another's live
    one: the caller holds the folder's lock)."""
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
