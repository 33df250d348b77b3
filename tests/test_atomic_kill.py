"""No results file is ever seen half-written, even when its writer is killed mid-write."""
import json
import random
import signal
import subprocess
import sys
import time

WRITER = """
import sys
from milelib.results import atomic_write_json
version = 0
while True:
    version += 1
    atomic_write_json(sys.argv[1], {"version": version, "payload": [version] * 200_000})  # ~1.4 MB
"""


def test_killed_writer_leaves_a_whole_file(tmp_path):
    path, rng = tmp_path / "metrics.json", random.Random()
    versions = []
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        while not path.exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())  # parses: never a torn file
        assert data["payload"] == [data["version"]] * 200_000
        versions.append(data["version"])
        path.unlink()
        for tmp in tmp_path.glob(".*.tmp"):  # what a kill mid-write leaves is only ever a temp
            tmp.unlink()
    assert max(versions) > 1  # the writer really was interrupted between and during writes
