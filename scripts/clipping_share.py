"""The share of one noise condition's values that clipping to 0..255 changes, measured on the
first training images (summary.md quotes it)."""

import numpy as np

from cifar_noise import job
from cifar_noise.fileio import write_json
from cifar_noise.noise import clipped_share


def main(snakemake):
    p = snakemake.params
    sample = np.ascontiguousarray(np.load(snakemake.input.train_images, mmap_mode="r")[: p.images])
    share = clipped_share(sample, p.noise, p.noise_params, p.seed)
    record = {"noise": p.noise, "noise_params": p.noise_params, "images": len(sample), **share}
    write_json(snakemake.output.json, record)
    job.log(f"clipping changes {share['share']:.4%} of the values on {len(sample)} images")


job.run(snakemake, main)
