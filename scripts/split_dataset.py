"""Seeded split: one permutation for images and labels together."""

import numpy as np

from cifar_noise import job
from cifar_noise.fileio import file_digest, save_npy
from cifar_noise.identity import SPLIT_FILES, write_identity
from cifar_noise.split import make_split


def main(snakemake):
    arrays = {name: np.load(snakemake.input[name]) for name in SPLIT_FILES}
    split = make_split(**arrays, **snakemake.params.split)
    for name in arrays:
        save_npy(snakemake.output[name], getattr(split, name))
    digests = {name: file_digest(snakemake.output[name]) for name in SPLIT_FILES}
    write_identity(snakemake.output.identity, snakemake.params.split, digests)  # checked by training
    job.log(f"split {snakemake.params.split}: {len(split.train_images)} train, {len(split.test_images)} test")


job.run(snakemake, main)
