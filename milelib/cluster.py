"""A sweep on a SLURM cluster, through submitit (`launcher="slurm"`): the pending runs go as one job
array, one array task per run, each task a run on GPUS GPUs of one node (GPUS processes, their
torch.distributed set up from SLURM's variables). A task that is preempted or reaches its time
limit is requeued by submitit and resumes from its last checkpoint (the run's own exact resume).

Job settings come from the environment variable MILELIB_SLURM, a JSON mapping of submitit's
AutoExecutor parameters, e.g. '{"slurm_partition": "gpu", "timeout_min": 1440, "cpus_per_task": 12,
"slurm_array_parallelism": 32}'; logs go to `<run store>/.slurm/`. Several nodes per run: launch
`torchrun --nnodes N` yourself (README).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import submitit

from .store import RunFolderBusy
from .training import train_quietly

CLUSTER = "slurm"  # submitit's executor; the tests use "local", the same code path on one machine
DEFAULTS = {"timeout_min": 24 * 60, "name": "milelib"}
POLL_S = 30  # how often the sweep asks SLURM about its jobs


class TrainRun(submitit.helpers.Checkpointable):
    """One array task: the run of `cfg` (a RunConfig dict). Checkpointable: on preemption or time
    out, submitit requeues this same call, which resumes the run from its checkpoint."""

    def __call__(self, cfg: dict) -> str | None:
        """None once the run is trained; the holder of its folder when another process took it after
        the sweep looked (the sweep skips it as busy and picks it up later, not a failed job)."""
        if submitit.JobEnvironment().num_tasks > 1:  # one process per GPU: torch.distributed from SLURM's variables
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        try:
            train_quietly(cfg)
        except RunFolderBusy as busy:  # rank 0's: the others stop when it has gone, or at run.timeout_minutes
            return busy.holder
        return None


def settings() -> dict:
    """MILELIB_SLURM, read as JSON, over the defaults."""
    text = os.environ.get("MILELIB_SLURM", "{}")
    try:
        given = json.loads(text)
    except ValueError:
        given = None
    if not isinstance(given, dict):
        raise ValueError(f"MILELIB_SLURM holds {text[:80]!r}: expected a JSON mapping of submitit parameters, "
                         f"e.g. '{{\"slurm_partition\": \"gpu\", \"timeout_min\": 1440}}'")
    return {**DEFAULTS, **given}


def train_all(tasks: list, gpus: int, store: Path):
    """Submit every task's run as one job array and yield (task, None) as each job ends, (task,
    holder) for a run another process was training when its job started; a failed job raises one
    line naming its run and its log."""
    if CLUSTER == "slurm" and shutil.which("sbatch") is None:
        raise ValueError("launcher slurm needs SLURM's sbatch, which is not on this machine's PATH: run the sweep "
                         "on a login node of the cluster, or use launcher local or torchrun")
    executor = submitit.AutoExecutor(folder=Path(store) / ".slurm" / "%j", cluster=CLUSTER)
    executor.update_parameters(**{"gpus_per_node": gpus, "tasks_per_node": gpus, **settings()})
    jobs = executor.map_array(TrainRun(), [task.cfg.to_dict() for task in tasks])
    by_job = {job.job_id: task for job, task in zip(jobs, tasks)}
    for job in submitit.helpers.as_completed(jobs, poll_frequency=POLL_S):
        task = by_job[job.job_id]
        first = job.task(0)  # the process that locks the run folder (rank 0)
        holder = first.result() if first.exception() is None else None
        if holder:
            yield task, holder
            continue
        error = job.exception()
        if error is not None:
            last = next((line for line in reversed(str(error).splitlines()) if line.strip()), "no message")
            raise RuntimeError(f"SLURM job {job.job_id} training {task.folder} failed: {last.strip()} (its log: "
                               f"{job.paths.stderr}); rerun the sweep to resume it from its checkpoint")
        yield task, None
