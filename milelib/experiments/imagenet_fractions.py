"""Table 1: Softmax, ELR, Sigmoid and MILe trained on 1%, 5%, 10% and 100% of the training images;
accuracy, ReaL accuracy, ReaL-F1 and label coverage, plus mAP and F1@best.

- `paper`: ImageNet from DATA_ROOT (train/, val/, real.json; data_prep/imagenet.py checks it),
  ResNet-50 and ResNet-18 from torchvision, 100 epochs at every fraction as in the paper, so the
  steps shrink with the fraction; SimCLR's subset files are used where `SUBSETS` names them.
- `quick` / `smoke`: the ReaL-like stand-in of notebooks 04, 05 and 07 (its runs at 100% are the
  same runs, read back from the store) at the same fractions of its training grids, small CNN. At
  equal epochs 1% of 10k grids would be 32 steps; here every fraction takes the profile's 3,200 steps,
  at the lr the convergence protocol chose for that fraction (FRACTION_LRS).

At 100% the control runs of `controls.points` train beside the methods (the oracle and LL-R on the
stand-in, LL-R on ImageNet), per model. Every claim is decided by a paired 95% interval over seeds;
`evidence.seed_gaps` and `evidence.gap_claim` serve the claims that span several runs.
"""
from __future__ import annotations

import pandas as pd

from ..evidence import claim, gap_claim, seed_gaps
from ..report import seed_stats
from . import controls
from .protocol import Experiment, Profile, register
from .real_like import CONTROL_RUNS, PROFILES as REAL_LIKE_PROFILES, STAND_IN

IMAGENET_TRAIN = 1_281_167
EPOCHS = 100
FRACTIONS = {"smoke": [0.25, 1.0], "quick": [0.01, 0.05, 0.1, 1.0], "paper": [0.01, 0.05, 0.1, 1.0]}
MODELS = {"smoke": [None], "quick": [None], "paper": ["resnet50", "resnet18"]}  # None: the profile's model
SUBSETS = {0.01: None, 0.1: None}  # fraction -> SimCLR subset file under DATA_ROOT (e.g. "1percent.txt"); None: a draw
METHODS = {"Softmax": {"method": "softmax"}, "ELR": {"method": "elr"}, "Sigmoid": {"method": "sigmoid"},
           "MILe": {}}  # MILe: the profile's own settings (k_t, k_s, rho)
# The lr every method shares at each fraction below 100% under `quick`, by stage 5 of the convergence
# protocol (`python -m milelib.convergence real_like --fractions 0.01 0.05 0.1`; results/convergence/
# real_like/quick/fraction_lrs.json): the lr whose worse of Sigmoid and Softmax has the best validation
# mAP there, seeds 100-102. At the full data's 0.4, Softmax and ELR on 100 images ended at chance or
# at a NaN loss on some seeds (3 of 10 ELR runs at 1% and 5% on one machine, a NaN on another).
FRACTION_LRS = {"quick": {0.01: 0.2, 0.05: 0.2, 0.1: 0.4}}  # 0.1: the full data's, chosen over 0.05-0.8

# ResNet-50 at the paper's scale (shared with notebook 02): what the paper states (batch 256, rho 0.25 as
# its default, k_t + k_s = 10k) and our choices where it is silent (cosine schedule, lr 0.1, the k_t/k_s split).
PAPER_TRAINING = {"model": "resnet50", "method": "mile", "method.rho": 0.25, "method.teacher_steps": 8_000,
                  "method.student_steps": 2_000, "optim.batch_size": 256, "optim.lr": 0.1, "optim.weight_decay": 1e-4,
                  "optim.warmup_steps": 2_500, "optim.bce": "sum", "run.workers": "auto", "run.checkpoint_every": 5_000}
# (optim.bce "sum": BCE summed over the 1,000 classes with the bias at -log(C), the authors' choice, so
# Sigmoid and MILe learn at Softmax's pace at the same lr)
# (run.workers "auto": the cores each GPU's process may use, less one; outside the config hash)

PROFILES = {
    **{name: REAL_LIKE_PROFILES[name] for name in ("smoke", "quick")},
    "paper": Profile(
        {"data": "imagenet", **PAPER_TRAINING, "optim.steps": EPOCHS * IMAGENET_TRAIN // 256},
        seeds=(0,),
        data_root=True,
        note="ImageNet (DATA_ROOT: train/ and val/ class folders, real.json), ResNet-50 and ResNet-18, 100 epochs of "
             "batch 256 at each fraction, SGD lr 0.1 with cosine decay, MILe rho=0.25 and k_t + k_s = 10k at 100% "
             "(k_t=8k, k_s=2k: the paper gives the sum only), scaled with the steps at smaller fractions; GPUs",
    ),
}


def pct(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def scaled_steps(base, steps: int) -> tuple[dict, dict]:
    """A run of `steps` instead of the base config's: its steps and warm-up, and MILe's k_t and k_s,
    each scaled by the same ratio (at least one step each)."""
    scale = steps / base.optim.steps
    return ({"optim.steps": steps, "optim.warmup_steps": round(base.optim.warmup_steps * scale)},
            {"method.teacher_steps": max(1, round(base.method.teacher_steps * scale)),
             "method.student_steps": max(1, round(base.method.student_steps * scale))})


def label(method: str, fraction: str, model: str | None = None) -> str:
    """A run's label: "Method, 10%" on the stand-in, "Method, 10%, resnet50" under `paper`."""
    return f"{method}, {fraction}" + (f", {model}" if model else "")


def points(profile: str, base) -> dict[str, dict]:
    """Every method at every fraction (and, under `paper`, both ResNets), and the control runs at
    100%. Under `quick` each fraction takes its lr (FRACTION_LRS); under `paper` the steps follow the
    fraction (equal epochs) and MILe's k_t, k_s and the warm-up shrink with them."""
    out = {}
    for model in MODELS[profile]:
        for fraction in FRACTIONS[profile]:
            shared, mile = {"data.fraction": fraction}, {}
            if fraction in FRACTION_LRS.get(profile, {}):
                shared["optim.lr"] = FRACTION_LRS[profile][fraction]
            if profile == "paper":
                steps, mile = scaled_steps(base, max(base.optim.batch_size, round(base.optim.steps * fraction)))
                shared.update({**steps, **({"data.subset": SUBSETS[fraction]} if SUBSETS.get(fraction) else {})})
            methods = {**METHODS, **(controls.points(base, STAND_IN) if fraction == 1.0 else {})}
            for name, settings in methods.items():
                out[label(name, pct(fraction), model)] = {**({"model": model} if model else {}), **settings, **shared,
                                                          **(mile if name == "MILe" else {})}
    return out



# Table 1 of the paper, percent (coverage: labels per image).
PAPER_FRACTIONS = ("1%", "5%", "10%", "100%")
PAPER = {
    ("accuracy", "resnet50"): {"Softmax": (6.32, 36.71, 53.50, 76.33), "ELR": (7.91, 38.88, 56.15, 76.75),
                               "Sigmoid": (6.70, 36.9, 55.01, 76.35), "MILe": (9.10, 42.52, 57.29, 77.12)},
    ("accuracy", "resnet18"): {"Softmax": (6.61, 31.5, 48.82, 70.41), "ELR": (6.93, 32.95, 49.95, 70.83),
                               "Sigmoid": (6.88, 31.10, 49.14, 70.46), "MILe": (8.20, 36.20, 51.31, 71.12)},
    ("real_accuracy", "resnet50"): {"Softmax": (7.19, 42.55, 60.21, 82.76), "ELR": (8.78, 44.24, 63.13, 83.07),
                                    "Sigmoid": (8.38, 46.04, 62.96, 83.22), "MILe": (11.50, 48.36, 65.42, 83.75)},
    ("real_accuracy", "resnet18"): {"Softmax": (8.80, 35.88, 55.11, 77.77), "ELR": (8.92, 38.08, 56.13, 78.85),
                                    "Sigmoid": (9.04, 37.66, 57.52, 81.01), "MILe": (9.18, 41.65, 58.57, 81.52)},
    ("f1@0.5", "resnet50"): {"Softmax": (6.77, 40.51, 57.33, 78.5), "ELR": (7.83, 42.45, 58.52, 78.5),
                             "Sigmoid": (7.17, 41.11, 58.46, 78.61), "MILe": (10.76, 45.02, 62.11, 79.89)},
    ("f1@0.5", "resnet18"): {"Softmax": (8.28, 34.20, 52.51, 73.83), "ELR": (8.41, 35.52, 53.22, 73.41),
                             "Sigmoid": (8.39, 33.56, 52.12, 73.85), "MILe": (8.55, 38.49, 53.80, 74.48)},
    ("coverage@0.5", "resnet50"): {"Softmax": (1.00, 1.0, 1.0, 1.0), "ELR": (1.00, 1.0, 1.0, 1.0),
                                   "Sigmoid": (1.09, 1.11, 1.10, 1.11), "MILe": (1.05, 1.08, 1.09, 1.16)},
    ("coverage@0.5", "resnet18"): {"Softmax": (1.0, 1.0, 1.0, 1.0), "ELR": (1.0, 1.0, 1.0, 1.0),
                                   "Sigmoid": (1.07, 1.10, 1.15, 1.15), "MILe": (1.06, 1.07, 1.12, 1.17)},
}
NAMES = {"accuracy": "Accuracy", "real_accuracy": "ReaL-Acc", "f1@0.5": "ReaL-F1", "coverage@0.5": "Label coverage"}
KEYS = ["accuracy", "real_accuracy", "f1@0.5", "coverage@0.5", "map", "f1@best"]
BASELINES = ("Softmax", "ELR", "Sigmoid")


def paper_table() -> pd.DataFrame:
    """Table 1 as printed: rows (metric, method), columns (model, fraction)."""
    rows = {}
    for (key, model), methods in PAPER.items():
        for method, values in methods.items():
            rows.setdefault((NAMES[key], method), {}).update(
                {(model, f): v for f, v in zip(PAPER_FRACTIONS, values)})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["metric", "method"]
    return table[sorted(table.columns, key=lambda c: (c[0] != "resnet50", PAPER_FRACTIONS.index(c[1])))]


def _split_label(stats: pd.DataFrame) -> pd.DataFrame:
    """Labels "Method, 10%[, model]" split into method, fraction and model columns."""
    parts = stats.label.str.split(", ")
    return stats.assign(method=parts.str[0], fraction=parts.str[1], model=parts.str[2].fillna("small CNN"))


def _fraction_order(fractions) -> list[str]:
    return sorted(set(fractions), key=lambda f: float(f.rstrip("%")))


def our_table(table: pd.DataFrame, keys=KEYS) -> pd.DataFrame:
    """Ours in Table 1's shape: rows (metric, method), columns (model, fraction); mean ± std over seeds."""
    stats = _split_label(seed_stats(table, list(keys)))
    cell = stats.apply(lambda r: f"{r['mean']:.2f}" + (f" ± {r['std']:.2f}" if r["seeds"] > 1 else ""), axis=1)
    wide = stats.assign(cell=cell).pivot_table(index=["metric", "method"], columns=["model", "fraction"],
                                               values="cell", aggfunc="first")
    order = _fraction_order(stats.fraction)
    wide = wide[sorted(wide.columns, key=lambda c: (c[0], order.index(c[1])))]
    rows = [(k, m) for k in keys for m in (*BASELINES, "MILe")]
    return wide.reindex(pd.MultiIndex.from_tuples(rows, names=wide.index.names))


def _paper_gap(key: str, model: str | None, a, b, fraction: str, other: str | None = None) -> float | None:
    """Table 1's gap: the best of methods `a` at `fraction` minus the best of `b` at `other` (the
    same fraction by default); the stand-in's small CNN takes ResNet-50's numbers; None where the
    paper has no such fraction."""
    if not {fraction, other or fraction} <= set(PAPER_FRACTIONS):
        return None
    column = PAPER[(key, model or "resnet50")]
    best = lambda methods, f: max(column[m][PAPER_FRACTIONS.index(f)] for m in methods)  # noqa: E731
    return round(best(a, fraction) - best(b, other or fraction), 2)


def _model_claims(table: pd.DataFrame, model: str | None, fractions: list[str]) -> list[dict]:
    at = lambda method, f: label(method, f, model)  # noqa: E731
    name, source, small, full = model or "small CNN", f"Table 1, {model or 'resnet50'}", fractions[:-1], fractions[-1]
    gains = {(k, f): seed_gaps(table, at("MILe", f), [at(b, f) for b in BASELINES], k)
             for k in ("accuracy", "real_accuracy", "f1@0.5") for f in fractions}
    rows = [gap_claim(gaps, k, at("MILe", f), f"best of {', '.join(BASELINES)}", f"MILe beats Softmax, ELR and "
                      f"Sigmoid on {k} at {f} ({name})", f"holds ({source})",
                      _paper_gap(k, model, ["MILe"], BASELINES, f), reads=(at("MILe", f), *(at(b, f) for b in BASELINES)))
            for (k, f), gaps in gains.items()]
    smaller = pd.concat([gains[("f1@0.5", f)] for f in small], axis=1).mean(axis=1, skipna=False)
    paper = [_paper_gap("f1@0.5", model, ["MILe"], BASELINES, f) for f in fractions]
    rows.append(gap_claim(smaller - gains[("f1@0.5", full)], "f1@0.5", f"MILe - best, mean of {', '.join(small)}",
                          f"MILe - best, {full}", f"MILe's ReaL-F1 gain over the best baseline is larger at "
                          f"{', '.join(small)} (their mean) than at {full} ({name})", f"holds ({source})",
                          None if None in paper else sum(paper[:-1]) / len(small) - paper[-1]))
    rows += [claim(table, at("Sigmoid", f), at("Softmax", f), "real_accuracy", f"Sigmoid beats Softmax on ReaL-Acc "
                   f"at {f} ({name})", f"holds (the text: ~+2 ResNet-18, ~+4 ResNet-50; {source})",
                   _paper_gap("real_accuracy", model, ["Sigmoid"], ["Softmax"], f)) for f in fractions]
    rows += [claim(table, at(m, fractions[0]), at(m, full), "coverage@0.5", f"{m} predicts fewer labels per image at "
                   f"{fractions[0]} than at {full} ({name})", f"observed ({source}, label coverage)",
                   _paper_gap("coverage@0.5", model, [m], [m], full, fractions[0]), higher=False)
             for m in ("Sigmoid", "MILe")]
    rows += [claim(table, at("MILe", f), at("Sigmoid", f), k, f"MILe beats Sigmoid on {k} at {f} ({name}; not in "
                   f"Table 1)", "not reported") for k in ("map", "f1@best") for f in fractions]
    return rows


def claims(table: pd.DataFrame, profile: str | None = None) -> pd.DataFrame:
    """Table 1's claims per model, each a paired 95% interval over seeds (points; coverage in labels
    per image). Claims "at every fraction" are one row per fraction; "MILe beats the baselines" is
    per seed MILe minus the best of the three; "the gain is larger at small fractions" is per seed
    the mean of that gain at the smaller fractions minus the gain at 100%."""
    parts = table.label.str.split(", ")
    fractions = _fraction_order(parts.str[1])
    models = dict.fromkeys(p[2] if len(p) > 2 else None for p in parts)  # None: the stand-in's one model
    return pd.DataFrame([row for model in models for row in _model_claims(table, model, fractions)])


def positive_controls(table: pd.DataFrame, base, profile: str, results_dir) -> pd.DataFrame:
    """`controls.controls` at 100% of the data, per model: the oracle and LL-R against that model's
    Sigmoid; the convergence control once (it reads the profile's record, not a model's runs)."""
    stand_in, frames = "imagenet" if profile == "paper" else STAND_IN, []
    for model in MODELS[profile]:
        rows = controls.controls(table, base, stand_in, profile, results_dir,
                                 lambda name: label(name, pct(1.0), model))
        frames.append(rows.assign(claim=rows.claim.where(rows.metric != "map", rows.claim + f" ({model})"))
                      if model else rows)
    rows = pd.concat(frames, ignore_index=True).drop_duplicates("claim", ignore_index=True)
    return rows.sort_values("metric", key=lambda metric: metric != "map", kind="stable", ignore_index=True)


FIGURE2 = (label("Sigmoid", pct(1.0)), label("MILe", pct(1.0)))


def figure2(table: pd.DataFrame, base, n: int = 4):
    """The paper's Figure 2 on the stand-in: n test grids with their given label, true set and the
    sets Sigmoid and MILe predict at 100% (argmax + p > 0.25, the first seed's runs), chosen as the
    grids where the two sets differ in the most classes, at random among them (seed 0). None where
    the data are not grids (ImageNet under `paper`: its images are not drawn here)."""
    from .. import plots
    from .multi_mnist import example_predictions

    if base.data.name != "grids":
        return None
    first = table[table.seed == table.seed.min()]
    runs = dict(zip(first.label, first.run_dir))
    grids, sets = example_predictions({k: runs[k] for k in FIGURE2}, base, n, differ=FIGURE2)
    return plots.grid_predictions(grids, {k.split(",")[0]: v for k, v in sets.items()})


EXPERIMENT = register(Experiment(
    name="imagenet_fractions", notebook="01_imagenet_fractions", profiles=PROFILES, points=points,
    axes=("data.fraction", "model.name"), control_runs=tuple(label(name, pct(1.0)) for name in CONTROL_RUNS),  # the stand-in's
    controls=positive_controls, claims=claims), __name__)
