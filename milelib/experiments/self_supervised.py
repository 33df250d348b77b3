"""Tables 3 and 4: fine-tuning self-supervised encoders with Sigmoid and with MILe at 1%, 10% and
100% of the labels (Table 3), and semi-supervised distillation with the unlabelled rest (Table 4).

The runs come in three stages, each a sweep in the shared run store, since each names the files of
the one before (`model.pretrained`, `method.teacher_run`):

1. encoders. `quick` / `smoke`: SimCLR on every training grid of the ReaL-like stand-in (labels never
   read), one encoder of the student's width and one of twice its width for the larger teacher,
   trained once (seed 0) and shared by every fine-tuning seed, as one downloaded checkpoint is;
   each exported in SimCLR's converted layout and read back through `model.pretrained`, the path a
   downloaded checkpoint takes. Beside them, the runs from scratch (notebook 01's, read back).
   `paper`: the checkpoints in CHECKPOINTS found under DATA_ROOT.
2. fine-tuning (Table 3): Sigmoid and MILe from each encoder at each fraction; the wider encoder
   with Sigmoid at 1% and 10%, as Table 4's larger teacher.
3. students (Table 4), each naming its own seed's teachers, all starting from the student-size
   encoder and taking the profile's steps: distilled from the wider teacher and self-distilled
   (the teacher, fixed, is Table 3's Sigmoid run; its softmax is the target on every training
   image: SimCLR v2's recipe), and MILe whose imitation steps read every training image unlabelled
   (`data.unlabelled`) while its label steps read the labelled fraction. MILe has no separate
   teacher: its own short-lived teachers are the student's size, as the paper's "R50 (1x+SK)".

The control runs of `controls.points` train at 100% beside Sigmoid from `control_init`: on the
stand-in from scratch (notebook 01's runs, shared through the store), under `paper` from Table 4's
encoder. Every claim is decided by a paired 95% interval over seeds.
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import torch

from ..evidence import claim, gap_claim, paired_gaps
from ..report import seed_stats
from ..results import atomic_write_bytes
from ..training import load_run
from . import controls
from .protocol import Experiment, Profile, register
from .imagenet_fractions import (EPOCHS, IMAGENET_TRAIN, PAPER as TABLE1, PAPER_FRACTIONS, PAPER_TRAINING,
                                 _fraction_order, pct, scaled_steps)
from .real_like import CONTROL_RUNS, PROFILES as REAL_LIKE, STAND_IN

FRACTIONS = {"smoke": [0.25, 1.0], "quick": [0.01, 0.1, 1.0], "paper": [0.01, 0.1, 1.0]}
SEMI_FRACTIONS = {"smoke": [0.25], "quick": [0.01, 0.1], "paper": [0.01, 0.1]}  # Table 4

# SimCLR on the stand-in. Chosen beforehand: lr 0.3, NT-Xent tau 0.5 (SimCLR's CIFAR-10 setting).
# Steps and batch: a development check on seed 0's VALIDATION grids (Sigmoid fine-tuned 800 steps
# from each encoder; the test grids were not looked at): val accuracy at 1% / 10% of the labels was
# 55.3 / 81.1 for 300 steps of batch 256, 62.5 / 80.1 for 600, 65.1 / 79.9 for 1200, and 62.2 / 81.8
# for 600 steps of batch 128 (from scratch: 61.2 / 77.3). 600 of batch 128 is as good on validation
# at half the cost of 600 of 256, and fits notebook 03's time budget; 1200 of 256 would not.
PRETRAINING = {"quick": {"method": "simclr", "data.fraction": 1.0, "optim.steps": 600, "optim.batch_size": 128,
                         "optim.lr": 0.3, "optim.warmup_steps": 30},
               "smoke": {"method": "simclr", "data.fraction": 1.0, "optim.steps": 8, "optim.batch_size": 32,
                         "optim.warmup_steps": 2}}
WIDER = 2  # the larger teacher's width multiplier: 2.2x the parameters of the small CNN (the paper: "2x
           # parameters"; SimCLR v2's 2x widens a ResNet-50 the same way)
WIDE = f"SimCLR {WIDER}x"

# Under `paper`: ResNet-50 checkpoints users download, relative to DATA_ROOT (or absolute), in the
# layouts milelib.pretrained reads; the ones found are fine-tuned. SimCLR v2's 2x and sk1 networks
# are not torchvision ResNet-50s, so the paper's larger teacher has no counterpart here.
CHECKPOINTS = {"MoCo-v2": "checkpoints/moco_v2_800ep_pretrain.pth.tar",
               "SimCLR-v2 (sk0)": "checkpoints/r50_1x_sk0.pth",
               "SimCLR": "checkpoints/simclr_r50_1x.pth", "BYOL": "checkpoints/byol_r50.pth",
               "SwAV": "checkpoints/swav_800ep_pretrain.pth.tar"}
SEMI_CHECKPOINT = {"paper": "SimCLR-v2 (sk0)", "quick": "SimCLR", "smoke": "SimCLR"}  # Table 4's encoder
FINETUNE_EPOCHS = {0.01: 60, 0.1: 30, 1.0: 30}  # our choice (the paper does not say); SimCLR v2's for 1%, 10%

PROFILES = {
    "smoke": REAL_LIKE["smoke"],
    "quick": Profile(REAL_LIKE["quick"].settings, seeds=(0, 1, 2), control_seeds=REAL_LIKE["quick"].control_seeds,
                     note=REAL_LIKE["quick"].note.replace("5 seeds", "3 seeds") +
                     "; SimCLR encoders pretrained once on the 10k training grids, labels unread"),
    "paper": Profile(
        {"data": "imagenet", **PAPER_TRAINING, "optim.lr": 0.05, "optim.steps": EPOCHS * IMAGENET_TRAIN // 256},
        seeds=(0,),
        data_root=True,
        note="ImageNet (DATA_ROOT: train/, val/, real.json, and the checkpoints of CHECKPOINTS), ResNet-50 "
             "fine-tuned from each self-supervised checkpoint found, 60 epochs at 1%, 30 at 10% and 100% "
             "(SimCLR v2's for 1% and 10%; ours for 100%), batch 256, SGD lr 0.05 with cosine decay, MILe "
             "rho 0.25 with k_t, k_s scaled from 8k, 2k per 100 epochs; GPUs",
    ),
}
SCRATCH = "scratch"


def _finetune(profile: str, base, fraction: float) -> tuple[dict, dict]:
    """The settings of every run at `fraction`, and MILe's own. Under `paper` the steps follow the
    fraction's epochs (the base config holds EPOCHS of the whole set), and the warm-up and MILe's
    k_t, k_s scale with them."""
    if profile != "paper":
        return {"data.fraction": fraction}, {}
    steps, mile = scaled_steps(base, max(2, round(base.optim.steps * fraction * FINETUNE_EPOCHS[fraction] / EPOCHS)))
    return {"data.fraction": fraction, **steps}, mile


def encoder_points(profile: str, base) -> dict[str, dict]:
    """Stage 1 on the stand-in: SimCLR encoders of the student's width and of WIDER times it."""
    if profile == "paper":
        return {}
    return {"SimCLR": PRETRAINING[profile], WIDE: {**PRETRAINING[profile], "model.width": WIDER * base.model.width}}


def control_init(profile: str, encoders) -> str:
    """Where the control runs start: from scratch on the stand-in; under `paper`, Table 4's encoder
    when it was found, else the first encoder found."""
    if profile != "paper":
        return SCRATCH
    return SEMI_CHECKPOINT[profile] if SEMI_CHECKPOINT[profile] in encoders else next(iter(encoders))


def finetune_points(profile: str, base, encoders: dict[str, str | None]) -> dict[str, dict]:
    """Sigmoid and MILe from each encoder (None: from scratch) at each fraction, and the control runs
    at 100% from `control_init`; the wider encoder is fine-tuned with Sigmoid at the semi-supervised
    fractions only: it is Table 4's larger teacher."""
    out = {}
    for init, path in encoders.items():
        start = {"model.pretrained": path} if path else {}
        if init == WIDE:
            for fraction in SEMI_FRACTIONS[profile]:
                out[f"Sigmoid, {init}, {pct(fraction)}"] = {"method": "sigmoid", **start, "model.width": WIDER * base.model.width,
                                                            **_finetune(profile, base, fraction)[0]}
            continue
        for fraction in FRACTIONS[profile]:
            shared, mile = _finetune(profile, base, fraction)
            out[f"Sigmoid, {init}, {pct(fraction)}"] = {"method": "sigmoid", **start, **shared}
            out[f"MILe, {init}, {pct(fraction)}"] = {**start, **shared, **mile}
        if init == control_init(profile, encoders):
            out.update({f"{name}, {init}, {pct(1.0)}": {**settings, **start, **_finetune(profile, base, 1.0)[0]}
                        for name, settings in controls.points(base, STAND_IN).items()})
    return out


def student_points(profile: str, base, encoders: dict[str, str], runs: dict[str, str]) -> dict[str, dict]:
    """Stage 3 for one seed; `runs` maps the fine-tuning labels to that seed's run folders. The
    teachers are Table 3's Sigmoid runs: the student-size one (self-distillation) and the wider one."""
    semi, out = SEMI_CHECKPOINT[profile], {}
    for fraction in SEMI_FRACTIONS[profile]:
        shared, mile = _finetune(profile, base, fraction)
        shared = {**shared, "data.unlabelled": True, "model.pretrained": encoders[semi]}
        steps = shared.get("optim.steps", base.optim.steps)  # not base.override(shared): MILe's k_t would not fit
        for label, teacher in ((f"Distilled ({WIDER}x teacher)", WIDE), ("Self-distilled", semi)):
            run = runs.get(f"Sigmoid, {teacher}, {pct(fraction)}")
            if run:
                out[f"{label}, {semi}, {pct(fraction)}"] = {
                    **shared, "method": "soft_distillation", "method.teacher_steps": 0, "method.student_steps": steps,
                    "method.teacher_run": run}
        out[f"MILe + unlabelled, {semi}, {pct(fraction)}"] = {**shared, **mile}
    return out


def set_by_runs(profile: str, base) -> list[dict]:
    """Every run's settings over its three stages (an encoder path stands in for each, a teacher's
    run folder for each teacher)."""
    encoders = {SCRATCH: None, SEMI_CHECKPOINT[profile]: "encoder", WIDE: "encoder"}
    teachers = {f"Sigmoid, {init}, {pct(f)}": "teacher" for init in encoders for f in SEMI_FRACTIONS[profile]}
    stages = (encoder_points(profile, base), finetune_points(profile, base, encoders),
              student_points(profile, base, encoders, teachers))
    return [point for points in stages for point in points.values()]


def encoders_found(data_root) -> dict[str, str]:
    """Under `paper`: the CHECKPOINTS present under DATA_ROOT; one line when there is none."""
    root = Path(data_root or ".").expanduser()
    found = {name: str(p) for name, rel in CHECKPOINTS.items()
             if (p := Path(rel) if Path(rel).is_absolute() else root / rel).is_file()}
    if not found:
        raise FileNotFoundError(f"no self-supervised checkpoint under {root}: notebook 03's paper profile fine-tunes "
                                f"those of CHECKPOINTS ({', '.join(CHECKPOINTS.values())}); download at least one")
    return found


def export_encoder(run_dir) -> Path:
    """Write a finished SimCLR run's encoder as `encoder.pth` beside it, in SimCLR's converted
    layout; return its path (written once: a later call returns the file as it is)."""
    target = Path(run_dir) / "encoder.pth"
    if target.is_file():
        return target
    method, cfg = load_run(run_dir)
    if cfg.method.name != "simclr":
        raise ValueError(f"{run_dir} is a {cfg.method.name!r} run: export_encoder takes a finished simclr run")
    buffer = io.BytesIO()
    encoder, projection = method.net
    torch.save({"resnet": {k: v.cpu() for k, v in encoder.state_dict().items()},
                "head": {k: v.cpu() for k, v in projection.state_dict().items()}}, buffer)
    return atomic_write_bytes(target, buffer.getvalue())


def run_stages(session) -> pd.DataFrame:
    """The three stages (see the module's docstring); one table of every run, its stage a column.
    `session.run_points(points, seeds)` trains in the notebook's store. On the stand-in the runs
    from scratch, which need no encoder, train beside the encoders."""
    profile, base, seeds, run_points = session.profile, session.base, session.seeds, session.run_points

    points = {"encoders (seed 0)": encoder_points(profile, base)}
    if profile == "paper":
        encoders, first = encoders_found(getattr(base.data, "root", None)), pd.DataFrame(columns=["label", "seed", "run_dir"])
    else:
        points["from scratch"] = finetune_points(profile, base, {SCRATCH: None})
        first = run_points(lambda seed: {**(points["encoders (seed 0)"] if seed == 0 else {}),
                                         **(points["from scratch"] if seed in seeds else {})}, sorted({0, *seeds}))
        encoders = {label: str(export_encoder(run)) for label, run in zip(first.label, first.run_dir)
                    if label in points["encoders (seed 0)"]}
    points["fine-tuning"] = finetune_points(profile, base, encoders)
    tuned = pd.concat([first[~first.label.isin(points["encoders (seed 0)"])], run_points(points["fine-tuning"], seeds)],
                      ignore_index=True)
    students = pd.DataFrame()
    if SEMI_CHECKPOINT[profile] in encoders:  # Table 4 needs its encoder
        def per_seed(seed):
            mine = tuned[tuned.seed == seed]
            return student_points(profile, base, encoders, dict(zip(mine.label, mine.run_dir)))

        points["students"] = {f"seed {seed}": per_seed(seed) for seed in seeds}
        students = run_points(per_seed, seeds)
    encoder_rows = first[first.label.isin(points["encoders (seed 0)"])]
    table = pd.concat([encoder_rows.assign(stage="encoder"), tuned.assign(stage="fine-tuning"),
                       students.assign(stage="student")], ignore_index=True)
    table.attrs.update(encoders=encoders, points=points)
    return table


def scratch_points(profile: str, base) -> dict[str, dict]:
    """The runs that need no earlier stage (from scratch, the stand-in's control runs among them);
    the notebook runs everything through `run_stages`, the controls' extra seeds through these."""
    return {} if profile == "paper" else finetune_points(profile, base, {SCRATCH: None})



# The paper's numbers, percent: Table 3 (ImageNet top-1, ReaL-F1 at 1%, 10%, 100%) and Table 4 (top-1).
PAPER_T3 = {"SimCLR": ((48.3, 65.6, 76.25), (51.54, 69.16, 76.91)),
            "BYOL": ((53.2, 68.8, 77.2), (54.32, 70.81, 78.85)),
            "SwAV": ((53.9, 70.2, 77.74), (55.79, 71.22, 79.18)),
            "MoCo-v2": ((51.72, 66.5, 77.12), (53.34, 70.75, 79.04)),
            "MILe + MoCo-v2": ((52.62, 67.4, 77.38), (56.08, 71.48, 80.03)),
            "SimCLR-v2 (sk0)": ((58.18, 68.9, 76.3), (57.25, 70.11, 78.83)),
            "MILe + SimCLR-v2 (sk0)": ((61.85, 70.5, 77.29), (60.49, 72.76, 79.38)),
            "SimCLR-v2 (sk1)": ((64.7, 72.4, 78.7), (62.77, 74.21, 79.43)),
            "MILe + SimCLR-v2 (sk1)": ((69.4, 74.7, 79.5), (65.04, 76.40, 81.53))}
PAPER_T4 = {"Distilled, R50 (2x+SK) teacher": (69.0, 75.1), "Self-distilled, R50 (1x+SK) teacher": (70.15, 74.43),
            "MILe, R50 (1x+SK)": (73.08, 75.3)}
KEYS = ["accuracy", "f1@0.5", "map", "f1@best"]
PAPER_NUMBERS = {  # (row, metric, fraction) -> percent: Tables 3 and 4, and Table 1's Sigmoid (ResNet-50 from scratch)
    **{(row, key, f): v for row, pair in PAPER_T3.items() for key, values in zip(("accuracy", "f1@0.5"), pair)
       for f, v in zip(("1%", "10%", "100%"), values)},
    **{(row, "accuracy", f): v for row, values in PAPER_T4.items() for f, v in zip(("1%", "10%"), values)},
    **{("Table 1, Sigmoid", "accuracy", f): v
       for f, v in zip(PAPER_FRACTIONS, TABLE1[("accuracy", "resnet50")]["Sigmoid"])}}


def paper_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    t3 = pd.DataFrame({name: [*acc, *f1] for name, (acc, f1) in PAPER_T3.items()},
                      index=pd.MultiIndex.from_product([["ImageNet top-1", "ReaL-F1"], ["1%", "10%", "100%"]])).T
    t4 = pd.DataFrame(PAPER_T4, index=["1%", "10%"]).T
    return t3, t4


def _split(stats: pd.DataFrame) -> pd.DataFrame:
    parts = stats.label.str.split(", ")
    return stats.assign(method=parts.str[0], init=parts.str[1], fraction=parts.str[2])


def our_table(table: pd.DataFrame, stage: str, keys=KEYS) -> pd.DataFrame:
    """A stage's runs as rows (method, init), columns (metric, fraction): mean ± std over seeds."""
    runs = table[table.stage == stage]
    stats = _split(seed_stats(runs, list(keys)))
    cell = stats.apply(lambda r: f"{r['mean']:.1f}" + (f" ± {r['std']:.1f}" if r["seeds"] > 1 else ""), axis=1)
    wide = stats.assign(cell=cell).pivot_table(index=["init", "method"], columns=["metric", "fraction"],
                                               values="cell", aggfunc="first", sort=False)
    order = _fraction_order(stats.fraction)
    return wide[sorted(wide.columns, key=lambda c: (keys.index(c[0]), order.index(c[1])))]


def _paper_gap(a: str, b: str, fraction: str, key: str = "accuracy") -> float | None:
    """The paper's gap between two rows of PAPER_NUMBERS; None where either has no number."""
    x, y = PAPER_NUMBERS.get((a, key, fraction)), PAPER_NUMBERS.get((b, key, fraction))
    return None if x is None or y is None else round(x - y, 2)


def _init_claims(table: pd.DataFrame, init: str, f: str, scratch: bool) -> list[dict]:
    """At fraction `f`: the encoder against scratch (Sigmoid), MILe against Sigmoid from it, and,
    per seed, MILe's gain over Sigmoid from it minus the same gain from scratch."""
    run = lambda method, start=init: f"{method}, {start}, {f}"  # noqa: E731
    gain = lambda start, key: paired_gaps(table, run("MILe", start), run("Sigmoid", start), key)  # noqa: E731
    rows = [claim(table, run("Sigmoid"), run("Sigmoid", SCRATCH), "accuracy", f"the {init} encoder beats training "
                  f"from scratch, Sigmoid at {f} (accuracy)", "implied (Table 3's row minus Table 1's Sigmoid, "
                  "ResNet-50)", _paper_gap(init, "Table 1, Sigmoid", f))] if scratch else []
    rows += [claim(table, run("MILe"), run("Sigmoid"), key, f"MILe improves fine-tuning of {init} at {f} ({key})",
                   "holds (Table 3)" if key in ("accuracy", "f1@0.5") else "not reported",
                   _paper_gap(f"MILe + {init}", init, f, key)) for key in KEYS]
    if scratch:
        rows += [gap_claim(gain(init, key) - gain(SCRATCH, key), key, f"MILe - Sigmoid, {init}, {f}",
                           f"MILe - Sigmoid, {SCRATCH}, {f}", f"MILe's gain over Sigmoid is larger from {init} than "
                           f"from scratch at {f} ({key})", "holds across encoders (Table 3: sk1 > sk0, MoCo-v2)")
                 for key in ("accuracy", "f1@0.5")]
    return rows


def _semi_claims(table: pd.DataFrame, profile: str) -> list[dict]:
    """Table 4: MILe with the unlabelled images against each distilled student, and against MILe without them."""
    semi, have, rows = SEMI_CHECKPOINT[profile], set(table.label), []
    for f in (pct(x) for x in SEMI_FRACTIONS[profile]):
        mile = f"MILe + unlabelled, {semi}, {f}"
        if mile not in have:
            continue
        for other, row in ((f"Self-distilled, {semi}, {f}", "Self-distilled, R50 (1x+SK) teacher"),
                           (f"Distilled ({WIDER}x teacher), {semi}, {f}", "Distilled, R50 (2x+SK) teacher")):
            if other in have:
                rows.append(claim(table, mile, other, "accuracy", f"MILe beats {other.split(', ')[0]} at {f} "
                                  "(accuracy)", f"holds (Table 4, vs {row})", _paper_gap("MILe, R50 (1x+SK)", row, f)))
        rows.append(claim(table, mile, f"MILe, {semi}, {f}", "accuracy", f"the unlabelled images help MILe at {f} "
                          "(accuracy)", "implied (Table 4's MILe minus Table 3's MILe + SimCLR-v2 (sk1))",
                          _paper_gap("MILe, R50 (1x+SK)", "MILe + SimCLR-v2 (sk1)", f)))
    return rows


def claims(table: pd.DataFrame, profile: str = "quick") -> pd.DataFrame:
    """Tables 3 and 4's claims on what ran, each a paired 95% interval over seeds (points): per
    fraction and encoder (from scratch only on the stand-in), then Table 4's students."""
    starts = dict.fromkeys(table[table.stage == "fine-tuning"].label.str.split(", ").str[1])
    inits, scratch = [i for i in starts if i not in (SCRATCH, WIDE)], SCRATCH in starts
    rows = [row for f in (pct(x) for x in FRACTIONS[profile]) for init in inits
            for row in _init_claims(table, init, f, scratch)]
    return pd.DataFrame(rows + _semi_claims(table, profile))


def positive_controls(table: pd.DataFrame, base, profile: str, results_dir) -> pd.DataFrame:
    """`controls.controls` on the control runs at 100% and Sigmoid beside them (from `control_init`)."""
    start = control_init(profile, table.attrs.get("encoders", {}))
    return controls.controls(table, base, "imagenet" if profile == "paper" else STAND_IN, profile, results_dir,
                             lambda name: f"{name}, {start}, {pct(1.0)}")


EXPERIMENT = register(Experiment(
    name="self_supervised", notebook="03_self_supervised", profiles=PROFILES, points=scratch_points,
    axes=("data.fraction", "model.pretrained"), control_runs=tuple(f"{name}, {SCRATCH}, {pct(1.0)}" for name in CONTROL_RUNS),
    stages=run_stages, set_by_runs=set_by_runs, controls=positive_controls, claims=claims), __name__)
