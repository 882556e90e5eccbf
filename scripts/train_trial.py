"""Train and evaluate one trial (see cifar_noise.train)."""

from cifar_noise import job
from cifar_noise.gpus import asks_for_gpu, claim_gpu
from cifar_noise.train import checkpointed_epoch, run_trial

# Of its GPU's memory, the trials sharing it take this much together (the rest: CUDA's own).
GPU_MEMORY_SHARED = 0.9


def main(snakemake):
    resources = snakemake.resources  # gpu, gres and trials_per_gpu come from the GPU and SLURM profiles
    gpu = asks_for_gpu(getattr(resources, "gpu", 0), getattr(resources, "gres", None))
    trials_per_gpu = int(getattr(resources, "trials_per_gpu", 1))
    if gpu:  # before the backend starts: take a slot of a GPU of our own
        claim_gpu(log=job.log, trials_per_gpu=trials_per_gpu)
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
        gpu=gpu,
        gpu_memory_fraction=GPU_MEMORY_SHARED / trials_per_gpu if gpu else None,
        identities=identities,
    )


def interrupted(snakemake) -> str:
    """What Ctrl-C left: the checkpoint of the last finished epoch, from which a rerun resumes."""
    epochs = snakemake.params.trial["epochs"]
    done = checkpointed_epoch(snakemake.params.checkpoint_dir)
    if done:
        return f"interrupted (Ctrl-C) after epoch {done} of {epochs}; a rerun resumes from it"
    return f"interrupted (Ctrl-C) in epoch 1 of {epochs}, before its first checkpoint; a rerun starts it afresh"


job.run(snakemake, main, interrupted=lambda: interrupted(snakemake))
