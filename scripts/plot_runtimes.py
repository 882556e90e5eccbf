"""The wall time of every job, from the rules' benchmark: files."""

from pathlib import Path

import pandas as pd

from cifar_noise import job
from cifar_noise.config import RESULTS
from cifar_noise.plots import runtime_plot


def main(snakemake):
    seconds = {}
    for path in snakemake.input.benchmarks:
        # results/benchmarks/<rule>.tsv or results/benchmarks/<rule>/<...>.tsv
        rule = Path(path).relative_to(f"{RESULTS}/benchmarks").parts[0].removesuffix(".tsv")
        seconds.setdefault(rule, []).extend(pd.read_csv(path, sep="\t")["s"].tolist())
    runtime_plot(seconds, snakemake.output.png)
    job.log(", ".join(f"{rule}: {len(s)} jobs, {sum(s):.0f} s" for rule, s in seconds.items()))


job.run(snakemake, main)
