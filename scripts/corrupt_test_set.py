"""One corrupted test set of one split (uint8 .npy, every severity of one corruption)."""

import time

import numpy as np

from cifar_noise import job
from cifar_noise.corruptions import corrupt_test_set
from cifar_noise.fileio import save_npy


def main(snakemake):
    p = snakemake.params.corrupted
    started = time.monotonic()
    images = corrupt_test_set(
        np.load(snakemake.input.test_images), p["corruption"], p["split_seed"], p["test_size"], snakemake.threads
    )
    save_npy(snakemake.output.images, images)
    c = p["corruption"]
    job.log(
        f"{len(images)} images: {c['noise']} {c['params']} at {c['vary']} = {c['severities']} "
        f"in {time.monotonic() - started:.1f} s"
    )


job.run(snakemake, main)
