"""Every command in README.md's code blocks does what its comment says.

The commands of the real studies are dry-run in an empty folder (what they plan, at full scale).
Then, in fresh copies of the repository whose config/demo.yaml and config.yaml are tiny stand-ins
with the same experiment names, the demo and the study run for real, and every follow-up command
the README gives runs as a reader would run it: none may plan a job it should not.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from workflow_runner import REPO, TINY_EXPERIMENT, planned_jobs, snakemake_env, tiny_config

from cifar_noise.schema import validate_config
from cifar_noise.study import Study

README = REPO / "README.md"
T3 = "results/experiments/no_noise_12ep/trial-03/metrics.json"
NOTHING = "Nothing to be done"


def readme_commands() -> list[str]:
    """The command lines of README.md's code blocks, comments and extra spaces removed."""
    blocks = re.findall(r"^ *```[^\n]*\n(.*?)^ *```", README.read_text(), flags=re.M | re.S)
    lines = [line.split("  #")[0].split(" # ")[0].strip() for block in blocks for line in block.splitlines()]
    return [" ".join(line.split()) for line in lines if line.split()[:1] in (["make"], ["snakemake"], ["rm"])]


def run(folder: Path, command: str, dry: bool = False, timeout: float = 900) -> str:
    """``command`` in bash in ``folder`` with .venv/bin first on PATH (README: . .venv/bin/activate);
    ``dry``: as a dry run (ARGS=--dry-run for make, -n for snakemake). Its output; it must succeed."""
    if dry:
        command += " ARGS=--dry-run" if command.startswith("make ") else " -n"
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder, env=snakemake_env(), capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command}\n{output[-4000:]}"
    return output


def rules(output: str) -> list[str]:
    return sorted(rule for rule, _ in planned_jobs(output))


# How each README command is checked: "empty" dry runs below, "demo" and "study" the runs in a
# fresh copy, "gpu" test_gpu_path.py's dry runs, or the test named.
CHECKED = {
    "make demo": "demo",
    "make test": "test_environment.py::test_make_test_passes_archive_to_the_tests",
    "make report": "demo",
    "make trial TRIAL=no_noise/trial-03": "demo",
    "make redo TRIAL=no_noise/trial-03": "demo",
    "snakemake --configfile config/demo.yaml -n": "demo",
    "make plan CONFIG=config/demo.yaml": "demo",
    "make setup && . .venv/bin/activate": "study (the tests run in .venv)",
    "snakemake": "empty, study",
    """snakemake --config 'data={"archive": "/path/to/cifar-10-python.tar.gz"}'""": "study",
    "snakemake --report report.html": "study",
    f"snakemake {T3}": "empty, study",
    f"snakemake {T3} --forcerun {T3}": "empty, study",
    "rm -r results/experiments/no_noise_12ep/trial-03 && snakemake": "study",
    "snakemake results/experiments/regional_x10_2ep/trial-{01,02}/metrics.json": "empty, study",
    "make setup GPU=1 && . .venv/bin/activate": "test_environment.py::test_gpu_without_a_gpu_stops_before_...",
    "snakemake --workflow-profile profiles/gpu results/experiments/no_noise_12ep/trial-01/metrics.json": "gpu",
    "snakemake --workflow-profile profiles/gpu": "gpu",
    "snakemake --unlock && snakemake": "study",
    "snakemake --workflow-profile profiles/slurm": "empty",
    "snakemake --workflow-profile profiles/slurm results/experiments/gaussian_x10_2ep/trial-02/metrics.json "
    "--forcerun results/experiments/gaussian_x10_2ep/trial-02/metrics.json": "empty",
}


def test_every_readme_command_is_checked():
    assert set(readme_commands()) == set(CHECKED)


def test_the_study_commands_plan_what_their_comments_say(tmp_path):
    """In an empty folder, with the real config.yaml: the study, one trial, one trial forced (it
    alone, not the study), one experiment; on SLURM the same."""
    trials = len(Study(validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))).trials())
    one_trial = ["extract_dataset", "fetch_archive", "split_dataset", "train_trial"]
    expected = {
        "snakemake": trials,
        f"snakemake {T3}": one_trial,
        f"snakemake {T3} --forcerun {T3}": one_trial,
        "snakemake results/experiments/regional_x10_2ep/trial-{01,02}/metrics.json": 2,
        "snakemake --workflow-profile profiles/slurm": trials,
        next(c for c in CHECKED if c.startswith("snakemake --workflow-profile profiles/slurm results/")): 1,
    }
    for command, plan in expected.items():
        assert CHECKED[command].startswith("empty")
        # the profile by its path: in tmp_path, Snakemake would ignore a missing one without a word
        in_tmp = command.replace("snakemake", f"snakemake -s {REPO}/Snakefile", 1)
        output = run(tmp_path, in_tmp.replace(" profiles/", f" {REPO}/profiles/"), dry=True)
        profile = command.split("--workflow-profile ")[1].split()[0] if "--workflow-profile" in command else "default"
        assert f"Using workflow specific profile {REPO / 'profiles' / Path(profile).name} " in output, command
        planned = rules(output)
        if isinstance(plan, int):
            assert planned.count("train_trial") == plan, command
        else:
            assert sorted(set(planned)) == plan and planned.count("train_trial") == 1, (command, planned)


def fresh_copy(folder: Path, config: str, study: dict) -> Path:
    """The repository's tracked files in ``folder`` with .venv linked in and ``config`` replaced by
    ``study``."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in files.split():
        if (REPO / name).is_file():  # removed from the work tree but not yet from git's index
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, folder / name, follow_symlinks=False)
    (folder / ".venv").symlink_to(REPO / ".venv")
    (folder / config).write_text(yaml.safe_dump(study, sort_keys=False))
    return folder


def stand_in(archive: Path, md5: str, **experiments) -> dict:
    """A tiny study downloaded from ``archive`` (file://) with one tiny corrupted test set."""
    corruptions = {"test_size": 30, "sets": {"impulse": {"noise": "impulse", "vary": "amount", "severities": [0.05]}}}
    return tiny_config(
        url=archive.as_uri(),
        md5=md5,
        sweeps={},
        matched_baselines=False,
        corruptions=corruptions,
        experiments=experiments,
    )


def stand_in_copy(tmp_path: Path, tiny_archive, config: str, baseline: str, **noisy: dict) -> Path:
    """A fresh copy whose ``config`` is a tiny stand-in: ``baseline`` (3 trials, no noise) and the
    ``noisy`` experiments compared with it, of the same names as the real config's."""
    archive, md5 = tiny_archive
    experiments = {baseline: {**TINY_EXPERIMENT, "noise": "none", "trials": 3}}
    experiments |= {name: {**TINY_EXPERIMENT, **changes, "baseline": baseline} for name, changes in noisy.items()}
    return fresh_copy(tmp_path / "repo", config, stand_in(archive, md5, **experiments))


@pytest.mark.slow
def test_after_the_demo_every_follow_up_plans_only_what_it_should(tmp_path, tiny_archive):
    noisy = {"noise": "gaussian", "enlarge": 2, "trials": 1}
    repo = stand_in_copy(tmp_path, tiny_archive, "config/demo.yaml", "no_noise", gaussian=noisy)
    given = shutil.copy2(tiny_archive[0], tmp_path / "cifar-10-python.tar.gz")
    run(repo, f"make demo CORES=2 ARCHIVE={given}")  # README: make demo ARCHIVE=/path/to/... offline

    run(repo, "make report")
    assert (repo / "report.html").read_text().lstrip().lower().startswith("<!doctype html>")
    assert NOTHING in run(repo, "make trial TRIAL=no_noise/trial-03", dry=True)
    assert NOTHING in run(repo, "snakemake --configfile config/demo.yaml -n")  # without the archive setting
    assert rules(run(repo, "make redo TRIAL=no_noise/trial-03", dry=True)) == ["train_trial"]
    run(repo, "make redo TRIAL=no_noise/trial-03")
    after = planned_jobs(run(repo, "make demo", dry=True))
    assert ("evaluate_trial", "results/experiments/no_noise/trial-03/robustness.json") in after
    assert not {rule for rule, _ in after} & {"fetch_archive", "split_dataset", "make_shard", "train_trial"}, after
    plan = run(repo, "make plan CONFIG=config/demo.yaml")
    assert "config/demo.yaml: 4 trials of 2 experiments" in plan and "finished trials on this host" in plan


@pytest.mark.slow
def test_after_the_study_every_follow_up_plans_only_what_it_should(tmp_path, tiny_archive):
    archive = tiny_archive[0]
    noisy = {"noise": "regional", "enlarge": 2}
    repo = stand_in_copy(tmp_path, tiny_archive, "config.yaml", "no_noise_12ep", regional_x10_2ep=noisy)
    run(repo, "snakemake --cores 2")  # the README's plain `snakemake`, on this machine's 2 cores
    offline = next(c for c in CHECKED if "/path/to/" in c).replace("/path/to/cifar-10-python.tar.gz", str(archive))
    assert NOTHING in run(repo, offline, dry=True)  # the same bytes, given as a file
    run(repo, "snakemake --report report.html")
    assert (repo / "report.html").exists()
    assert NOTHING in run(repo, f"snakemake {T3}", dry=True)
    assert planned_jobs(run(repo, f"snakemake {T3} --forcerun {T3}", dry=True)) == [("train_trial", T3)]
    assert NOTHING in run(repo, "snakemake results/experiments/regional_x10_2ep/trial-{01,02}/metrics.json", dry=True)
    redone = planned_jobs(run(repo, "rm -r results/experiments/no_noise_12ep/trial-03 && snakemake", dry=True))
    assert sorted(job for job in redone if job[0] in ("train_trial", "evaluate_trial")) == [
        ("evaluate_trial", T3.replace("metrics.json", "robustness.json")),
        ("train_trial", T3),
    ]
    assert not {rule for rule, _ in redone} & {"fetch_archive", "extract_dataset", "split_dataset", "make_shard"}
    run(repo, "snakemake --unlock && snakemake", dry=True)


@pytest.mark.slow
def test_the_readme_layout_names_every_folder_the_study_writes(tiny_study):
    workdir, _ = tiny_study
    text = README.read_text()
    tree = next(block for block in text.split("```")[1::2] if block.startswith("\nresults/\n"))  # the layout
    results = workdir / "results"
    written = {p.name + "/" * p.is_dir() for p in results.iterdir()}
    written |= {f"{p.parent.name}/{p.name}/" for p in results.glob("*/*") if p.is_dir()}
    named = ("experiments", "splits", "corrupted", "logs", "benchmarks")  # their folders are named by the study
    assert [name for name in written if name.split("/")[0] not in named and name not in tree] == []
    assert "absent when" not in tree and "data/cifar-10-python.tar.gz" in tree  # also copied from data.archive
