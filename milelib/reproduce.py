"""`milelib reproduce`: every notebook executed by papermill, one after another, each in its own
kernel, its executed copy in results/<notebook>/<profile>/. A copy is written under a temporary
name unique to this process and renamed once the notebook has run through, so a failed or stopped
batch leaves no half-executed notebook, and two batches at once never write the same file (their
runs are kept apart by the run folders' locks).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .results import notebook_dir

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class NotebookFailed(RuntimeError):
    """A notebook stopped on an error; its message is the cell's error, in one line."""


def reproduce(profile: str, results_dir=None, notebooks=None, log=print) -> list[Path]:
    """Execute every NN_name.ipynb of `notebooks` with PROFILE=profile; return the executed copies."""
    try:
        import papermill
    except ImportError:
        raise ImportError("milelib reproduce runs notebooks with papermill: pip install 'milelib[notebooks]'") from None
    folder = Path(notebooks or NOTEBOOKS)
    default_results = (folder / ".." / "results").resolve()
    results = Path(results_dir).resolve() if results_dir else default_results
    parameters = {"PROFILE": profile, **({} if results == default_results else {"RESULTS_DIR": str(results)})}
    done = []
    for nb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        out = notebook_dir(results, nb.stem, profile)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{nb.stem}.{os.getpid()}.tmp.ipynb"
        log(f"== {nb.stem} (PROFILE={profile}) {time.strftime('%H:%M:%S')}", flush=True)
        try:
            papermill.execute_notebook(str(nb), str(tmp), parameters=parameters, kernel_name="python3",
                                       cwd=str(folder), progress_bar=False)
            os.replace(tmp, out / nb.name)
            done.append(out / nb.name)
        except papermill.PapermillExecutionError as err:
            raise NotebookFailed(f"{nb.name} failed in cell {err.exec_count}: {err.ename}: "
                                 f"{str(err.evalue).splitlines()[0] if err.evalue else ''}") from None
        finally:
            tmp.unlink(missing_ok=True)
    log(f"== done {time.strftime('%H:%M:%S')}", flush=True)
    return done
