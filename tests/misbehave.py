"""Run by test_torchrun under torchrun: `milelib train --config CONFIG` with one process misbehaving
at its AT-th optimizer step: `die` (rank 0 exits at once, as a kill would), `stall` (rank 1 stops
answering: it sleeps) or `perturb` (rank 1 nudges one weight after its step)."""
import os
import sys
import time

import torch

from milelib.cli import main
from milelib.methods import supervised

config, what, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
rank, real, calls = int(os.environ["RANK"]), supervised.sgd_step, []


def step(*args):
    calls.append(1)
    if len(calls) == at and what == "perturb" and rank == 1:  # one weight nudged on one process
        loss = real(*args)
        with torch.no_grad():
            next(args[0].parameters()).view(-1)[0] += 1e-3
        return loss
    if len(calls) == at and what == "die" and rank == 0:
        os._exit(9)
    if len(calls) == at and what == "stall" and rank == 1:
        time.sleep(300)
    return real(*args)


supervised.sgd_step = step
main(["train", "--config", config])
