"""Evaluate one trained trial on its split's corrupted test sets (see cifar_noise.corruptions)."""

from pathlib import Path

from cifar_noise import job
from cifar_noise.corruptions import evaluate_trial


def main(snakemake):
    inputs = {
        "model": snakemake.input.model,
        "test_labels": snakemake.input.test_labels,
        "corrupted": {Path(path).stem: path for path in snakemake.input.corrupted},  # <corruption>.npy
    }
    evaluate_trial(snakemake.params.evaluation, inputs, snakemake.output.robustness, snakemake.threads, log=job.log)


job.run(snakemake, main)
