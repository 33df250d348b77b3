"""Is a sweep faster with two runs side by side (one thread each) or one run at a time (all the
cores' threads)? Alternates the two, several repeats, on the two kinds of quick run the notebooks
train; writes the median and range to results/benchmarks/sweep_jobs.json with provenance.

    python benchmarks/sweep_jobs.py [--repeats 3]

Measured here: see the "Runs side by side" table of benchmarks/README.md (the runs' numbers differ
between the two modes in the last digits, as the thread count changes float sums; that is why
profiles fix run.threads).
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from milelib import experiments, sweep
from milelib.results import atomic_write_json, provenance

CASES = {  # name: (experiment, overrides), four seeds of Sigmoid each
    "Table 5 grids (42x42, small CNN width 16), 400 steps": ("multi_mnist", {"optim.steps": 400}),
    "ReaL-like grids (21x21, width 8), 800 steps": ("kt_ks_heatmap", {}),
}
SEEDS = (0, 1, 2, 3)


def one_sweep(experiment: str, overrides: dict, threads: int, jobs: int) -> float:
    exp = experiments.get(experiment).EXPERIMENT
    base = exp.config("quick", {**overrides, "run.threads": threads, "run.progress": False})
    with tempfile.TemporaryDirectory() as store:
        started = time.perf_counter()
        sweep.run({"Sigmoid": {"method": "sigmoid"}}, base, SEEDS, store, jobs=jobs, log=lambda *a, **k: None)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "benchmarks"))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    modes = {f"one at a time, {cores} threads": (cores, 1), f"{cores} side by side, 1 thread each": (1, cores)}
    started, rows = time.time(), []
    for case, (experiment, overrides) in CASES.items():
        times = {mode: [] for mode in modes}
        for repeat in range(args.repeats):
            for mode in (list(modes) if repeat % 2 == 0 else list(modes)[::-1]):  # alternate the order
                times[mode].append(one_sweep(experiment, overrides, *modes[mode]))
                print(f"{case} | {mode}: {times[mode][-1]:.1f} s", flush=True)
        alone, side = (statistics.median(times[m]) for m in modes)
        rows.append({"case": case, "runs": len(SEEDS), "seconds": times,
                     "median_s": {m: statistics.median(t) for m, t in times.items()},
                     "range_s": {m: [min(t), max(t)] for m, t in times.items()},
                     "side_by_side_speedup": round(alone / side, 3)})
        print(f"{case}: side by side is {alone / side:.2f}x the speed of one at a time (medians)", flush=True)
    out = Path(args.out)
    atomic_write_json(out / "sweep_jobs.json", {"cases": rows, "repeats": args.repeats, "seeds": list(SEEDS)})
    atomic_write_json(out / "sweep_jobs.provenance.json", provenance({}, time.time() - started))
    print(f"wrote {out / 'sweep_jobs.json'}")


if __name__ == "__main__":
    main()
