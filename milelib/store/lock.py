"""One process per run folder: an advisory lock on `<run folder>/.lock`.

`flock` locks belong to the open file and the kernel drops them when their process ends, killed or
not, so a lock left by a dead process is simply taken over; the file's text (pid, host, start
time) serves only to name the holder in the message a second process gets.

A sweep that launches a run in a child process (torchrun) takes the run's lock itself, before the
start, so that a run another sweep grabbed in between is skipped as busy instead of failing in the
child; the child inherits the open lock (its file descriptor) and is told, through HELD_FOR, that
its parent holds that folder's lock for it.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; runs there are not guarded
    fcntl = None

LOCK_NAME = ".lock"
HELD_FOR = "MILELIB_RUN_LOCK_HELD"  # the run folder whose lock this process's parent holds for it


class RunFolderBusy(RuntimeError):
    """Another process is training into the same run folder."""


def holder(folder) -> str | None:
    """Who holds the run folder's lock now ("pid N on HOST since T"), or None when it is free."""
    path = Path(folder) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return None
    try:
        with hold(folder, write=False):
            return None
    except RunFolderBusy as busy:
        return busy.holder


@contextlib.contextmanager
def hold(folder, write: bool = True):
    """Hold the run folder's lock for the duration of the block, or raise RunFolderBusy; the block
    gets the lock's file descriptor (for a child to inherit; None where nothing is locked)."""
    if fcntl is None or (write and held_for_this_process(folder)):
        yield None
        return
    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            busy = RunFolderBusy(f"run folder {folder} is in use by {holder}: wait for that run to finish (or stop "
                                 f"it) and rerun, which resumes it; or give this run another out_dir")
            busy.holder = holder
            raise busy from None
        if write:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield fd
    finally:
        os.close(fd)  # closing the file releases the lock


def held_for_this_process(folder) -> bool:
    """Whether the process that started this one holds `folder`'s lock for it (HELD_FOR)."""
    given = os.environ.get(HELD_FOR)
    return bool(given) and Path(given).expanduser().resolve() == Path(folder).expanduser().resolve()
