"""A job's log: every attempt of a retried job is kept; errors become one line."""

import subprocess
import sys

import pytest
from workflow_runner import REPO

JOB = """
import sys

import pytest
sys.path.insert(0, {repo!r})
from types import SimpleNamespace
from cifar_noise import job
from cifar_noise import StudyError

def main(snakemake):
    print("attempt output", flush=True)
    if {fail} == "study":
        raise StudyError("the disk is full; free some space")
    if {fail} == "disk":
        raise OSError(28, "No space left on device", "/somewhere/history.csv")

job.run(SimpleNamespace(rule="demo", log=[{log!r}], resources=SimpleNamespace(attempt={attempt})), main)
"""


def run_job(log, fail: str | None, attempt: int = 1) -> subprocess.CompletedProcess:
    code = JOB.format(repo=str(REPO), log=str(log), fail=repr(fail), attempt=attempt)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.fault(kind="failing job", real=False)  # the job raises on purpose
def test_a_retried_job_keeps_the_failed_attempts_log(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    failed = run_job(log, fail="study", attempt=1)
    assert failed.returncode == 1
    assert failed.stderr.strip() == "Error in rule demo: the disk is full; free some space"
    log.unlink()  # what Snakemake does before every attempt
    retried = run_job(log, fail=None, attempt=2)
    assert retried.returncode == 0
    first, second = (tmp_path / "logs" / f"demo.attempt-{n}.log" for n in (1, 2))
    assert "ERROR: the disk is full" in first.read_text()
    assert "attempt output" in first.read_text()
    assert not second.exists()  # a finished attempt's log is the job's log
    assert "attempt output" in log.read_text() and "ERROR" not in log.read_text()


def test_a_full_disk_outside_the_atomic_writers_is_one_line_too(tmp_path):
    failed = run_job(tmp_path / "demo.log", fail="disk")
    assert failed.returncode == 1
    assert failed.stderr.startswith(
        "Error in rule demo: no space left on the device while writing /somewhere/history.csv"
    )
    assert len(failed.stderr.strip().splitlines()) == 1
