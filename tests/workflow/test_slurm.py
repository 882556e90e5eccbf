"""The tiny workflow through a real SLURM scheduler, with the project's SLURM profile.

Needs a SLURM cluster: `.ci/slurm/start.sh` starts a single-node one on localhost (CI does, and
sets CIFAR_NOISE_SLURM=1 so that these tests fail rather than skip when it is missing).
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_runner import (
    REPO,
    TINY_EXPERIMENT,
    history_numbers,
    read_metrics,
    snakemake,
    snakemake_command,
    snakemake_env,
    start_snakemake,
    tiny_config,
    trial_numbers,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

TIMEOUT = 600  # seconds; a status problem makes the executor wait forever, so kill hard


def cluster_ready() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and ("idle" in out.stdout or "mix" in out.stdout)


@pytest.fixture(scope="module", autouse=True)
def slurm():
    if not cluster_ready():
        if os.environ.get("CIFAR_NOISE_SLURM"):
            pytest.fail("no SLURM cluster answers (CIFAR_NOISE_SLURM is set): run .ci/slurm/start.sh")
        pytest.skip("no SLURM cluster; start one with .ci/slurm/start.sh")


# What a CI machine changes in profiles/slurm: no GPU, one thread per job on its 2 cores, and job
# states from squeue (it has no accounting database). Its partitions, memory and time limits fit
# the profile's requests, retries included (.ci/slurm/start.sh), so all else is the profile's. A
# copy of the profile, not command-line options: those would replace its whole set-resources.
def ci_profile(folder: Path) -> Path:
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["set-resources"]["train_trial"]["gpu"] = 0
    profile["set-threads"] = {"train_trial": 1, "make_shard": 1}
    profile.update(
        {
            "jobs": 4,
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 8,
            "slurm-keep-successful-logs": True,
        }
    )
    (folder / "ci-profile").mkdir(exist_ok=True)
    (folder / "ci-profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder / "ci-profile"


def slurm_command(workdir: Path, *extra: str) -> list[str]:
    # no --cores: the executor schedules (--cores 2 would be passed on to the jobs)
    return ["--workflow-profile", str(ci_profile(workdir)), *extra]


def run_on_slurm(workdir, config, *extra):
    process = start_snakemake(workdir, *slurm_command(workdir, *extra), config=config, cores=None)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"snakemake on SLURM did not finish in {TIMEOUT} s:\n{output[-5000:]}")
    return process.returncode, output


def slurm_config(tmp_path, tiny_archive, **changes):
    config = tiny_config(
        matched_baselines=False,
        sweeps={},
        data={"archive": str(tiny_archive[0])},
        experiments={
            "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
            "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "baseline": "baseline"},
        },
    )
    config.update(changes)
    return write_config(tmp_path, config)


def test_every_job_runs_as_a_slurm_job(tmp_path, tiny_archive):
    config = slurm_config(tmp_path, tiny_archive)
    code, output = run_on_slurm(tmp_path, config)
    assert code == 0, output[-5000:]

    # every job but the local ones (the target rule, the copy of the local archive) went to SLURM,
    # each as a job of its own (no arrays: see profiles/slurm)
    single = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output)
    assert "Submitted array job" not in output
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", output.split("Job stats:")[1].split("\n\n")[0], flags=re.M))
    planned = {rule: int(n) for rule, n in stats.items() if rule not in ("job", "total")}
    assert planned["train_trial"] == 3 and planned["make_shard"] == 4
    assert planned.pop("all") == 1  # the local target rule
    assert planned.pop("fetch_archive") == 1  # a local rule too: the login node reads data.archive
    assert len({int(i) for i, _ in single}) == len(single) == sum(planned.values()), output[-3000:]

    # the scheduler knows every job id, and each finished
    states = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %T"], capture_output=True, text=True).stdout
    known = dict(line.split() for line in states.splitlines())
    for _, job in single:
        assert known.get(job) == "COMPLETED", (job, known.get(job))

    # SLURM's own logs, and the trials know their SLURM job
    logs = tmp_path / ".snakemake" / "slurm_logs"
    assert {p.name for p in logs.iterdir()} >= {
        "rule_extract_dataset",
        "rule_split_dataset",
        "rule_train_trial",
        "rule_aggregate_trials",
    }
    assert "rule_make_shard" in {p.name for p in logs.iterdir()}
    for trial in ("baseline/trial-01", "gaussian/trial-01", "gaussian/trial-02"):
        assert read_metrics(tmp_path, trial)["slurm_job_id"]
    assert (tmp_path / "results/summary.md").exists() and (tmp_path / "results/plots/test_accuracy.png").exists()


@pytest.mark.fault(kind="bad archive", real=True)
def test_a_failing_job_fails_the_run(tmp_path, tiny_archive):
    bad = tmp_path / "not-cifar.tar.gz"
    bad.write_bytes(b"this is not an archive")
    config = slurm_config(tmp_path, tiny_archive, data={"archive": str(bad)})
    code, output = run_on_slurm(tmp_path, config)
    assert code != 0
    assert "Error in rule extract_dataset" in output
    assert "FAILED" in output


# ---------------------------------------------------------------------------------------------
# preemption

PREEMPTED = "results/experiments/preempted/trial-01/metrics.json"


def preemption_config(workdir: Path, archive: Path) -> Path:
    # 800 images an epoch at batch 10 on one thread: seconds an epoch, time to cancel inside epoch 2
    experiment = {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 4, "epochs": 3, "batch_size": 10, "trials": 1}
    config = tiny_config(
        matched_baselines=False, sweeps={}, data={"archive": str(archive)}, experiments={"preempted": experiment}
    )
    return write_config(workdir, config)


def start_logged(workdir: Path, *args: str, cores: int | None) -> subprocess.Popen:
    """snakemake in a session of its own, its output to a file (a pipe nobody reads would block it)."""
    with open(workdir / "snakemake.out", "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            snakemake_command(workdir, *args, config=workdir / "config.yaml", cores=cores),
            env=snakemake_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def slurm_jobs(**match) -> list[dict]:
    """SLURM's records of every job it still remembers (MinJobAge), as dicts."""
    fields = {"id": "%i", "name": "%j", "comment": "%k", "state": "%T", "partition": "%P", "mem": "%m", "time": "%l"}
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "|".join(fields.values())], capture_output=True, text=True, check=True
    ).stdout
    jobs = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
    return [job for job in jobs if all(job[key] == value for key, value in match.items())]


def minutes(limit: str) -> float:
    """A SLURM time limit ([days-]hours:minutes:seconds, or minutes:seconds) in minutes."""
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60


def megabytes(memory: str) -> float:
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    return float(memory[:-1]) * units[memory[-1]]


@pytest.mark.fault(kind="preemption", real=True)
def test_a_preempted_training_job_is_retried_with_more_memory_and_time_and_resumes(tmp_path, tiny_archive):
    """scancel a training job in its second epoch, as a preemption does: Snakemake resubmits it with
    the profile's retry, asking for more memory and time, and it resumes from its checkpoint to the
    numbers of an uninterrupted run of the same trial."""
    reference, workdir = tmp_path / "reference", tmp_path / "slurm"
    workdir.mkdir()
    preemption_config(workdir, tiny_archive[0])
    # the trial's split and shards, made here once: only training runs on SLURM (the other rules'
    # jobs are test_every_job_runs_as_a_slurm_job's)
    snakemake(workdir, PREEMPTED, "--omit-from", "train_trial", config=workdir / "config.yaml")
    shutil.copytree(workdir, reference)
    # the uninterrupted run, on this machine, while the SLURM run goes on (one thread each)
    local = start_logged(reference, PREEMPTED, cores=2)
    on_slurm = start_logged(workdir, *slurm_command(workdir), PREEMPTED, cores=None)
    checkpoints = workdir / "results/checkpoints/preempted/trial-01"
    deadline = time.monotonic() + TIMEOUT
    job = None
    try:
        # the checkpoint of epoch 1 is written: epoch 2 is under way
        while not (checkpoints / "state.json").exists():
            assert on_slurm.poll() is None, (workdir / "snakemake.out").read_text()[-5000:]
            assert time.monotonic() < deadline, "the training job never finished its first epoch"
            time.sleep(0.1)
        time.sleep(1.0)
        (job,) = [job for job in slurm_jobs(state="RUNNING") if job["comment"].startswith("rule_train_trial")]
        subprocess.run(["scancel", job["id"]], check=True)

        on_slurm.wait(timeout=max(deadline - time.monotonic(), 1))
        local.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        for process in (on_slurm, local):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if job is not None and on_slurm.returncode != 0:
            subprocess.run(["scancel", "--name", job["name"]], check=False)
    output = (workdir / "snakemake.out").read_text()
    assert on_slurm.returncode == 0, output[-5000:]
    assert local.returncode == 0, (reference / "snakemake.out").read_text()[-5000:]

    # the cancelled job and its retry, as SLURM recorded them
    first, retry = sorted(slurm_jobs(name=job["name"], comment=job["comment"]), key=lambda record: int(record["id"]))
    assert first["id"] == job["id"] and first["state"] == "CANCELLED"
    assert retry["state"] == "COMPLETED"
    assert megabytes(retry["mem"]) > megabytes(first["mem"])
    assert minutes(retry["time"]) > minutes(first["time"])
    assert first["partition"] == retry["partition"] == "gpu"  # the profile's training partition

    # the retry resumed after epoch 1, so the cancel came before epoch 2 was done
    logs = workdir / "results/logs/train_trial/preempted"
    log = (logs / "trial-01.log").read_text()
    assert "resuming from the checkpoint after epoch 1" in log
    # the cancelled attempt's log survives Snakemake's deletion of the log before the retry
    cancelled = (logs / "trial-01.attempt-1.log").read_text()
    assert "epoch 1/3: loss" in cancelled and "resuming" not in cancelled
    assert not (logs / "trial-01.attempt-2.log").exists()  # the finished attempt's log is trial-01.log
    metrics = read_metrics(workdir, "preempted/trial-01")
    assert metrics["resumed_from_epoch"] == 1
    assert metrics["slurm_job_id"] == retry["id"]
    assert trial_numbers(workdir) == trial_numbers(reference)
    assert history_numbers(workdir) == history_numbers(reference)
    assert not checkpoints.exists()
