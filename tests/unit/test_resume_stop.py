"""publish.resume's stop: a SIGTERM to the driver reaches snakemake's jobs, not snakemake alone.

On SIGINT snakemake's local executor only waits for the jobs it runs; a terminal's Ctrl-C stops
them because it reaches the whole foreground process group. The driver must do the same."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from publish import resume

# Stands in for snakemake: one job of its own, waited for on Ctrl-C as snakemake does. The job says
# when it runs and when it ends: a stop sent while its Python starts up would miss it (a race that
# failed under load), and its exit code after a SIGINT is not always -2 (0 was seen).
JOB = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(30); open(sys.argv[2], 'w').close()"
FAKE_SNAKEMAKE = f"""
import subprocess, sys
job = subprocess.Popen([sys.executable, "-c", {JOB!r}, sys.argv[2], sys.argv[3]])
try:
    job.wait()
except KeyboardInterrupt:
    job.wait()
    open(sys.argv[1], "w").write(str(job.returncode))
    sys.exit(1)
"""


@pytest.mark.fault(kind="kill", real=True)
def test_a_sigterm_to_the_driver_stops_the_job_snakemake_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(resume, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(resume, "current", lambda folder, study, trial: False)  # a trial never done
    job_code, job_runs, job_ended = tmp_path / "job-returncode", tmp_path / "job-runs", tmp_path / "job-ended"

    def stop_once_the_job_runs():
        deadline = time.monotonic() + 60
        while not job_runs.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    def run(batch):
        threading.Thread(target=stop_once_the_job_runs, daemon=True).start()
        command = [sys.executable, "-c", FAKE_SNAKEMAKE, str(job_code), str(job_runs), str(job_ended)]
        return subprocess.Popen(command, start_new_session=True)  # as resume.snakemake() starts it

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        trial = resume.Trial(experiment="never", trial=1)
        code = resume.train(run, _Study([trial]), tmp_path / "snap", [trial], {"started": "now"}, 0)
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert job_code.exists(), "snakemake's stand-in had no Ctrl-C"
    assert job_runs.exists() and not job_ended.exists(), "the job ran on to its end"
    assert code != 0
    assert '"finished": []' in (tmp_path / "snap" / resume.RUN).read_text()


class _Study:
    def __init__(self, trials):
        self._trials = trials

    def trials(self):
        return self._trials
