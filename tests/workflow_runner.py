"""Running the real workflow (snakemake as a subprocess) on small configs, for the tests."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

# The tiny study (config/tiny.yaml, a user can run it too): every noise, two trials each, a
# step-matched baseline, the unpaired-labels bug, the Gaussian unclipped and a two-point sweep.
TINY = yaml.safe_load((REPO / "config/tiny.yaml").read_text())
# Its experiments' common settings, for the tests' own small configs.
TINY_EXPERIMENT = {key: value for key, value in TINY["experiments"]["baseline"].items() if key != "noise"}
# Its two small corrupted test sets (3 severities in all) on 60 of each split's 100 test images.
# The tiny study evaluates every trial on them; other tiny configs leave corruptions out (an
# evaluation job per trial costs its backend's start-up, and they test other things).
TINY_CORRUPTIONS = TINY["corruptions"]


def tiny_config(url: str | None = None, md5: str | None = None, **extra) -> dict:
    """The tiny study on the tests' archive at ``url``, without corrupted test sets unless ``extra``
    gives them (18 trials, about two minutes on 2 cores); ``extra`` replaces whole sections."""
    config = copy.deepcopy(TINY)
    config.update(data={"url": url or "file:///nonexistent", "md5": md5}, corruptions={"sets": {}})
    config.update(extra)
    return config


def write_config(folder: Path, config: dict, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# Local test runs train and shard with one thread per job, so that two jobs run at once on 2 cores.
ONE_THREAD_PER_JOB = ("--set-threads", "train_trial=1", "make_shard=1")
# The tests look into the shards a run made, which the workflow removes once their trial has
# trained (temp()); test_workflow.py's test_shards_go_once_their_trial_has_trained runs without it.
KEEP_SHARDS = "--notemp"


def snakemake_command(workdir: Path, *args: str, config: Path | None = None, cores: int | None = 2) -> list[str]:
    """``cores=None`` leaves scheduling to an executor (SLURM, whose test sets its own threads) and
    passes no --cores."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *(["--cores", str(cores)] if cores else []),
        KEEP_SHARDS,
        *args,
        # after the targets: --set-threads takes every word that follows it
        *(ONE_THREAD_PER_JOB if cores else []),
    ]
    if config is not None:
        command += ["--configfile", str(config)]
    return command


def snakemake_env() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake(
    workdir: Path,
    *args: str,
    config: Path | None = None,
    timeout: float = 900,
    check: bool = True,
    umask: int = -1,
) -> subprocess.CompletedProcess:
    """``umask``: the child's (-1: this process's)."""
    command = snakemake_command(workdir, *args, config=config)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=snakemake_env(), umask=umask)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def as_from_a_terminal() -> None:
    """In the child: Ctrl-C's default, as a terminal's shell gives it. A shell without job control
    starts a background command (`pytest ... &`) with SIGINT ignored, and everything it starts
    inherits that: the Ctrl-C tests would then send a signal that nothing hears."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_snakemake(workdir: Path, *args: str, config: Path | None = None, cores: int | None = 2) -> subprocess.Popen:
    """snakemake in a session of its own (so that a test can SIGKILL it and all it started)."""
    return subprocess.Popen(
        snakemake_command(workdir, *args, config=config, cores=cores),
        env=snakemake_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=as_from_a_terminal,
    )


def read_metrics(workdir: Path, trial: str) -> dict:
    """metrics.json of ``trial`` ("<experiment>/trial-<NN>") in a workflow folder."""
    return json.loads((workdir / "results" / "experiments" / trial / "metrics.json").read_text())


RESULT_KEYS = (
    "test_loss",
    "test_accuracy",
    "train_loss",
    "train_accuracy",
    "per_class_accuracy",
    "confusion_matrix",
    "epochs",
    "train_images",
    "test_images",
    "inputs_sha256",
    "params",
)


def trial_numbers(workdir: Path) -> dict[str, dict]:
    """Every trial's results (not its timings) by trial folder."""
    numbers = {}
    for path in sorted((workdir / "results" / "experiments").glob("*/trial-*/metrics.json")):
        metrics = json.loads(path.read_text())
        numbers[str(path.parent.relative_to(workdir))] = {key: metrics[key] for key in RESULT_KEYS}
    return numbers


def files_with_mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def sha256_of(root: Path, pattern: str = "**/*.npy") -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.glob(pattern))
        if p.is_file()
    }


def history_numbers(workdir: Path) -> dict[str, list[list[tuple[str, str]]]]:
    """Every trial's history.csv, header order included, without its timings."""
    import csv

    timings = ("seconds", "images_per_second")
    histories = {}
    for path in sorted((workdir / "results" / "experiments").glob("*/trial-*/history.csv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        histories[str(path.parent.relative_to(workdir))] = [
            [(key, value) for key, value in row.items() if key not in timings] for row in rows
        ]
    return histories


def planned_jobs(dry_run: str) -> list[tuple[str, str]]:
    """(rule, first output) of every job a dry run's output plans."""
    jobs, rule = [], None
    for line in dry_run.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line):
            rule = match.group(1)
            if rule == "all":
                jobs.append((rule, ""))
        elif rule and line.strip().startswith("output:"):
            jobs.append((rule, line.split(":", 1)[1].split(",")[0].strip()))
            rule = None
    return jobs


def train_trial_resources(dry_run: str) -> list[dict[str, str]]:
    """The resources of every train_trial job a dry run's output plans, by name."""
    rule, found = None, []
    for line in dry_run.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):", line):
            rule = match.group(1)
        elif line.strip().startswith("resources:") and rule == "train_trial":
            found.append(dict(re.findall(r"(\w+)=([^,\n]+)", line.strip().removeprefix("resources: "))))
    return found


def wait_for(process: subprocess.Popen, condition, timeout: float = 300) -> None:
    """Return as soon as ``condition()`` holds; an AssertionError (with the process's output) when
    the process ends first or the moment never comes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended first:\n{(process.stdout or process.stderr).read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("the moment never came")
        time.sleep(0.01)


def kill_when(process: subprocess.Popen, condition, timeout: float = 300) -> None:
    """SIGKILL snakemake and everything it started as soon as ``condition()`` holds."""
    try:
        wait_for(process, condition, timeout)
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):  # (nothing is left of a snakemake that ended)
            os.killpg(process.pid, signal.SIGKILL)
        raise
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def settled(*paths: Path, seconds: float = 1.0):
    """A condition for wait_for and kill_when: ``seconds`` have passed since all ``paths`` existed
    (a checkpoint written, say, and the next epoch under way)."""
    since = {}

    def condition() -> bool:
        if all(path.exists() for path in paths):
            since.setdefault("at", time.monotonic())
            return time.monotonic() - since["at"] > seconds
        return False

    return condition


def resume(workdir, config, *targets):
    """What README tells users to do after a killed run."""
    snakemake(workdir, "--unlock", config=config)
    snakemake(workdir, "--rerun-incomplete", *targets, config=config)


def run_with_jax(check: str, timeout: float = 900, **arguments) -> dict:
    """A check of tests/jax_checks.py in a fresh interpreter on Keras's JAX backend."""
    done = subprocess.run(
        [sys.executable, str(REPO / "tests/jax_checks.py"), check, json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**snakemake_env(), "KERAS_BACKEND": "jax"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def real_archive() -> Path:
    """The real CIFAR-10 archive: $CIFAR10_ARCHIVE, or ../shared/data/ beside the repository."""
    path = Path(os.environ.get("CIFAR10_ARCHIVE", REPO.parent / "shared" / "data" / "cifar-10-python.tar.gz"))
    if not path.exists():
        if os.environ.get("CIFAR10_REQUIRE_REAL"):
            pytest.fail(f"real CIFAR-10 archive not found at {path} (CIFAR10_REQUIRE_REAL is set)")
        pytest.skip(f"real CIFAR-10 archive not found at {path}; set CIFAR10_ARCHIVE")
    return path
