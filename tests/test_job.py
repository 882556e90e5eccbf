"""A job's log: every attempt of a retried job stays in it; errors become one line."""

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
from cifar_noise.errors import StudyError

def main(snakemake):
    print("attempt output", flush=True)
    if {fail}:
        raise StudyError("the disk is full; free some space")

job.run(SimpleNamespace(rule="demo", log=[{log!r}]), main)
"""


def run_job(log, fail: bool) -> subprocess.CompletedProcess:
    code = JOB.format(repo=str(REPO), log=str(log), fail=fail)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.fault(kind="failing job", real=False)  # the job raises on purpose
def test_a_retried_job_keeps_the_failed_attempts_log(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    failed = run_job(log, fail=True)
    assert failed.returncode == 1
    assert failed.stderr.strip() == "Error in rule demo: the disk is full; free some space"
    retried = run_job(log, fail=False)
    assert retried.returncode == 0
    text = log.read_text()
    assert text.count("=== ") == 2 and text.count("attempt output") == 2
    assert text.index("ERROR: the disk is full") < text.rindex("=== ")  # the first attempt's error, kept
