"""Evaluate one trained trial on its split's corrupted test sets (see cifar_noise.corruptions)."""

from pathlib import Path

from cifar_noise import job
from cifar_noise.corruptions import evaluate_trial
from cifar_noise.gpus import claim_for_job


def main(snakemake):
    memory_fraction = claim_for_job(snakemake.resources, log=job.log)  # None: evaluates on the CPU
    inputs = {
        "model": snakemake.input.model,
        "test_labels": snakemake.input.test_labels,
        "corrupted": {Path(path).stem: path for path in snakemake.input.corrupted},  # <corruption>.npy
    }
    evaluate_trial(
        snakemake.params.evaluation,
        inputs,
        snakemake.output.robustness,
        snakemake.threads,
        log=job.log,
        gpu_memory_fraction=memory_fraction,
    )


job.run(snakemake, main)
