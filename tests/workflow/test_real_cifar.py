"""Training on the real CIFAR-10 archive lands far above chance (the notebook's bug sat at 0.10)."""

import pytest
from workflow_runner import read_metrics, real_archive, snakemake, write_config

pytestmark = pytest.mark.slow


def train_on_real_images(tmp_path, architecture: str, train_size: int, epochs: int) -> dict:
    archive = real_archive()
    experiment = {
        "train_size": train_size,
        "test_set": "official",
        "test_size": 2000,
        "architecture": architecture,
        "noise": "none",
        "epochs": epochs,
        "batch_size": 128,
        "trials": 1,
    }
    config = write_config(tmp_path, {"data": {"archive": str(archive)}, "experiments": {"real": experiment}})
    snakemake(tmp_path, "results/experiments/real/trial-01/metrics.json", config=config)
    metrics = read_metrics(tmp_path, "real/trial-01")
    assert metrics["train_images"] == train_size and metrics["test_images"] == 2000 and metrics["epochs"] == epochs
    assert metrics["params"]["architecture"] == architecture
    return metrics


def test_seed_a_on_2000_real_images_learns(tmp_path):
    metrics = train_on_real_images(tmp_path, "seed_a", 2000, 5)
    assert metrics["test_accuracy"] >= 0.30, metrics["test_accuracy"]
    assert metrics["train_accuracy"] > 0.30


def test_seed_b_on_real_images_learns(tmp_path):
    metrics = train_on_real_images(tmp_path, "seed_b", 4000, 3)
    assert metrics["test_accuracy"] >= 0.30, metrics["test_accuracy"]  # chance: 0.10
