"""What the study costs before it runs: printed on the terminal (see cifar_noise.plan)."""

from cifar_noise import job
from cifar_noise.plan import plan
from cifar_noise.study import Study


def main(snakemake):
    p = snakemake.params
    plan(Study(snakemake.config), p.layout, p.config, p.threads, p.metrics, p.speed_file, say=job.tell)


job.run(snakemake, main)
