"""Train and evaluate one trial (see cifar_noise.train)."""

from cifar_noise import job
from cifar_noise.gpus import claim_for_job
from cifar_noise.train import run_trial


def main(snakemake):
    memory_fraction = claim_for_job(snakemake.resources, log=job.log)  # None: trains on the CPU
    inputs = {name: snakemake.input[name] for name in ("train_images", "train_labels", "test_images", "test_labels")}
    inputs["shards"] = list(snakemake.input.shards)
    outputs = {name: snakemake.output[name] for name in ("model", "history", "metrics")}
    identities = {
        "split": snakemake.input.split_identity,
        "shards": list(snakemake.input.shard_identities),
        "split_params": snakemake.params.split,
        "shard_params": snakemake.params.shard,
    }
    run_trial(
        snakemake.params.trial,
        inputs,
        outputs,
        snakemake.params.checkpoint_dir,
        threads=snakemake.threads,
        log=job.log,
        gpu=memory_fraction is not None,
        gpu_memory_fraction=memory_fraction,
        identities=identities,
    )


job.run(snakemake, main)
