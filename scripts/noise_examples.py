"""A PNG grid of example images for one noise condition."""

import numpy as np

from cifar_noise import job
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


job.run(snakemake, main)
