"""Training on the real CIFAR-10 archive lands far above chance (the notebook's bug sat at 0.10)."""

import pytest
from conftest import real_archive
from workflow_runner import read_metrics, snakemake, write_config

pytestmark = pytest.mark.slow


def test_seed_a_on_2000_real_images_learns(tmp_path):
    archive = real_archive()
    config = write_config(
        tmp_path,
        {
            "data": {"archive": str(archive)},
            "experiments": {
                "real": {
                    "train_size": 2000,
                    "test_set": "official",
                    "test_size": 2000,
                    "architecture": "seed_a",
                    "noise": "none",
                    "epochs": 5,
                    "batch_size": 128,
                    "trials": 1,
                }
            },
        },
    )
    snakemake(tmp_path, "results/experiments/real/trial-01/metrics.json", config=config)
    metrics = read_metrics(tmp_path, "real/trial-01")
    assert metrics["train_images"] == 2000 and metrics["test_images"] == 2000 and metrics["epochs"] == 5
    assert metrics["val_accuracy"] >= 0.30, metrics["val_accuracy"]
    assert metrics["train_accuracy"] > 0.30
