"""Test accuracy as a function of the swept noise parameter or enlargement factor."""

import pandas as pd

from cifar_noise import job
from cifar_noise.plots import sweep_plot


def main(snakemake):
    sweep_plot(pd.read_csv(snakemake.input.csv), snakemake.params.sweep, snakemake.output.png, snakemake.params.level)


job.run(snakemake, main)
