"""Decode the CIFAR-10 archive into uint8 .npy arrays (images NHWC, labels 0-9)."""

from cifar_noise import job
from cifar_noise.cifar import read_archive
from cifar_noise.fileio import save_npy


def main(snakemake):
    data = read_archive(snakemake.input.archive)
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        save_npy(snakemake.output[name], getattr(data, name))
    job.log(f"{len(data.train_images)} training and {len(data.test_images)} test images")


job.run(snakemake, main)
