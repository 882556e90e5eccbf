"""All trials in one CSV, and the notebook's Markdown table per experiment."""

from cifar_noise import job
from cifar_noise.aggregate import load_metrics, notebook_table, robustness_table, trials_table
from cifar_noise.fileio import write_text


def main(snakemake):
    robustness = load_metrics(snakemake.input.robustness)
    trials = trials_table(load_metrics(snakemake.input.metrics), snakemake.params.descriptions, robustness)
    write_text(snakemake.output.csv, trials.to_csv(index=False))
    write_text(snakemake.output.robustness, robustness_table(robustness).to_csv(index=False))
    for experiment, path in zip(snakemake.params.experiments, snakemake.output.tables, strict=True):
        write_text(path, notebook_table(trials, experiment))
    job.log(f"{len(trials)} trials of {len(snakemake.params.experiments)} experiments")


job.run(snakemake, main)
