"""No results file is ever seen half-written, even when its writer is killed mid-write."""
import random
import signal
import subprocess
import sys
import time

import pytest

# Two versions prepared once, so the loop spends its time writing, not encoding.
WRITER = """
import sys
from milelib.results import atomic_write_bytes
versions = [(str(v) * 1_500_000).encode() for v in (1, 2)]
i = 0
while True:
    atomic_write_bytes(sys.argv[1], versions[i % 2])
    i += 1
"""

# A writer whose fsync pauses: it is always killed after writing the new bytes, before the rename.
PAUSED = """
import os, sys, time
from milelib.results import atomic_write_bytes
atomic_write_bytes(sys.argv[1], b"old")
real = os.fsync
os.fsync = lambda fd: (real(fd), open(sys.argv[1] + ".paused", "w").close(), time.sleep(60))
atomic_write_bytes(sys.argv[1], b"new" * 1000)
"""


def wait_for(path, proc, seconds=60):
    deadline = time.time() + seconds
    while not path.exists():
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"the writer stopped or stalled before writing {path}")
        time.sleep(0.01)


def test_killed_writer_leaves_a_whole_file(tmp_path):
    path, rng = tmp_path / "metrics.json", random.Random()
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        wait_for(path, proc)
        time.sleep(rng.uniform(0.02, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = path.read_bytes()
        assert data in ((b"1" * 1_500_000), (b"2" * 1_500_000))  # one whole version, never a mix
        path.unlink()
        for tmp in tmp_path.glob(".*.tmp"):  # what a kill mid-write leaves is only ever a temp
            tmp.unlink()


def test_kill_during_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    proc = subprocess.Popen([sys.executable, "-c", PAUSED, str(path)])
    wait_for(tmp_path / "metrics.json.paused", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_bytes() == b"old"
    temps = list(tmp_path.glob(".metrics.json.*.tmp"))
    assert len(temps) == 1 and temps[0].read_bytes() == b"new" * 1000  # killed mid-write, for real
