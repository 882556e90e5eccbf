"""A PNG grid of example images for one noise condition."""

import numpy as np

from cifar_noise import job
from cifar_noise.plots import noise_examples


def main(snakemake):
    p = snakemake.params
    images = np.ascontiguousarray(np.load(snakemake.input.train_images, mmap_mode="r")[: p.images])
    noise_examples(images, p.noise, p.noise_params, p.seed, snakemake.output.png)


job.run(snakemake, main)
