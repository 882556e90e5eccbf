"""One shard of perturbed training images (uint8 .npy), seeded on its own."""

import time

import numpy as np

from cifar_noise import job
from cifar_noise.fileio import file_digest
from cifar_noise.identity import shard_record, shard_sha256, write_identity
from cifar_noise.shards import build_shard, write_shard


def main(snakemake):
    p = snakemake.params.shard
    index = int(snakemake.wildcards.shard)  # shard-0003: the shard's index in its trial
    started = time.monotonic()
    images = build_shard(
        np.load(snakemake.input.train_images),
        index,
        p["enlarge"],
        p["shard_size"],
        p["noise"],
        p["noise_params"],
        p["noise_seed"],
        threads=snakemake.threads,
        clip=p["clip"],
    )
    write_shard(snakemake.output.shard, images)
    write_identity(  # checked by training
        snakemake.output.identity,
        shard_record(p, index),
        shard_sha256(file_digest(snakemake.output.shard), file_digest(snakemake.input.train_images)),
    )
    job.log(f"{len(images)} images with {p['noise']} noise {p['noise_params']} in {time.monotonic() - started:.1f} s")


job.run(snakemake, main)
