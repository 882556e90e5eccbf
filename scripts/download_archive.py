"""Download the CIFAR-10 archive (streamed, md5-checked, renamed into place when complete)."""

from cifar_noise import job
from cifar_noise.download import download


def main(snakemake):
    download(snakemake.params.url, snakemake.output.archive, snakemake.params.md5)


job.run(snakemake, main)
