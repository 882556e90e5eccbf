"""make plan: what a study costs before it runs; schema bounds that keep a typo from planning for minutes."""

import json
import os
import platform
import subprocess

import pytest
import yaml
from workflow_runner import REPO, snakemake_command, snakemake_env

from cifar_noise.identity import SPLIT_FILES
from cifar_noise.plan import footprint
from cifar_noise.schema import validate_config
from cifar_noise.study import Study


def plan(folder, config) -> subprocess.CompletedProcess:
    """``snakemake plan`` as make plan runs it, in ``folder`` (where results/ is)."""
    command = snakemake_command(folder, "plan", config=config, cores=None) + ["--quiet", "all"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=snakemake_env())


# Where the rules put the study's large files (workflow/rules/*.smk), as the Snakefile gives them.
LAYOUT = {
    "archive": "results/data/cifar-10-python.tar.gz",
    "dataset": {name: f"results/data/cifar10/{name}.npy" for name in SPLIT_FILES},
    "splits": {name: f"results/splits/{{split}}/{name}.npy" for name in SPLIT_FILES},
    "shard": "results/experiments/{experiment}/trial-{trial}/shards/shard-{shard}.npy",
    "corrupted": "results/corrupted/{split}/{corruption}.npy",
}


@pytest.mark.slow
def test_the_footprint_is_the_size_of_every_split_shard_and_corrupted_set(tiny_study):
    workdir, config = tiny_study
    os.chdir(workdir)  # the study's paths are relative to the folder snakemake ran in
    try:
        sizes = footprint(Study(validate_config(yaml.safe_load(config.read_text()))), LAYOUT)
    finally:
        os.chdir(REPO)
    kinds = {"splits": 0, "shards": 0, "corrupted test sets": 0}
    for path, (kind, size) in sizes.items():
        if kind in kinds:  # the dataset's are CIFAR-10's sizes, not the tiny archive's
            assert (workdir / path).stat().st_size == size, path
            kinds[kind] += 1
    assert min(kinds.values()) > 0, kinds
    written = {str(p.relative_to(workdir)) for p in (workdir / "results").glob("**/*.npy")}
    assert {p for p in written if not p.startswith("results/data/")} == {
        p for p, (kind, _) in sizes.items() if kind in kinds
    }


def test_plan_prints_trials_images_disk_and_time(tmp_path):
    """The speed last measured on this host is used: 1,000 training and 10,000 test images per second."""
    threads = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())["set-threads"]["train_trial"]
    speed = {"host": platform.node(), "threads": min(threads, os.cpu_count()), "source": "a test", "start": 0.0}
    speed |= {"train": {"seed_a": 1000.0}, "test": {"seed_a": 10000.0}}
    (tmp_path / "results/plan").mkdir(parents=True)
    (tmp_path / "results/plan/speed.json").write_text(json.dumps(speed))
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    experiments = config["experiments"].values()
    trials = sum(e["trials"] for e in experiments)
    train = sum(e["train_size"] * e.get("enlarge", 1) * e["epochs"] * e["trials"] for e in experiments)
    corrupted = Study(validate_config(config)).corruptions
    test = trials * (2000 + 300 * sum(len(c["severities"]) for c in corrupted.values()))
    done = plan(tmp_path, REPO / "config/demo.yaml")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{trials} trials of 5 experiments" in out
    assert f"{train:,} training images" in out and f"{test:,} test images" in out
    dataset = 170_498_071 + 60000 * (3072 + 1) + 4 * 128  # CIFAR-10's archive and arrays
    assert f"disk:    dataset {dataset / 1e6:.1f} MB, splits " in out and " free on " in out
    minutes = round((train / 1000 + test / 10000) / 60)
    assert f"time:    about {minutes} min of training and evaluation jobs one at a time" in out
    assert "measuring" not in out


@pytest.mark.slow
def test_plan_measures_this_machine_when_nothing_was_measured(tmp_path):
    done = plan(tmp_path, REPO / "config/demo.yaml")
    assert done.returncode == 0, done.stderr
    assert "measuring this machine's training speed (seed_a" in done.stdout
    assert "from a short measurement on this host" in done.stdout
    kept = json.loads((tmp_path / "results/plan/speed.json").read_text())
    assert kept["host"] == platform.node() and kept["train"]["seed_a"] > 0 and kept["start"] > 0


@pytest.mark.fault(kind="bad config", real=True)
def test_plan_of_a_bad_config_is_one_line(tmp_path):
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["experiments"]["gaussian"]["enlarge"] = 100000
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(config))
    done = plan(tmp_path, tmp_path / "big.yaml")
    assert done.returncode == 1 and done.stdout == ""
    assert [line for line in done.stderr.splitlines() if "rror" in line] == [
        "Error: invalid config: experiments.gaussian.enlarge: 100000 is greater than the maximum of 100"
    ]
