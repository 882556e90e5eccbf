"""Fetch the CIFAR-10 archive: copied from data.archive, or downloaded from data.url (streamed,
md5-checked, renamed into place when complete)."""

from cifar_noise import job
from cifar_noise.download import copy_archive, download


def main(snakemake):
    # Where the archive comes from is read from the config (validated in place by the Snakefile),
    # not from params: it is no rerun trigger. params.md5 is the content the study was planned with.
    data = snakemake.config["data"]
    archive = snakemake.output.archive
    if data["archive"]:
        copy_archive(data["archive"], archive, data["archive_md5"], snakemake.params.md5)
        job.log(f"copied {data['archive']} (md5 {snakemake.params.md5}) to {archive}")
    else:
        download(data["url"], archive, data["md5"])
        job.log(f"downloaded {data['url']} to {archive}")


job.run(snakemake, main)
