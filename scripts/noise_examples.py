"""A PNG grid of example images for one noise condition, and the share of its values that
clipping to 0..255 changes (measured on the first training images)."""

import numpy as np

from cifar_noise import job
from cifar_noise.fileio import write_json
from cifar_noise.noise import clipped_share
from cifar_noise.plots import noise_examples


def main(snakemake):
    images = np.load(snakemake.input.train_images, mmap_mode="r")[: snakemake.params.images]
    noise_examples(
        np.ascontiguousarray(images),
        snakemake.params.noise,
        snakemake.params.noise_params,
        snakemake.params.seed,
        snakemake.output.png,
    )
    p = snakemake.params
    sample = np.ascontiguousarray(np.load(snakemake.input.train_images, mmap_mode="r")[: p.clipping_images])
    share = clipped_share(sample, p.noise, p.noise_params, p.seed)
    write_json(
        snakemake.output.clipping, {"noise": p.noise, "noise_params": p.noise_params, "images": len(sample), **share}
    )
    job.log(f"clipping changes {share['share']:.4%} of the values on {len(sample)} images")


job.run(snakemake, main)
