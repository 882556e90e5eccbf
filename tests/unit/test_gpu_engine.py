"""The compiled engine on a real GPU: repeatable numbers, a kill mid-epoch, a trial that outgrows its
share of the GPU. These run wherever JAX can use an NVIDIA GPU (the GPU environment, make setup
GPU=1) and skip elsewhere; run_trial is called directly, so they need no Snakemake. They carry no
fault markers: the README's fault table counts what CI tries, and CI has no GPU."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from workflow_runner import REPO, run_with_jax, snakemake_env


def jax_can_use_a_gpu() -> bool:
    if shutil.which("nvidia-smi") is None or importlib.util.find_spec("jax_plugins") is None:
        return False
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return listing.startswith("GPU ")


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not jax_can_use_a_gpu(), reason="needs a GPU that JAX can use")]

# 50,000 images x 2 an epoch: long enough on a GPU for a kill to land inside an epoch.
TRIAL = {"images": 50_000, "epochs": 3, "batch": 128, "gpu": True}
RESULTS = ("test_loss", "test_accuracy", "train_loss", "train_accuracy", "confusion_matrix", "per_class_accuracy")


def numbers(metrics: dict) -> dict:
    return {key: metrics[key] for key in RESULTS}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu_trial")
    return folder, run_with_jax("trial", folder=str(folder), **TRIAL)


def test_the_trial_trains_on_the_gpu(uninterrupted):
    _, metrics = uninterrupted
    assert metrics["device"].startswith("GPU: ") and metrics["backend"] == "jax"
    assert metrics["test_accuracy"] > 0.5  # labelled images: the label is in the pixels


def test_the_same_trial_twice_gives_identical_numbers(uninterrupted):
    folder, metrics = uninterrupted
    assert numbers(run_with_jax("trial", folder=str(folder), **TRIAL)) == numbers(metrics)


def test_a_trial_killed_mid_epoch_ends_with_the_numbers_of_an_uninterrupted_run(uninterrupted):
    folder, metrics = uninterrupted
    arguments = json.dumps({"folder": str(folder), **TRIAL})
    log = folder / "killed.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "tests/jax_checks.py"), "trial", arguments],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**snakemake_env(), "KERAS_BACKEND": "jax"},
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while "  epoch 2/3: " not in log.read_text():  # a progress line from inside epoch 2
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.01)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    state = json.loads((folder / "checkpoints/state.json").read_text())
    assert state["epoch"] == 1, "the kill came after epoch 2 was checkpointed"
    resumed = run_with_jax("trial", folder=str(folder), **TRIAL)
    assert resumed["resumed_from_epoch"] == 1
    assert numbers(resumed) == numbers(metrics)


def test_a_trial_that_outgrows_its_share_of_the_gpu_stops_with_one_line(tmp_path):
    # 0.2% of an H200 is about 280 MB; the trial's 100,000 images alone are 307 MB.
    env = {**snakemake_env(), "KERAS_BACKEND": "jax"}
    env.pop("XLA_PYTHON_CLIENT_MEM_FRACTION", None)
    arguments = {"folder": str(tmp_path), **TRIAL, "gpu_memory_fraction": 0.002}
    done = subprocess.run(
        [sys.executable, str(REPO / "tests/jax_checks.py"), "trial", json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("cifar_noise.StudyError")]
    assert errors and "lower trials_per_gpu" in errors[-1] and "0.2%" in errors[-1], done.stderr[-3000:]
    assert not (tmp_path / "out").exists() and not (tmp_path / "checkpoints").exists()  # nothing half-written
