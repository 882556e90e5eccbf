"""Training on the real CIFAR-10 archive lands far above chance (the notebook's bug sat at 0.10)."""

import pytest
from workflow_runner import read_metrics, real_archive, snakemake, write_config

pytestmark = pytest.mark.slow

# Both models in one run: the archive is copied and extracted once, and the two one-thread
# trainings share the 2 cores.
EXPERIMENTS = {
    "real_seed_a": {"architecture": "seed_a", "train_size": 2000, "epochs": 5},
    "real_seed_b": {"architecture": "seed_b", "train_size": 4000, "epochs": 3},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each experiment's metrics.json, after one snakemake run on the real archive."""
    folder = tmp_path_factory.mktemp("real")
    common = {"test_set": "official", "test_size": 2000, "noise": "none", "batch_size": 128, "trials": 1}
    experiments = {name: {**common, **experiment} for name, experiment in EXPERIMENTS.items()}
    config = write_config(folder, {"data": {"archive": str(real_archive())}, "experiments": experiments})
    snakemake(folder, *[f"results/experiments/{name}/trial-01/metrics.json" for name in EXPERIMENTS], config=config)
    return {name: read_metrics(folder, f"{name}/trial-01") for name in EXPERIMENTS}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_model_on_real_images_learns(trained, name):
    metrics, experiment = trained[name], EXPERIMENTS[name]
    assert metrics["train_images"] == experiment["train_size"] and metrics["test_images"] == 2000
    assert metrics["epochs"] == experiment["epochs"]
    assert metrics["params"]["architecture"] == experiment["architecture"]
    assert metrics["test_accuracy"] >= 0.30, metrics["test_accuracy"]  # chance: 0.10
    assert metrics["train_accuracy"] > 0.30
