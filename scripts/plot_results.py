"""Test accuracy per experiment, training curves, per-class accuracy and confusion matrices."""

import numpy as np
import pandas as pd

from cifar_noise import job
from cifar_noise.aggregate import load_metrics
from cifar_noise.plots import (
    accuracy_plot,
    comparison_curves,
    confusion_matrices,
    per_class_heatmap,
    training_curves,
)


def main(snakemake):
    trials = pd.read_csv(snakemake.input.csv)
    experiments = snakemake.params.experiments
    accuracy_plot(trials, snakemake.output.accuracy, experiments, snakemake.params.level, snakemake.params.min_trials)
    per_class_heatmap(trials, experiments, snakemake.output.per_class)

    histories, confusion = {}, {}
    for name, history, metrics in zip(
        snakemake.params.trial_experiments,
        snakemake.input.histories,
        load_metrics(snakemake.input.metrics),
        strict=True,
    ):
        histories.setdefault(name, []).append(pd.read_csv(history))
        matrix = np.array(metrics["confusion_matrix"])
        confusion[name] = confusion.get(name, 0) + matrix
    training_curves(histories, snakemake.output.curves)
    comparison_curves(
        histories, snakemake.params.comparisons, snakemake.output.comparison_curves, snakemake.params.level
    )

    # the best noisy condition (by mean test accuracy) next to its baseline
    mean = trials.groupby("experiment")["test_accuracy"].mean()
    comparisons = snakemake.params.comparisons
    if comparisons:
        best = max(comparisons, key=lambda c: mean[c["experiment"]])
        shown = {
            f"best condition: {best['experiment']} ({mean[best['experiment']]:.3f})": best["experiment"],
            f"its baseline: {best['baseline']} ({mean[best['baseline']]:.3f})": best["baseline"],
        }
    else:
        top = mean.idxmax()
        shown = {f"best experiment: {top} ({mean[top]:.3f})": top}
    confusion_matrices({title: confusion[name] for title, name in shown.items()}, snakemake.output.confusion)


job.run(snakemake, main)
