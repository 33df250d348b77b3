"""Training length and loss scale chosen by a protocol on validation data, never by the clock.

A stand-in can only test the paper's claims if its networks reach their plateau (docs/evidence.md,
"Regime"). For each stand-in's profile, four stages on seeds no notebook reports
(SEEDS; means over the three), each a sweep in the shared run store whose validation numbers alone
are read:

1. loss: Sigmoid and Softmax with BCE averaged or summed over classes (`optim.bce`), at a few
   learning rates, trained long; the (bce, lr) whose worse method has the best validation mAP sets
   `optim.bce` and `optim.lr`, which every method shares (a best lr at the edge of the tried ones is
   no optimum: the list is extended past it by doubling or halving, until inside).
2. length: Sigmoid (and MILe at the profile's former setting, for the figure) at doubling lengths;
   L is the shortest length at which doubling to 2L raises Sigmoid's validation mAP by at most
   TOLERANCE points (`choose_length`).
3. MILe: k_t, k_s and rho over a grid at L, best validation mAP; then the same check for MILe at
   its chosen setting, doubling L until it holds: the length must hold for the MILe the notebooks
   run. (MILe at a former setting is not that MILe: on Multi-MNIST the 5-epoch profile's k_t = k_s
   = 200 still gained 1.1 points from 12,800 to 25,600 steps, where Sigmoid had stopped at 6,400.)
4. LL-R: the share of hidden-positive entries its large-loss rejection reaches by the last epoch
   (`experiments.controls.large_loss_delta`), best validation mAP at L (a best share at the edge of
   the list extended past it), as the single-positive papers choose delta_rel on validation data;
   the positive control "LL-R above AN" runs that share.

`python -m milelib.convergence STAND_IN` runs the stages and writes, per stage, a CSV of every
run's validation numbers, a figure and provenance under results/convergence/STAND_IN/PROFILE/.

5. fractions (`--fractions`, for notebook 01's table over fractions of the training images): at each
   fraction below 100%, stage 1 again at the chosen loss and length over FRACTION_LRS (extended
   past an edge), read by the same rule, so that the lr every method shares at that fraction trains
   both families there too (on 100 images, 2,048 epochs at the full data's lr 0.4 sent Softmax and
   ELR to chance or to a NaN loss on some seeds). It writes fractions.csv and fraction_lrs.json.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from . import plots, sweep
from .store import store_dir
from .experiments.controls import fits_ll_share, large_loss_delta
from .results import atomic_write_bytes, atomic_write_json, provenance, read_json

SEEDS = (100, 101, 102)  # never reported: notebooks report 0-4, notebook 08 10-14; means over the three
TOLERANCE = 0.5       # points of validation mAP that doubling the length may still add
METRIC = "val/map"


SMOKE = {"lengths": [8, 16, 32], "loss_steps": 16, "tolerance": 100.0, "lrs": {"mean": [0.2], "sum": [0.02]},
         "mile": {"method.teacher_steps": [4], "method.student_steps": [2], "method.rho": [0.25, 0.5]},
         "ll_shares": [0.5, 1.0]}
LL_SHARES = [0.25, 0.5, 1.0, 2.0]  # LL-R's candidate shares (x the hidden positives' share of entries)


def stand_ins() -> dict:
    """Stand-in -> (its experiment module's PROFILES, the protocol's candidates per stage under
    `quick`; `smoke` takes SMOKE, wiring only)."""
    from .experiments import multi_mnist, real_like

    return {
        "real_like": (real_like.PROFILES, {
            "lengths": [800, 1_600, 3_200, 6_400, 12_800], "loss_steps": 6_400,
            "lrs": {"mean": [0.2, 0.4, 0.8], "sum": [0.02, 0.04, 0.08]},
            "mile": {"method.teacher_steps": [100, 200, 400], "method.student_steps": [25, 100],
                     "method.rho": [0.25, 0.5]}}),
        "multi_mnist": (multi_mnist.PROFILES, {  # the same images and network as real_like: its loss
            "lengths": [800, 1_600, 3_200, 6_400, 12_800, 25_600], "loss_steps": 6_400,  # stage searched around
            "lrs": {"mean": [0.4, 0.8, 1.6], "sum": [0.08]},                      # real_like's choice
            "mile": {"method.teacher_steps": [100, 200], "method.student_steps": [25, 100],
                     "method.rho": [0.1, 0.25, 0.5]},
            "ll_shares": [0.25, 0.5, 1.0]}),  # h is about 0.5 here: 2h would exceed the unannotated entries
    }


def choose_length(table: pd.DataFrame, tolerance: float = TOLERANCE, metric: str = METRIC) -> int | None:
    """The shortest length L (column `steps`) at which, for every method (column `method`), the
    validation metric at 2L is at most `tolerance` points above that at L; None when no length of
    the table qualifies (the sweep must go longer). Means over seeds. A length at which a method's
    pseudo-label sets collapsed on some seed (`collapsed`) says nothing of its convergence: that
    method is left out of the rule there."""
    groups = [table.method, table.steps]
    means, whole = 100 * table.groupby(groups)[metric].mean(), ~collapsed(table).groupby(groups).any()
    lengths = sorted(table.steps.unique())
    for short in lengths:
        if 2 * short not in lengths:
            continue
        gains = [means[(m, 2 * short)] - means[(m, short)] for m in table.method.unique()
                 if whole.get((m, short), False) and whole.get((m, 2 * short), False)]
        if gains and max(gains) <= tolerance:
            return int(short)
    return None


def collapsed(table: pd.DataFrame) -> pd.Series:
    """Runs whose last pseudo-label sets were mostly empty or all-class (MILe's two collapses)."""
    shares = [table[c].fillna(0) for c in ("final_empty_share", "final_full_share") if c in table]
    return sum(shares, pd.Series(0.0, index=table.index)) > 0.5


def best(table: pd.DataFrame, metric: str = METRIC) -> pd.Series:
    """The first row of the candidate with the highest validation metric (mean over seeds), among
    those whose pseudo-label sets collapsed on no seed (`collapsed`): a collapse to every class
    scores F1 at 0.25 as predicting every class does (0.75 on Multi-MNIST), and is no setting. When
    every candidate collapsed (the smoke profile's seconds of training), among them all."""
    whole = table[~collapsed(table).groupby(table.candidate).transform("any")]
    whole = table if whole.empty else whole
    means = whole[metric].fillna(0.0).groupby(whole.candidate, sort=False).mean()  # diverged: 0
    return whole[whole.candidate == means.idxmax()].iloc[0]


def _run(points: dict[str, dict], identity: dict[str, dict], base, store, jobs, log, seeds=SEEDS) -> pd.DataFrame:
    table = sweep.run(points, base, seeds, store, jobs=jobs, log=log, shown="val/")
    columns = pd.DataFrame([identity[label] for label in table.label])
    kept = [c for c in table if c.startswith("val/") or c in ("final_empty_share", "final_full_share")]
    return pd.concat([columns, table[["seed", "config_hash", *kept, "train_wall_time_s"]]], axis=1)


LOSS_METHODS = ("sigmoid", "softmax")  # the lr is shared by every method: it must train both families


def loss_stage(base, lrs: dict, steps: int, store, jobs=None, log=print) -> pd.DataFrame:
    points, identity = {}, {}
    for bce, values in lrs.items():
        for lr in values:
            for method in LOSS_METHODS:
                label = f"{method}, bce={bce}, lr={lr}"
                points[label] = {"method": method, "optim.bce": bce, "optim.lr": lr, "optim.steps": steps}
                identity[label] = {"candidate": f"bce={bce}, lr={lr}", "method": method, "bce": bce, "lr": lr,
                                   "steps": steps}
    return _run(points, identity, base, store, jobs, log)


def best_shared(loss: pd.DataFrame, metric: str = METRIC) -> pd.Series:
    """The (bce, lr) whose worse method (mean over seeds) is best: a learning rate every method
    shares must not leave one of them diverged (averaged BCE at lr 0.8 suited Sigmoid and sent
    Softmax, whose gradient is C times larger, to chance). A run that diverged (no metric) scores 0."""
    scores = loss.assign(**{metric: loss[metric].fillna(0.0)})
    worst = scores.groupby(["candidate", "method"], sort=False)[metric].mean().groupby("candidate", sort=False).min()
    return loss[loss.candidate == worst.idxmax()].iloc[0]


def shared_lr(base, lrs: dict, steps: int, store, jobs=None, log=print, extend: bool = True,
              save=lambda loss: None) -> tuple[pd.DataFrame, pd.Series]:
    """The loss stage over `lrs` (bce -> lrs, extended in place) and its `best_shared` row: a best lr
    at the edge of its list is no optimum, so with `extend` the list goes past it (`past_edge`) until
    the best lies inside. `save` gets each table as soon as it is known."""
    while True:
        loss = loss_stage(base, lrs, steps, store, jobs, log)
        save(loss)
        top = best_shared(loss)
        further = past_edge(top.lr, lrs[top.bce])
        if further is None or not extend:
            return loss, top
        lrs[top.bce].append(further)


FRACTION_LRS = [0.05, 0.1, 0.2, 0.4]  # stage 5's candidates (the full data's 0.4 among them)


def fraction_stage(stand_in: str, fractions, profile: str = "quick", results_dir="results", jobs=None,
                   log=print) -> dict:
    """Stage 5 for `stand_in`'s recorded choice: per fraction, the lr by `best_shared` over Sigmoid
    and Softmax at the chosen loss and length; writes fractions.csv and fraction_lrs.json."""
    from .experiments import Experiment

    started, out = time.time(), Path(results_dir) / "convergence" / stand_in / profile
    choice = read_json(out / "choice.json")
    base = Experiment(name=stand_in, notebook="", profiles=stand_ins()[stand_in][0]).config(profile)
    store, bce, steps = store_dir(results_dir, profile), choice["optim.bce"], choice["optim.steps"]
    tables, lrs = [], {}
    for fraction in fractions:
        tried = {bce: list(FRACTION_LRS if profile != "smoke" else SMOKE["lrs"][bce])}
        table, top = shared_lr(base.override({"data.fraction": fraction}), tried, steps, store, jobs, log,
                               profile != "smoke")
        tables.append(table.assign(fraction=fraction))
        lrs[str(fraction)] = float(top.lr)
        atomic_write_bytes(out / "fractions.csv", pd.concat(tables, ignore_index=True).to_csv(index=False).encode())
    chosen = {"stand_in": stand_in, "profile": profile, "seeds": list(SEEDS), "metric": METRIC, "optim.bce": bce,
              "optim.steps": steps, "rule": "best_shared: the lr whose worse of Sigmoid and Softmax is best",
              "fraction_lrs": lrs}
    atomic_write_json(out / "fraction_lrs.json", chosen)
    atomic_write_json(out / "fractions_provenance.json", provenance({"base": base.to_dict()}, time.time() - started))
    log(f"{stand_in} ({profile}), lr per fraction: {lrs}")
    return chosen


def length_stage(base, methods: dict[str, dict], lengths, store, jobs=None, log=print) -> pd.DataFrame:
    points, identity = {}, {}
    for method, settings in methods.items():
        for n in lengths:
            label = f"{method}, {n} steps"
            points[label] = {**settings, "optim.steps": n}
            identity[label] = {"candidate": label, "method": method, "steps": n}
    return _run(points, identity, base, store, jobs, log)


def mile_stage(base, grid: dict[str, list], steps: int, store, jobs=None, log=print) -> pd.DataFrame:
    from .experiments import grid as full_grid

    points = {f"MILe, {label}": {"method": "mile", **settings, "optim.steps": steps}
              for label, settings in full_grid(grid).items()}
    identity = {label: {"candidate": label, "steps": steps, **{k.split(".")[1]: v for k, v in p.items()
                                                               if k in grid}} for label, p in points.items()}
    return _run(points, identity, base, store, jobs, log)


def ll_stage(base, shares, steps: int, store, jobs=None, log=print) -> pd.DataFrame:
    at = base.override({"optim.steps": steps})
    points = {f"LL-R, share {share}": {"method": "ll_r", "optim.steps": steps,
                                       "method.delta_rel": large_loss_delta(at, share)} for share in shares}
    identity = {label: {"candidate": label, "steps": steps, "share": float(label.split()[-1]),
                        "delta_rel": p["method.delta_rel"]} for label, p in points.items()}
    return _run(points, identity, base, store, jobs, log)


def past_edge(best: float, tried: list) -> float | None:
    """The value to try next when `best` lies at an end of `tried` (no optimum there): doubled past
    the top, halved past the bottom; None when it lies inside."""
    if best == max(tried):
        return best * 2
    return best / 2 if best == min(tried) else None


def figure(lengths: pd.DataFrame, chosen: int | None, title: str):
    import matplotlib.pyplot as plt

    with plt.rc_context(plots.STYLE):
        fig, ax = plt.subplots(figsize=(4.2, 3))
        for method, rows in lengths.groupby("method", sort=False):
            by = rows.assign(pct=100 * rows[METRIC]).groupby("steps").pct.agg(["mean", "std"]).reset_index()
            ax.errorbar(by.steps, by["mean"], yerr=by["std"].fillna(0), marker="o", capsize=3, label=method)
        if chosen:
            ax.axvline(chosen, ls="--", lw=1, color="grey", label=f"chosen: {chosen:,} steps")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("optimizer steps"), ax.set_ylabel("validation mAP (%)"), ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
    return fig


def protocol(stand_in: str, profile: str = "quick", results_dir="results", jobs=None, log=print) -> dict:
    """The four stages for one stand-in's profile; writes their tables, a figure and the choice."""
    profiles, spec = stand_ins()[stand_in]
    spec = SMOKE if profile == "smoke" else spec
    started = time.time()
    from .experiments import Experiment

    base = Experiment(name=stand_in, notebook="", profiles=profiles).config(profile)
    store, out = store_dir(results_dir, profile), Path(results_dir) / "convergence" / stand_in / profile
    tolerance = spec.get("tolerance", TOLERANCE)

    def save(name, table):  # each stage's table as soon as it is known: nothing lost if a later one fails
        atomic_write_bytes(out / f"{name}.csv", table.to_csv(index=False).encode())

    lrs = {bce: list(values) for bce, values in spec["lrs"].items()}
    _, top = shared_lr(base, lrs, spec["loss_steps"], store, jobs, log, profile != "smoke",
                       lambda loss: save("loss", loss))
    chosen = {"optim.bce": top.bce, "optim.lr": float(top.lr)}
    base = base.override(chosen)
    mile_before = {k: getattr(base.method, k.split(".")[1]) for k in spec["mile"]}
    lengths = length_stage(base, {"Sigmoid": {"method": "sigmoid"}, "MILe (former setting)": {"method": "mile"}},
                           spec["lengths"], store, jobs, log)
    save("lengths", lengths)
    length = choose_length(lengths[lengths.method == "Sigmoid"], tolerance)
    if length is None:
        raise RuntimeError(f"{stand_in} ({profile}): no length of {spec['lengths']} is within {tolerance} points of "
                           f"its double for Sigmoid; extend the lengths")
    grid = mile_stage(base.override({"optim.steps": length}), spec["mile"], length, store, jobs, log)
    save("mile", grid)
    top_mile = best(grid)
    mile = {k: (float if k.endswith("rho") else int)(top_mile[k.split(".")[1]]) for k in spec["mile"]}
    while True:  # the length must hold for MILe at its chosen setting too: double until it does
        check = length_stage(base.override(mile), {"MILe (chosen)": {"method": "mile"}}, [length, 2 * length],
                             store, jobs, log)
        lengths = pd.concat([lengths, check], ignore_index=True).drop_duplicates(["method", "steps", "seed"])
        save("lengths", lengths)
        if choose_length(check, tolerance) == length or profile == "smoke":
            break
        length *= 2
    shares = list(spec.get("ll_shares", LL_SHARES))
    while True:  # as for the lr: a best share at the edge of the list is extended past it, by doubling
        ll_r = ll_stage(base.override(mile), shares, length, store, jobs, log)
        save("ll_r", ll_r)
        top_ll = best(ll_r).share
        further = past_edge(top_ll, shares)
        if further is None or profile == "smoke" or not fits_ll_share(base, further):
            break  # (LL cannot modify more than the unannotated entries)
        shares.append(further)
    plots.savefig(figure(lengths, length, f"{stand_in} ({profile}), seeds {', '.join(map(str, SEEDS))}"), out, "lengths")
    choice = {"stand_in": stand_in, "profile": profile, "seeds": list(SEEDS), "tolerance_points": tolerance,
              "metric": METRIC, **chosen, "optim.steps": length, **mile, "mile_before": mile_before,
              "ll_share": float(top_ll)}
    atomic_write_json(out / "choice.json", choice)
    atomic_write_json(out / "provenance.json", provenance({"base": base.to_dict()}, time.time() - started))
    log(f"{stand_in} ({profile}): {choice}")
    return choice


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m milelib.convergence", description=__doc__.split("\n")[0])
    parser.add_argument("stand_in", choices=sorted(stand_ins()))
    parser.add_argument("--profile", default="quick", choices=["smoke", "quick"])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--fractions", type=float, nargs="+", metavar="F",
                        help="stage 5 only, after the others: the shared lr at each of these fractions "
                             "(e.g. 0.01 0.05 0.1)")
    args = parser.parse_args(argv)
    if args.fractions:
        fraction_stage(args.stand_in, args.fractions, args.profile, args.results_dir, args.jobs)
    else:
        protocol(args.stand_in, args.profile, args.results_dir, args.jobs)


if __name__ == "__main__":
    main()
