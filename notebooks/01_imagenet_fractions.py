# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · ImageNet at 1%, 5%, 10% and 100% of the training data (Table 1 of the paper)
#
# **What it reproduces.** Table 1: Softmax, ELR, Sigmoid and MILe trained on fractions of the
# training images; accuracy, ReaL accuracy, ReaL-F1 and label coverage. The paper: *"MILe surpasses
# baseline methods on all metrics and all fractions of training data"*, with *"up to 5% of ReaL-F1
# when using a smaller fraction of the data"*. We add mAP (threshold-free) and F1 at each run's own
# best threshold, chosen on held-out training images scored against their single label, never on ReaL.
#
# **On what.** Under `paper`: ImageNet from `DATA_ROOT` (`train/` and `val/` class folders and
# ReaL's `real.json`; `python data_prep/imagenet.py DATA_ROOT` checks them), ResNet-50 and ResNet-18,
# 100 epochs at every fraction; on several GPUs set `LAUNCHER = "torchrun"` and `GPUS`. Under
# `quick`: the *ReaL-like* stand-in of notebooks 04, 05 and 07 (3x3 grids of MNIST digits, 1.23
# classes per image as in ReaL, one of them the label) at the same fractions of its training grids,
# a small CNN, and 800 steps at every fraction (at equal epochs, 1% of 10k grids would be 8 steps).
# Stand-in numbers are never set beside the paper's as the same measurement: the paper's *claims*
# are checked on them. Its runs at 100% are the other notebooks' runs, read back from the run store.
#
# | profile | data | runtime |
# |---|---|---|
# | `smoke` | 256 ReaL-like grids, 16 steps, fractions 25% and 100%, 1 seed | under a minute (wiring only) |
# | `quick` | ReaL-like grids at 7x7, 10k training grids, fractions 1/5/10/100%, 2 seeds | minutes on a 2-core CPU |
# | `paper` | ImageNet + ReaL (`DATA_ROOT`), ResNet-50 and -18, 100 epochs, 1 seed | GPUs; days |

# %% tags=["parameters"]
PROFILE = "quick"           # smoke | quick | paper
SEEDS = None                # None: the profile's seeds
RESULTS_DIR = "../results"  # relative to this notebook's folder; runs are kept in RESULTS_DIR/runs/PROFILE
DATA_ROOT = None            # ImageNet's root (train/, val/, real.json) for the paper profile; None reads MILELIB_DATA
JOBS = None                 # runs side by side; None: one per `run.threads` share of the cores (CPU)
SETTINGS = {}               # dotted settings over the profile's, e.g. {"run.workers": 16}
LAUNCHER = "local"          # local | torchrun: each run on GPUS processes (DDP), launched from here
GPUS = 1                    # processes per run under torchrun

# %%
import time

from milelib import experiments, report, sweep
from milelib.results import notebook_dir

experiments.check_parameters(globals())  # a mistyped papermill -p NAME fails here, in one line
table1 = experiments.get("imagenet_fractions")
started, exp = time.time(), table1.EXPERIMENT
base = exp.config(PROFILE, SETTINGS, data_root=DATA_ROOT)
out = notebook_dir(RESULTS_DIR, exp.notebook, PROFILE)
print(f"profile {PROFILE!r}: {exp.profile(PROFILE).note}\nresults in {out.resolve()}")
experiments.describe_data(base)

# %% [markdown]
# ## Train every method at every fraction over the seeds

# %%
table = sweep.run_experiment(exp, PROFILE, SEEDS, RESULTS_DIR, SETTINGS, JOBS, data_root=DATA_ROOT,
                             launcher=LAUNCHER, gpus=GPUS)

# %% [markdown]
# ## Table 1 on our data
# Percent, mean ± sample standard deviation over the seeds; coverage is labels per image at 0.5
# (ReaL-F1 is F1 at 0.5). mAP and F1@best are ours, not the paper's.

# %%
table1.our_table(table)

# %% [markdown]
# ## Table 1 of the paper (ImageNet; for reference, not the same measurement under `quick`)

# %%
table1.paper_table()

# %% [markdown]
# ## The paper's claims, checked on our run

# %%
claims = table1.claims(table)
claims

# %% [markdown]
# ## Every run
# %%
report.mean_std_table(table, table1.KEYS)

# %% [markdown]
# ## Record the numbers

# %%
exp.record(out, PROFILE, base, table, claims, started)
