"""`milelib reproduce`: every notebook executed by papermill, one after another, each in its own
kernel, its executed copy in results/<notebook>/<profile>/. A copy is written under a temporary
name unique to this process and renamed once the notebook has run through, so a failed or stopped
batch leaves no half-executed notebook, and two batches at once never write the same file (their
runs are kept apart by the run folders' locks: a run one batch trains, the other picks up later).

papermill runs in a child process: inside it, nbclient answers Ctrl-C by shutting its kernel down
and carrying on, so only a parent can stop the batch on Ctrl-C.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .config import check_choice
from .experiments import PROFILE_NAMES, check_parameters
from .results import notebook_dir

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook stopped on an error; its message is the cell's error, in one line."""


def reproduce(profile: str, results_dir=None, notebooks=None, log=print, only=None, **given) -> list[Path]:
    """Execute every NN_name.ipynb of `notebooks` (or those numbered in `only`, e.g. ["06"]) with
    PROFILE=profile and the notebook parameters `given` (JOBS, LAUNCHER, GPUS, SETTINGS: those not
    None); return the executed copies."""
    check_choice("profile", profile, PROFILE_NAMES)
    given = {name: value for name, value in given.items() if value is not None}
    check_parameters({"PROFILE": profile, **given})
    folder = Path(notebooks or NOTEBOOKS)
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    for number in only or []:
        check_choice("notebook number", number, [nb.name[:2] for nb in found])
    found = [nb for nb in found if not only or nb.name[:2] in only]
    default_results = (folder / ".." / "results").resolve()
    results = Path(results_dir).resolve() if results_dir else default_results
    parameters = {"PROFILE": profile, **({} if results == default_results else {"RESULTS_DIR": str(results)}),
                  **given}
    done = []
    for nb in found:
        out = notebook_dir(results, nb.stem, profile)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{nb.stem}.{os.getpid()}.tmp.ipynb"
        log(f"== {nb.stem} (PROFILE={profile}) {time.strftime('%H:%M:%S')}", flush=True)
        try:
            execute(nb, tmp, parameters, cwd=folder)
            os.replace(tmp, out / nb.name)
            done.append(out / nb.name)
        finally:
            tmp.unlink(missing_ok=True)
    log(f"== done {time.strftime('%H:%M:%S')}", flush=True)
    return done


def execute(nb: Path, target: Path, parameters: dict, cwd: Path) -> None:
    """papermill `nb` -> `target` in a child process; a failure raises NotebookFailed, Ctrl-C
    stops the child and raises KeyboardInterrupt here."""
    command = [sys.executable, "-m", "papermill", str(nb), str(target), "-k", "python3", "--cwd", str(cwd),
               "--no-progress-bar"]
    command += ["-y", json.dumps(parameters)]  # JSON is YAML: ints stay ints, SETTINGS a mapping
    child = subprocess.Popen(command)
    try:
        code = child.wait()
    except BaseException:
        child.terminate()
        child.wait()
        raise
    if code != 0:
        raise NotebookFailed(failure(nb, target, code))


def failure(nb: Path, executed: Path, code: int) -> str:
    """One line for a failed notebook: its first error output, read from the executed copy."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return f"{nb.name} failed before its first cell (papermill exited with {code}; see its messages above)"
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                value = (output.get("evalue") or "").splitlines()
                return (f"{nb.name} failed in cell {cell.get('execution_count')}: {output.get('ename')}: "
                        f"{value[0] if value else ''}")
    return f"{nb.name} failed (papermill exited with {code}; see its messages above)"
