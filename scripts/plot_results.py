"""Test accuracy per experiment (every trial, mean, 95% CI) and training curves."""
import pandas as pd

from cifar_noise import job
from cifar_noise.plots import accuracy_plot, training_curves


def main(snakemake):
    trials = pd.read_csv(snakemake.input.csv)
    accuracy_plot(trials, snakemake.output.accuracy, snakemake.params.experiments)
    histories = {}
    for experiment, path in zip(snakemake.params.history_experiments, snakemake.input.histories):
        histories.setdefault(experiment, []).append(pd.read_csv(path))
    training_curves(histories, snakemake.output.curves)


job.run(snakemake, main)
