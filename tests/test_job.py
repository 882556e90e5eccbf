"""A job's log: every attempt of a retried job stays in it; errors become one line."""

import subprocess
import sys

from workflow_runner import REPO

JOB = """
import sys
sys.path.insert(0, {repo!r})
from types import SimpleNamespace
from cifar_noise import job
from cifar_noise.errors import StudyError

def main(snakemake):
    print("attempt output", flush=True)
    if {fail} == "study":
        raise StudyError("the disk is full; free some space")
    if {fail} == "disk":
        raise OSError(28, "No space left on device", "/somewhere/history.csv")

job.run(SimpleNamespace(rule="demo", log=[{log!r}]), main)
"""


def run_job(log, fail: str | None) -> subprocess.CompletedProcess:
    code = JOB.format(repo=str(REPO), log=str(log), fail=repr(fail))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_retried_job_keeps_the_failed_attempts_log(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    failed = run_job(log, fail="study")
    assert failed.returncode == 1
    assert failed.stderr.strip() == "Error in rule demo: the disk is full; free some space"
    retried = run_job(log, fail=None)
    assert retried.returncode == 0
    text = log.read_text()
    assert text.count("=== ") == 2 and text.count("attempt output") == 2
    assert text.index("ERROR: the disk is full") < text.rindex("=== ")  # the first attempt's error, kept


def test_a_full_disk_outside_the_atomic_writers_is_one_line_too(tmp_path):
    failed = run_job(tmp_path / "demo.log", fail="disk")
    assert failed.returncode == 1
    assert failed.stderr.startswith(
        "Error in rule demo: no space left on the device while writing /somewhere/history.csv"
    )
    assert len(failed.stderr.strip().splitlines()) == 1
