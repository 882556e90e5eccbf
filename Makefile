# Quick start:  make demo   (set up .venv, run the demo study)
#               make test   (set up .venv, run the fast tests; make test-all: every test)
# Offline: add ARCHIVE=/path/to/cifar-10-python.tar.gz to use a local copy instead of downloading.
# GPU machine: add GPU=1 to set up .venv from requirements-gpu.lock (Keras on JAX's CUDA build
# instead of TensorFlow) and to train with profiles/gpu; see README.md.
# Another study: make study CONFIG=my_study.yaml; make plan CONFIG=... says first what it costs.
# After a run, with the config, GPU and threads that made its results (remembered in .last-run.mk):
#               make report                       report.html
#               make trial TRIAL=no_noise/trial-03  one trial alone (with its split and shards)
#               make redo TRIAL=no_noise/trial-03   train that trial again (it alone)
# ARGS are passed on to snakemake, e.g. ARGS=--dry-run to see what a target would run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SNAKEMAKE ?= $(BIN)/snakemake
CORES ?= all
ARCHIVE ?=
CONFIG ?=
TRIAL ?=
ARGS ?=
LAST_RUN ?= .last-run.mk
-include $(LAST_RUN)
# The follow-ups run as the last run did, on the GPU if it did (GPU= on the command line wins);
# the other targets only where GPU=1 is given.
FOLLOW_UPS := report trial redo plan
ifneq ($(filter $(FOLLOW_UPS),$(MAKECMDGOALS)),)
GPU ?= $(LAST_GPU)
endif
GPU ?=
ARCHIVE_CONFIG := $(if $(ARCHIVE),--config 'data={"archive": "$(abspath $(ARCHIVE))"}',)
LOCK := $(if $(GPU),requirements-gpu.lock,requirements.lock)
PROFILE := $(if $(GPU),--workflow-profile profiles/gpu,)
GPU_CHECK := $(if $(GPU),check-gpu,)

.PHONY: setup demo study answer report trial redo plan check-gpu test test-all lint fault-table benchmark lock lock-gpu clean

# GPU=1 on a machine without an NVIDIA GPU stops here, before .venv is replaced by the GPU one
# (every target that sets up .venv runs it, each time: it is phony).
check-gpu:
	@nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || { echo "make: GPU=1, but no NVIDIA GPU is visible here \
	(nvidia-smi -L lists none): leave GPU=1 out to run on the CPU, or install the NVIDIA driver" >&2; exit 1; }

# One .venv at a time: switching between the CPU and the GPU lock rebuilds it from scratch.
$(VENV)/.installed-$(LOCK): $(LOCK) | $(GPU_CHECK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	touch $@

setup: $(VENV)/.installed-$(LOCK)

# The demo's 14 small trials and their evaluations run one thread each, as many at once as there
# are cores: their start-up (TensorFlow's import, the model, the first batches) overlaps.
DEMO_THREADS := $(if $(GPU),,--set-threads train_trial=1 evaluate_trial=1 make_shard=1)

# What made the results in results/, for the follow-up targets (a dry run makes nothing).
remember = $(if $(filter -n --dry-run --dryrun,$(ARGS)),,printf 'LAST_CONFIG := %s\nLAST_GPU := %s\nLAST_THREADS := %s\n' \
	'$(1)' '$(GPU)' '$(2)' > $(LAST_RUN))

demo: setup
	$(call remember,config/demo.yaml,$(DEMO_THREADS))
	$(SNAKEMAKE) --cores $(CORES) $(PROFILE) --configfile config/demo.yaml $(ARCHIVE_CONFIG) $(ARGS) $(DEMO_THREADS)

STUDY_CONFIG = $(or $(CONFIG),config.yaml)
study: setup
	$(call remember,$(STUDY_CONFIG),)
	$(SNAKEMAKE) --cores $(CORES) $(PROFILE) --configfile $(STUDY_CONFIG) $(ARCHIVE_CONFIG) $(ARGS)

# The answer (config/answer.yaml) in resumable parts: each finished trial goes into results-cpu/
# (commit it), and the same command, here or in a fresh clone, carries on from there
# (publish/resume.py). One line per finished trial: done, left, time left. Once the study is
# complete, README.md's "The answer" is written from the snapshot (publish/snapshot.py).
ANSWER_CONFIG ?= config/answer.yaml
SNAPSHOT ?= results-cpu
answer: setup
	$(BIN)/python -m publish.resume --configfile $(ANSWER_CONFIG) --snapshot $(SNAPSHOT) $(ARCHIVE_CONFIG) $(ARGS)
	$(BIN)/python -m publish.snapshot readme $(SNAPSHOT)

# The follow-ups: the config of the last make demo / make study unless CONFIG says otherwise, its
# threads (they change the last digits of a trial's numbers) and its GPU setting.
FOLLOW_CONFIG = $(or $(CONFIG),$(LAST_CONFIG),config.yaml)
TRIAL_METRICS = results/experiments/$(TRIAL)/metrics.json
need_trial = $(if $(TRIAL),,$(error TRIAL is missing: name a trial as <experiment>/trial-<NN>, e.g. TRIAL=no_noise/trial-03))

report: setup
	$(SNAKEMAKE) $(PROFILE) --configfile $(FOLLOW_CONFIG) --report report.html $(ARGS)

trial: setup
	$(need_trial)
	$(SNAKEMAKE) --cores $(CORES) $(TRIAL_METRICS) $(PROFILE) --configfile $(FOLLOW_CONFIG) $(ARGS) $(LAST_THREADS)

# --forcerun with the trial as the target: without a target snakemake would build the whole study.
redo: setup
	$(need_trial)
	$(SNAKEMAKE) --cores $(CORES) $(TRIAL_METRICS) --forcerun $(TRIAL_METRICS) $(PROFILE) --configfile $(FOLLOW_CONFIG) \
	  $(ARGS) $(LAST_THREADS)

# What a study costs before it runs: trials, images, disk, and time at this machine's speed (the
# workflow's rule plan: it knows where the study's files go).
plan: setup
	$(SNAKEMAKE) plan $(PROFILE) --configfile $(FOLLOW_CONFIG) --quiet all

# Two tiers. make test: every unit test and the workflow tests not marked slow, a few minutes on
# 2 cores, for the change at hand. make test-all: those, then the slow workflow tests (full Snakemake
# runs, kills and resumes, SLURM, real CIFAR-10), as CI runs them.
# ARCHIVE also gives the tests the real CIFAR-10 archive (they read $$CIFAR10_ARCHIVE).
PYTEST = $(if $(ARCHIVE),CIFAR10_ARCHIVE="$(abspath $(ARCHIVE))") $(BIN)/python -m pytest
test: setup
	$(PYTEST) tests/unit
	$(PYTEST) -m "not slow" tests/workflow

# --durations lists the slowest tests: CI's time goes there.
test-all: test
	$(PYTEST) -m slow --durations=25 tests/workflow

# The four checks CI runs before the tests (configuration in pyproject.toml).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint --cores 1

# README's table of the faults and bad inputs the tests try, counted from their fault markers.
fault-table: setup
	$(BIN)/python tests/fault_table.py --write

# Speed and memory figures of this machine -> benchmarks/cpu/results.md (about 10 minutes).
benchmark: setup
	$(BIN)/python benchmarks/run.py

# Re-pin requirements.lock from requirements.in in a throw-away venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	{ echo "# Generated from requirements.in with 'pip freeze' in a fresh Python 3.11 venv; see Makefile (make lock)."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .lock-venv

# Re-pin requirements-gpu.lock: requirements.in without TensorFlow, plus requirements-gpu.in,
# resolved with requirements.lock's versions as constraints. pip resolves from the packages'
# metadata alone (--dry-run), so the CUDA wheels are not downloaded.
lock-gpu:
	{ grep -v '^tensorflow==' requirements.in; grep -v '^#' requirements-gpu.in; } > .lock-gpu.in
	$(PYTHON) -m pip install --quiet --dry-run --ignore-installed -c requirements.lock \
	  --report .lock-gpu.json -r .lock-gpu.in
	{ echo "# Generated by 'make lock-gpu' from requirements.in and requirements-gpu.in (Python 3.11, Linux x86-64)."; \
	  $(PYTHON) -c 'import json; meta = [p["metadata"] for p in json.load(open(".lock-gpu.json"))["install"]]; \
	    print("\n".join(sorted((m["name"] + "==" + m["version"] for m in meta), key=str.lower)))'; } > requirements-gpu.lock
	rm -f .lock-gpu.in .lock-gpu.json

clean:
	rm -rf results .snakemake $(LAST_RUN)
