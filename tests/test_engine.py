"""The compiled engine (Keras on JAX, cifar_noise.engine) on the CPU: the same weights as Keras's own
train_on_batch loop, several steps a call, and a real trial through the workflow, killed and resumed."""

import json
import subprocess
import sys
import time

import pytest
from conftest import real_archive
from test_reliability import kill_when, resume
from workflow_runner import REPO, read_metrics, snakemake_env, start_snakemake, trial_numbers, write_config

from cifar_noise.backend import gpu_memory_errors
from cifar_noise.engine import call_plan
from cifar_noise.errors import StudyError


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


def test_an_epoch_is_cut_into_calls_of_three_shapes():
    assert call_plan(23, batch=4, steps=2) == [(0, 2, 4), (8, 2, 4), (16, 1, 4), (20, 1, 3)]
    assert call_plan(8, batch=4, steps=1) == [(0, 1, 4), (4, 1, 4)]
    assert call_plan(3, batch=8, steps=4) == [(0, 1, 3)]
    plan = call_plan(1000, batch=32, steps=8)
    covered = [i for start, steps, batch in plan for i in range(start, start + steps * batch)]
    assert covered == list(range(1000))
    assert {(steps, batch) for _, steps, batch in plan} == {(8, 32), (1, 32), (1, 8)}


def assert_same_epochs(result, rel):
    for (seen, loss, correct), (seen2, loss2, correct2) in zip(result["expected"], result["found"], strict=True):
        assert seen2 == seen and correct2 == pytest.approx(correct, abs=1e-3)
        assert loss2 == pytest.approx(loss, rel=rel)


@pytest.mark.slow
def test_the_compiled_loop_ends_with_train_on_batchs_weights_after_300_steps(tmp_path):
    # 300 images x 2, batch 8: 75 steps an epoch, 4 epochs. One step a call, as on the CPU.
    result = run_with_jax("follow_train_on_batch", folder=str(tmp_path), images=300, batch=8, epochs=4, steps=1)
    assert result["steps"] == 300
    assert result["weight_difference"] <= 1e-6 * result["weight_scale"], result
    assert_same_epochs(result, rel=1e-5)  # the loss summed in float32 on the device
    assert result["predict_difference"] <= 1e-6  # the compiled evaluation predicts as Keras does


@pytest.mark.slow
def test_several_steps_a_call_give_the_same_weights(tmp_path):
    # Tiny on purpose: on the CPU a scanned step runs many times slower than a plain one.
    result = run_with_jax("follow_train_on_batch", folder=str(tmp_path), images=11, batch=4, epochs=1, steps=2)
    assert result["steps"] == 6  # calls of 2 steps, 2 steps, 1 step of 4 and the last 2 images
    assert result["weight_difference"] <= 1e-5 * result["weight_scale"], result
    assert_same_epochs(result, rel=1e-5)


def test_running_out_of_a_gpu_share_names_trials_per_gpu():
    class XlaRuntimeError(RuntimeError):
        pass

    with pytest.raises(StudyError, match="lower trials_per_gpu") as caught:
        with gpu_memory_errors(0.1125):
            raise XlaRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 2.00GiB.\nmore")
    assert "11.2%" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(XlaRuntimeError):  # on the CPU (no share of a GPU) the error stays what it is
        with gpu_memory_errors(None):
            raise XlaRuntimeError("RESOURCE_EXHAUSTED")
    with pytest.raises(ValueError):
        with gpu_memory_errors(0.5):
            raise ValueError("something else")


REAL = "results/experiments/real_gaussian/trial-01/metrics.json"


def real_trial_config(folder):
    experiment = {
        "train_size": 600,
        "test_set": "official",
        "test_size": 500,
        "architecture": "seed_a",
        "noise": "gaussian",
        "enlarge": 2,
        "epochs": 3,
        "batch_size": 32,
        "trials": 1,
    }
    config = {
        "data": {"archive": str(real_archive())},
        "matched_baselines": False,
        "corruptions": {
            "test_size": 200,
            "sets": {"gaussian": {"noise": "gaussian", "vary": "sigma", "severities": [20]}},
        },
        "experiments": {"real_gaussian": experiment},
    }
    return write_config(folder, config)


@pytest.mark.slow
@pytest.mark.fault(kind="kill", real=True)
def test_the_engine_trains_a_real_trial_killed_mid_epoch_to_the_numbers_of_an_uninterrupted_run(
    tmp_path_factory, monkeypatch
):
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the workflow's jobs inherit it
    robustness = REAL.replace("metrics.json", "robustness.json")
    reference = tmp_path_factory.mktemp("engine_reference")
    process = start_snakemake(reference, REAL, robustness, config=real_trial_config(reference))
    assert process.wait() == 0, process.stdout.read()[-4000:]

    workdir = tmp_path_factory.mktemp("engine_killed")
    config = real_trial_config(workdir)
    checkpoints = workdir / "results/checkpoints/real_gaussian/trial-01"
    log = workdir / "results/logs/train_trial/real_gaussian/trial-01.log"
    process = start_snakemake(workdir, REAL, config=config)
    started = {}

    def in_epoch_two():  # the checkpoint of epoch 1 is written, epoch 2 is under way
        if (checkpoints / "state.json").exists():
            started.setdefault("at", time.monotonic())
            return time.monotonic() - started["at"] > 1.0
        return False

    kill_when(process, in_epoch_two)
    assert json.loads((checkpoints / "state.json").read_text())["epoch"] == 1, "the kill came after epoch 2"
    resume(workdir, config, REAL, robustness)

    metrics = read_metrics(workdir, "real_gaussian/trial-01")
    assert metrics["backend"] == "jax" and metrics["resumed_from_epoch"] == 1
    assert "CompiledLoop" in log.read_text()
    assert trial_numbers(workdir) == trial_numbers(reference)
    assert metrics["test_accuracy"] > 0.2, metrics["test_accuracy"]  # chance: 0.10; the labels followed the images
    evaluated = json.loads((workdir / robustness).read_text())
    assert evaluated["backend"] == "jax" and evaluated["corruptions"][0]["accuracy"] > 0.15
    assert evaluated["corruptions"] == json.loads((reference / robustness).read_text())["corruptions"]
