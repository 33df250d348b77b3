"""Results I/O: `results/<notebook>/<profile>/metrics.json` and its provenance sidecar, written
atomically (milelib.store.files, whose writers and JSON reader are also reachable from here).
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

from .store.files import WRITE_FIXES, atomic_write_bytes, atomic_write_json, read_json  # noqa: F401
from .store.records import undefined_as_nan  # noqa: F401

PACKAGES = ("milelib", "torch", "torchvision", "numpy", "pandas", "matplotlib", "seaborn", "mlxtend", "papermill")


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
