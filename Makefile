# The two commands of the README:
#   make reproduce   run every notebook in notebooks/ with papermill (PROFILE=quick) into results/
#   make test        unit tests, and each notebook executed by nbval on a smoke-profile copy
# Both create the pinned reference environment in .venv first (about 90 s, once).

PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.milelib-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: env reproduce test check-claims notebooks lab

env: $(STAMP)

$(STAMP): requirements/reference.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements/reference.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# One kernel per notebook, one after another; executed copies land beside their results
# (results/NAME/PROFILE/), written under a temporary name and renamed, so a stopped batch never
# leaves half an executed notebook. Runs are kept in results/runs/PROFILE and read back on a rerun.
reproduce: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb .ipynb); dir=results/$$name/$(PROFILE); mkdir -p $$dir; \
	  echo "== $$name (PROFILE=$(PROFILE)) $$(date +%T)"; \
	  PATH=$(abspath $(BIN)):$$PATH $(BIN)/papermill -k python3 --cwd notebooks --no-progress-bar \
	    -p PROFILE $(PROFILE) $$nb $$dir/.$$name.tmp.ipynb || exit 1; \
	  mv $$dir/.$$name.tmp.ipynb $$dir/$$name.ipynb; \
	done; echo "== done $$(date +%T)"

# The notebooks are generated from their jupytext sources (notebooks/NN_name.py): edit those, then
# run this; tests fail when a committed notebook and its source disagree.
notebooks: $(STAMP)
	$(BIN)/python tools/sync_notebooks.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

test: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q

# Longer checks of the paper's claims on the stand-ins (not part of CI).
check-claims: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -m slow
