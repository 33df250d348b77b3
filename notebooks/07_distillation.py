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
# # 07 · Distillation schedules and MILe (Fig. 5 of the paper)
#
# **What it reproduces.** Fig. 5: accuracy and ReaL-F1 of soft distillation (softmax + KL), hard
# distillation (argmax + CE) and MILe (sigmoid + threshold + BCE), each run as one distillation round
# (one teacher phase, then one student phase: no iterated learning), with two iterations, and with
# many (the profile's k_t and k_s), all at the same total steps. The paper: *"Hard labels
# outperform soft labels when training with many iterations"*; iterated learning beats one
# distillation round. All nine runs are settings of one teacher/student method.
#
# **On what.** The paper ran this on ImageNet. Here it runs on the *ReaL-like* stand-in: 3x3 grids
# of MNIST digits holding the centre digit plus 0 to 2 others, 1.23 distinct classes per image as in
# ImageNet ReaL, labelled with one of them (the centre digit with probability 0.6). Our numbers are
# never set beside the paper's values as if they were the same measurement: the paper's *claims*
# (orderings, trends) are checked on them. The table below the setup shows how the stand-in's labels
# look, and the F1 of two predictions that learn nothing: a perfect single-label classifier scores
# about 93, so ReaL-F1 above that comes only from recovering labels the images were never given.
#
# **Framed honestly.** Beside ReaL-F1 (F1 at 0.5; Table 1's label coverage of 1.00 for Softmax implies
# that threshold) we show Sigmoid at its own best threshold (chosen on validation grids, never the
# test grids) and the threshold-free mAP. Where MILe's best setting is named, it was chosen on the
# validation grids; the test numbers shown for it were not looked at to choose it.
#
# **Decided how.** Positive controls first, then Fig. 5's claims as one family: each gap paired by
# seed with its 95% interval, decided under Holm's correction over the testable claims
# ([docs/evidence.md](../docs/evidence.md)).
#
# | profile | data | runtime |
# |---|---|---|
# | `smoke` | 256 ReaL-like grids, 16 steps, 1 seed | under a minute on a CPU (wiring only) |
# | `quick` | ReaL-like grids of the embedded digits at 7x7, 10k grids, 3,200 steps, 5 seeds | 16 minutes on a 2-core CPU (measured from an empty store, the test suite running beside it) |
# | `paper` | ReaL-like grids of the full MNIST (`DATA_ROOT`), ResNet-18, 3 seeds | a GPU; hours |

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
# The ReaL-like grids every schedule trains on.

# %%
from milelib import experiments, plots, report
from milelib.experiments import distillation as fig5, real_like

session = experiments.Session.from_parameters("distillation", globals())  # checks every parameter first
session.describe()

# %% [markdown]
# ## Train every schedule over the seeds
# MILe with many iterations is notebook 04's default cell, and Sigmoid and Softmax are shared too:
# the run store trains them once.

# %%
table = session.run()

# %% [markdown]
# ## Fig. 5 on our data
# Mean ± standard deviation over the seeds.

# %%
fig = plots.grouped_bars(fig5.bar_stats(table), list(fig5.TARGETS), list(fig5.SCHEDULES),
                         {"accuracy": "accuracy (%)", "f1@0.5": "ReaL-F1 (F1@0.5, %)"})
plots.savefig(fig, session.out, "fig5_distillation")

# %% [markdown]
# ## Every run beside the baselines
# Percent, mean ± sample standard deviation over the seeds; coverage is labels per image.

# %%
report.mean_std_table(table, real_like.KEYS)

# %% [markdown]
# ## Positive controls, then Fig. 5's claims
# Hard distillation against soft, and MILe's iterations against one round, each gap paired by seed
# ([docs/evidence.md](../docs/evidence.md) says how the controls and the family-wise rule decide).

# %%
decision = session.decide(table)
decision

# %%
decision.forest()

# %%
session.record(table, decision)
