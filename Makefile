# Quick start:  make demo   (set up .venv, run the demo study)
#               make test   (set up .venv, run the tests)
# Offline: add ARCHIVE=/path/to/cifar-10-python.tar.gz to use a local copy instead of downloading.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
ARCHIVE ?=
ARCHIVE_CONFIG := $(if $(ARCHIVE),--config 'data={"archive": "$(abspath $(ARCHIVE))"}',)

.PHONY: setup demo study test benchmark lock clean

$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml $(ARCHIVE_CONFIG)

study: setup
	$(BIN)/snakemake --cores $(CORES) $(ARCHIVE_CONFIG)

test: setup
	$(BIN)/python -m pytest

# Speed and memory figures of this machine -> benchmarks/results.md (about 10 minutes).
benchmark: setup
	$(BIN)/python benchmarks/run.py

# Re-pin requirements.lock from requirements.in in a throw-away venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Generated from requirements.in with 'pip freeze' in a fresh Python 3.11 venv; see Makefile (make lock)."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf results .snakemake
