"""Accuracy against severity per corruption, and clean against corrupted accuracy per condition."""

import pandas as pd

from cifar_noise import job
from cifar_noise.plots import corruption_curves, robustness_tradeoff


def main(snakemake):
    level = snakemake.params.level
    experiments = snakemake.params.experiments
    robustness = pd.read_csv(snakemake.input.robustness)
    corruption_curves(robustness, snakemake.params.corruptions, experiments, snakemake.output.curves, level)
    robustness_tradeoff(pd.read_csv(snakemake.input.csv), experiments, snakemake.output.tradeoff, level)
    job.log(f"{len(robustness)} results of {robustness['experiment'].nunique()} experiments")


job.run(snakemake, main)
