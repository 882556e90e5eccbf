"""The compiled engine (Keras on JAX) in the workflow: a real trial killed mid-epoch and resumed."""

import json

import pytest
from workflow_runner import (
    kill_when,
    read_metrics,
    real_archive,
    resume,
    settled,
    snakemake,
    start_snakemake,
    trial_numbers,
    write_config,
)

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
    snakemake(reference, REAL, robustness, config=real_trial_config(reference), timeout=1800)

    workdir = tmp_path_factory.mktemp("engine_killed")
    config = real_trial_config(workdir)
    checkpoints = workdir / "results/checkpoints/real_gaussian/trial-01"
    log = workdir / "results/logs/train_trial/real_gaussian/trial-01.log"
    process = start_snakemake(workdir, REAL, config=config)
    kill_when(process, settled(checkpoints / "state.json"))  # epoch 1's checkpoint written, epoch 2 under way
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
