"""Run by test_torchrun under torchrun: `milelib train --config CONFIG` with one process misbehaving
at its AT-th optimizer step: `die` (rank 0 exits at once, as a kill would) or `stall` (rank 1 stops
answering: it sleeps)."""
import os
import sys
import time

from milelib.cli import main
from milelib.methods import supervised

config, what, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
rank, real, calls = int(os.environ["RANK"]), supervised.sgd_step, []


def step(*args):
    calls.append(1)
    if len(calls) == at and what == "die" and rank == 0:
        os._exit(9)
    if len(calls) == at and what == "stall" and rank == 1:
        time.sleep(300)
    return real(*args)


supervised.sgd_step = step
main(["train", "--config", config])
