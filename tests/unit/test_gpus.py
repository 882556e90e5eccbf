"""GPU slots on a workstation, tested without a GPU (the ids are only strings)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from workflow_runner import REPO

from cifar_noise import StudyError
from cifar_noise.gpus import asks_for_gpu, claim_gpu, default_lock_dir, slot_order, visible_gpus

CLAIMER = """
import json, sys, time
sys.path.insert(0, {repo!r})
from cifar_noise.gpus import claim_gpu
start = time.time()
gpu = claim_gpu({locks!r}, poll_seconds=0.1, log=lambda m: None, trials_per_gpu={slots})
got = time.time()
import os
time.sleep({hold})
print(json.dumps({{"gpu": gpu, "env": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "got": got,
                  "end": time.time()}}))
"""


def start_claimer(tmp_path, hold, visible, slots=1) -> subprocess.Popen:
    """A job outside SLURM that claims a slot of one of the ``visible`` GPUs and holds it ``hold`` s."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible}
    env.pop("SLURM_JOB_ID", None)
    code = CLAIMER.format(repo=str(REPO), locks=str(tmp_path / "locks"), hold=hold, slots=slots)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def run_claimers(tmp_path, count, hold, visible="0,1", slots=1):
    procs = [start_claimer(tmp_path, hold, visible, slots) for _ in range(count)]
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


@pytest.mark.fault(kind="kill", real=True)
def test_a_killed_job_releases_its_gpu(tmp_path):
    holder = start_claimer(tmp_path, hold=60, visible="7")
    lock = tmp_path / "locks" / "gpu-7.slot-0.lock"
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


@pytest.mark.fault(kind="no GPU", real=False)  # an environment without GPUs, passed in
def test_no_visible_gpu_is_an_error_not_a_cpu_run(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": ""}
    with pytest.raises(StudyError, match=r"asked for a GPU, but none is visible \(CUDA_VISIBLE_DEVICES=, .*Fix:"):
        claim_gpu(tmp_path, env=env, log=lambda m: None)
    assert not (tmp_path / "gpu-.slot-0.lock").exists() and env["CUDA_VISIBLE_DEVICES"] == ""


def overlapping(runs) -> int:
    """The largest number of ``runs`` that held a slot at the same moment."""
    events = sorted([(r["got"], 1) for r in runs] + [(r["end"], -1) for r in runs])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_slots_fill_every_gpu_before_sharing_one():
    assert slot_order(["0", "1"], 3) == [("0", 0), ("1", 0), ("0", 1), ("1", 1), ("0", 2), ("1", 2)]
    assert slot_order(["5"], 1) == [("5", 0)]


def test_trials_per_gpu_slots_run_together_and_the_next_one_waits(tmp_path):
    # 2 GPUs x 2 slots: four jobs hold slots at once, two on each GPU; a fifth waits for a slot.
    runs = run_claimers(tmp_path, 5, hold=2.0, visible="0,1", slots=2)
    gpus = [r["gpu"] for r in runs]
    assert sorted(gpus).count("0") >= 2 and sorted(gpus).count("1") >= 2
    assert overlapping(runs) == 4
    assert max(r["got"] - r["start"] for r in runs) > 1.0
    for gpu in ("0", "1"):  # never more than two jobs on one GPU at a time
        assert overlapping([r for r in runs if r["gpu"] == gpu]) <= 2


def test_lock_folder_is_per_user_unless_set(tmp_path):
    assert default_lock_dir({}).name == f"cifar-noise-gpu-locks-{os.getuid()}"
    assert default_lock_dir({"CIFAR_NOISE_GPU_LOCKS": str(tmp_path)}) == tmp_path


def test_visible_gpus_parsing():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


@pytest.mark.parametrize(
    "gpu, gres, expected",
    [
        (0, None, False),
        (1, None, True),
        ("1", "", True),
        (0, "gpu:1", True),
        (0, "gpu:a100:1", True),
        (0, "shard:1", True),
        (0, "mps:25", True),
        (0, "tmpdisk:100", False),
        (0, "tmpdisk:10,shard:2", True),
    ],
)
def test_which_resources_ask_for_a_gpu(gpu, gres, expected):
    assert asks_for_gpu(gpu, gres) is expected
