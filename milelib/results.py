"""Results I/O: atomic writes, `results/<notebook>/<profile>/metrics.json` and its provenance sidecar.

Every file is written to a temporary file in the same folder, flushed to disk and renamed over
the old one, so a run stopped at any moment leaves either the previous file or the new one,
never half of one.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

PACKAGES = ("milelib", "torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "mlxtend", "papermill")


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


def atomic_write_json(path, obj) -> Path:
    """Strict JSON: an undefined number (NaN, infinite: a ReaL metric with no labelled image) is
    written as null, never as the bare NaN that JSON readers other than Python's refuse."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, default=str, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode())


def _finite(obj):
    if isinstance(obj, (float, np.floating)):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def undefined_as_nan(metrics):
    """A stored run's metrics as training returned them: null (an undefined metric) read back as NaN."""
    if not isinstance(metrics, dict):
        return metrics
    return {key: math.nan if value is None else value for key, value in metrics.items()}


def read_json(path):
    return json.loads(Path(path).read_text())


def git_revision(cwd=None) -> dict:
    """The commit the code ran at and whether the code had uncommitted changes (results/, which
    runs write into, is not code)."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/",
                                 ":(top,exclude)results"], cwd=cwd,
                                capture_output=True, text=True, check=True)
        return {"revision": rev.stdout.strip(), "clean": status.stdout.strip() == ""}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": None, "clean": None}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description() -> dict:
    if torch.cuda.is_available():
        return {"kind": "cuda", "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    info = {"model name": platform.processor() or platform.machine()}
    try:  # the first processor's lines: name, family and model, and its vector instructions
        for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            info[key] = value
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"kind": "cpu", "name": info["model name"], "family": info.get("cpu family"), "model": info.get("model"),
            "vector_isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags],
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def provenance(configs, wall_time_s: float, **extra) -> dict:
    """What a results file needs beside it to be trusted: how, where and from what it was made."""
    return {
        "configs": configs,
        "git": git_revision(),
        "packages": package_versions(),
        "device": device_description(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "wall_time_s": round(wall_time_s, 1),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }


def notebook_dir(results_dir, notebook: str, profile: str) -> Path:
    """Where a notebook's tables, figures and executed copy go: one folder per profile, so a smoke
    run from JupyterLab never overwrites the committed quick results."""
    return Path(results_dir) / notebook / profile


def save_results(folder, metrics, configs, wall_time_s: float, **extra) -> Path:
    """Write folder/metrics.json and folder/provenance.json, each atomically."""
    folder = Path(folder)
    atomic_write_json(folder / "provenance.json", provenance(configs, wall_time_s, **extra))
    return atomic_write_json(folder / "metrics.json", metrics)
