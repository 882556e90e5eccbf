"""The tiny workflow through a real SLURM scheduler, with the project's SLURM profile.

Needs a SLURM cluster: `.ci/slurm/start.sh` starts a single-node one on localhost (CI does, and
sets CIFAR_NOISE_SLURM=1 so that these tests fail rather than skip when it is missing).
"""

import os
import re
import shutil
import signal
import subprocess

import pytest
from workflow_runner import REPO, TINY_EXPERIMENT, read_metrics, start_snakemake, tiny_config, write_config

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


# What a CI machine needs on top of profiles/slurm: its partition, small sizes, no GPU, and job
# states from squeue (it has no accounting database).
CI_OVERRIDES = [
    "--workflow-profile",
    str(REPO / "profiles" / "slurm"),
    "--jobs",
    "4",
    "--default-resources",
    "slurm_partition=debug",
    "--set-resources",
    "train_trial:slurm_partition=debug",
    "train_trial:gpu=0",
    "train_trial:mem_mb=2000",
    "--set-threads",
    "train_trial=1",
    "make_shard=1",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "8",
    "--slurm-keep-successful-logs",
]


def run_on_slurm(workdir, config, *extra):
    # no --cores: the executor schedules (--cores 2 would be passed on to the jobs)
    process = start_snakemake(workdir, *CI_OVERRIDES, *extra, config=config, cores=None)
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
    # the many shards and trials as arrays
    single = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output)
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)", output)
    in_arrays = sum(len(ids.split(",")) for ids, _ in arrays)
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", output.split("Job stats:")[1].split("\n\n")[0], flags=re.M))
    planned = {rule: int(n) for rule, n in stats.items() if rule not in ("job", "total")}
    assert planned["train_trial"] == 3 and planned["make_shard"] == 4
    assert planned.pop("all") == 1  # the local target rule
    assert planned.pop("copy_local_archive") == 1  # a local rule too: the login node reads data.archive
    assert arrays, "shards and trials were not submitted as job arrays"
    assert len(single) + in_arrays == sum(planned.values()), output[-3000:]
    submitted = {int(i) for ids, _ in arrays for i in ids.split(",")} | {int(i) for i, _ in single}
    assert len(submitted) == sum(planned.values())

    # the scheduler knows every job id, and each finished
    job_ids = {j for _, j in single} | {j for _, j in arrays}
    states = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %T"], capture_output=True, text=True).stdout
    known = {}
    for line in states.splitlines():
        job, state = line.split()
        known[job.split("_")[0]] = known.get(job.split("_")[0], set()) | {state}
    for job in job_ids:
        assert known.get(job) == {"COMPLETED"}, (job, known.get(job))

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
