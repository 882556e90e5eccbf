"""A zip of the study's results (tables, plots, summary, per-trial metrics and histories) and its config."""

import zipfile

import yaml

from cifar_noise import job
from cifar_noise.fileio import atomic_path


def main(snakemake):
    files = sorted({path for path in snakemake.input})
    with atomic_path(snakemake.output.zip, suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.yaml", yaml.safe_dump(snakemake.params.config, sort_keys=False))
            for path in files:
                archive.write(path, path)
    job.log(f"{len(files)} files and the config in {snakemake.output.zip}")


job.run(snakemake, main)
