# The two commands of the README, and what CI runs (.ci/run).
#   make synthetic   install into .venv, run the whole pipeline on the synthetic benchmark (CPU), then its
#                    HTML report (results/synthetic/report.html)
#   make test        formatting, lint, and the test suite (unit tests + a tiny end-to-end workflow run)

VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install synthetic test benchmark

$(BIN)/.geolink-installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[test]"
	touch $@

install: $(BIN)/.geolink-installed

# After Snakemake, DVC records what it made (dvc.lock), so `dvc status dvc.yaml` and `snakemake -n`
# both report the synthetic run up to date; --no-relink leaves the files (and their mtimes) alone.
synthetic: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --workflow-profile profiles/cpu --configfile config/synthetic.yaml
	$(BIN)/dvc commit --force --quiet --no-relink dvc.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/geolink report --configfile config/synthetic.yaml

test: install
	$(BIN)/snakefmt --check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/geolink dvc --check --configfile config/synthetic.yaml
	$(BIN)/geolink dvc --check --output pipelines/paper/dvc.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

benchmark: install
	$(BIN)/python benchmarks/bench_synthetic.py
