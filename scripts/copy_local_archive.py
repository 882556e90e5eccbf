"""Copy the user's local archive (data.archive) into results/data/, checked against its md5."""

from cifar_noise import job
from cifar_noise.download import copy_archive


def main(snakemake):
    # The path comes from the config, not from params or input, so that it is no rerun trigger.
    data = snakemake.config["data"]
    copy_archive(data["archive"], snakemake.output.archive, data.get("archive_md5"), snakemake.params.content_md5)
    job.log(f"copied {data['archive']} (md5 {snakemake.params.content_md5}) to {snakemake.output.archive}")


job.run(snakemake, main)
