"""GPU allocation on a multi-GPU workstation, tested without a GPU (the ids are only strings)."""
import json
import os
import signal
import subprocess
import sys
import time

from cifar_noise.gpus import claim_gpu, visible_gpus
from workflow_runner import REPO


CLAIMER = """
import json, sys, time
sys.path.insert(0, {repo!r})
from cifar_noise.gpus import claim_gpu
start = time.time()
gpu = claim_gpu({locks!r}, poll_seconds=0.1, log=lambda m: None)
got = time.time()
import os
time.sleep({hold})
print(json.dumps({{"gpu": gpu, "env": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "got": got,
                  "end": time.time()}}))
"""


def start_claimer(tmp_path, hold, visible) -> subprocess.Popen:
    """A job outside SLURM that claims one of the ``visible`` GPUs and holds it ``hold`` seconds."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible}
    env.pop("SLURM_JOB_ID", None)
    code = CLAIMER.format(repo=str(REPO), locks=str(tmp_path / "locks"), hold=hold)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def run_claimers(tmp_path, count, hold, visible="0,1"):
    procs = [start_claimer(tmp_path, hold, visible) for _ in range(count)]
    return [json.loads(p.communicate(timeout=60)[0]) for p in procs]


def test_concurrent_jobs_get_different_gpus_and_the_third_waits(tmp_path):
    runs = run_claimers(tmp_path, 3, hold=1.5)
    assert all(r["gpu"] == r["env"] for r in runs)
    assert {r["gpu"] for r in runs} == {"0", "1"}
    for a in runs:
        for b in runs:
            if a is not b and a["gpu"] == b["gpu"]:  # the same GPU: never held at the same time
                assert a["end"] <= b["got"] or b["end"] <= a["got"]
    waited = max(r["got"] - r["start"] for r in runs)
    assert waited > 1.0  # one of the three had to wait for a GPU to be released


def test_a_killed_job_releases_its_gpu(tmp_path):
    holder = start_claimer(tmp_path, hold=60, visible="7")
    lock = tmp_path / "locks" / "gpu-7.lock"
    deadline = time.time() + 30
    while not (lock.exists() and lock.read_text().strip()):
        assert time.time() < deadline
        time.sleep(0.05)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    runs = run_claimers(tmp_path, 1, hold=0, visible="7")
    assert runs[0]["gpu"] == "7" and runs[0]["got"] - runs[0]["start"] < 5


def test_slurm_allocation_is_left_alone(tmp_path):
    env = {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "3"}
    assert claim_gpu(tmp_path, env=env, log=lambda m: None) is None
    assert env["CUDA_VISIBLE_DEVICES"] == "3"


def test_no_gpu_means_cpu(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": ""}
    messages = []
    assert claim_gpu(tmp_path, env=env, log=messages.append) is None
    assert "none is visible" in messages[0]


def test_visible_gpus_parsing():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
