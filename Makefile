# The two commands of the README:
#   make reproduce   run every notebook in notebooks/ with papermill (PROFILE=quick) into results/
#   make test        unit tests, and each notebook executed by nbval on a smoke-profile copy
# Both create the pinned reference environment in .venv first (about 3 minutes, once).

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.milelib-installed

.PHONY: env reproduce test check-claims test-browser notebooks lab bench bench-gpu device-check

env: $(STAMP)

$(STAMP): requirements/reference.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements/reference.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# One kernel per notebook, one after another (milelib/reproduce.py): executed copies land in
# results/NAME/PROFILE/, renamed from a temporary name only once a notebook has run through; runs
# are kept in results/runs/PROFILE and read back on a rerun, which resumes a stopped batch.
# JOBS, LAUNCHER, GPUS and SETTINGS reach every notebook when given, e.g. on 8 GPUs, 2 per run:
#   make reproduce PROFILE=paper LAUNCHER=torchrun GPUS=2 SETTINGS="run.workers=12"
reproduce: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/milelib reproduce --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(LAUNCHER),--launcher $(LAUNCHER)) $(if $(GPUS),--gpus $(GPUS)) $(if $(SETTINGS),--set $(SETTINGS))

test: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q

# The notebooks regenerated from their jupytext sources (notebooks/NN_name.py, the files to edit).
notebooks: $(STAMP)
	$(BIN)/python tools/sync_notebooks.py

# JupyterLab at the repository root: notebooks/ and the executed copies in results/ both in reach.
lab: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/jupyter lab --notebook-dir=.

# Notebook 06 run in JupyterLab in headless chromium on the smoke profile: no error output, and a
# screenshot in results/browser/ (not part of CI, which installs no browser; about 30 s).
CHROMIUM ?= /usr/bin/chromium
test-browser: $(STAMP)
	@test -x $(CHROMIUM) || { echo "make test-browser needs Debian's chromium: sudo apt-get install chromium"; exit 1; }
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet playwright
	PATH=$(abspath $(BIN)):$$PATH CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q tests/browser

# Longer checks of the paper's claims on the stand-ins (not part of CI).
check-claims: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -m slow

# Speed: milelib's loop against a hand-written one, MILe against Sigmoid, and the gradient all-reduce
# of 2 processes three ways (results/benchmarks/). (About 15 minutes on 2 cores.)
bench: $(STAMP)
	$(BIN)/python benchmarks/training_loop.py --repeats 15
	$(BIN)/python benchmarks/training_loop.py --case jpeg --repeats 9
	$(BIN)/python benchmarks/training_loop.py --compile
	$(BIN)/python benchmarks/step_cost.py
	$(BIN)/python benchmarks/allreduce.py

# The same on a GPU (ResNet-50 and -18 at 224 px, bf16, channels_last; the small CNN on grids;
# ResNet-50 again with torch.compile on both sides).
bench-gpu: $(STAMP)
	for case in resnet50 resnet18 grids; do $(BIN)/python benchmarks/training_loop.py --case $$case --device cuda; done
	$(BIN)/python benchmarks/training_loop.py --case resnet50 --device cuda --compile

# Is this GPU machine ready for the paper path? Under 8 minutes on one GPU, one pass/fail line per
# check against its threshold: ResNet-50 through the loop against a hand-written one, MILe's overhead,
# the JPEG loader alone and feeding ResNet-50 at 256 and 32 images per GPU, a paper-profile run stopped
# and resumed, a compiled MILe run's recompiles, ELR's state at ImageNet's size, a 1,000-class
# evaluation of 50k images, and on 2+ GPUs NCCL against one process (results/benchmarks/device_check_cuda/).
# Without a GPU, the same at CPU sizes (the path only); it exits 1 when a check fails.
device-check: $(STAMP)
	$(BIN)/python benchmarks/device_check.py
