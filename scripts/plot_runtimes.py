"""The wall time of every job, from the rules' benchmark: files (the input, named by rule)."""

import pandas as pd

from cifar_noise import job
from cifar_noise.plots import runtime_plot


def main(snakemake):
    seconds = {
        rule: [s for path in paths for s in pd.read_csv(path, sep="\t")["s"]]
        for rule, paths in snakemake.input.items()
        if paths
    }
    runtime_plot(seconds, snakemake.output.png)
    job.log(", ".join(f"{rule}: {len(s)} jobs, {sum(s):.0f} s" for rule, s in seconds.items()))


job.run(snakemake, main)
