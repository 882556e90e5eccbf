"""Decode the CIFAR-10 archive into uint8 .npy arrays (images NHWC, labels 0-9)."""

from cifar_noise import job
from cifar_noise.cifar import read_archive
from cifar_noise.fileio import save_npy
from cifar_noise.identity import SPLIT_FILES


def main(snakemake):
    data = read_archive(snakemake.input.archive)
    for name in SPLIT_FILES:
        save_npy(snakemake.output[name], getattr(data, name))
    job.log(f"{len(data.train_images)} training and {len(data.test_images)} test images")


job.run(snakemake, main)
