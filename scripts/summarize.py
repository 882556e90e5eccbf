"""results/summary.md and the table of noisy conditions against their baselines."""

import json

import pandas as pd

from cifar_noise import job
from cifar_noise.aggregate import comparisons_table
from cifar_noise.fileio import write_text
from cifar_noise.landing import report_landing
from cifar_noise.summary import summary_markdown


def main(snakemake):
    trials = pd.read_csv(snakemake.input.csv)
    robustness = pd.read_csv(snakemake.input.robustness)
    statistics = snakemake.params.statistics
    comparisons = comparisons_table(
        trials, snakemake.params.comparisons, statistics["confidence"], statistics["min_trials"], robustness
    )
    write_text(snakemake.output.comparisons, comparisons.to_csv(index=False))
    clipping = [json.loads(open(path).read()) for path in snakemake.input.clipping]
    write_text(
        snakemake.output.summary,
        summary_markdown(
            trials,
            comparisons,
            snakemake.params.experiments,
            snakemake.params.sweeps,
            statistics["confidence"],
            clipping,
            snakemake.params.corruptions,
            statistics["min_trials"],
        ),
    )
    write_text(snakemake.output.landing, report_landing(comparisons, statistics["confidence"]))
    job.log(f"{len(comparisons)} comparisons")


job.run(snakemake, main)
