# Two entry points: `make run` (install + the default benchmark) and `make test` (install + tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# the default grid (config/default.yaml) on this machine's cores; rules call the venv's `scorebench`
run: install
	PATH="$(CURDIR)/$(BIN):$$PATH" snakemake --cores all

# Debian packages the tests drive (Chromium, a single-node SLURM), then the suite: whole test modules
# spread over one worker per core (TEST_WORKERS=0 runs them in this process)
TEST_WORKERS ?= auto
test: install
	bash tests/system/install.sh
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf results .snakemake
