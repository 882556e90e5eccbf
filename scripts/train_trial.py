"""Train and evaluate one trial (see cifar_noise.train)."""

from cifar_noise import job
from cifar_noise.checkpoints import checkpointed_epoch
from cifar_noise.gpus import claim_for_job
from cifar_noise.identity import SPLIT_FILES
from cifar_noise.params import TrialParams
from cifar_noise.train import Runtime, run_trial


def main(snakemake):
    memory_fraction = claim_for_job(snakemake.resources, log=job.log)  # None: trains on the CPU
    inputs = {name: snakemake.input[name] for name in SPLIT_FILES}
    inputs["shards"] = list(snakemake.input.shards)
    outputs = {name: snakemake.output[name] for name in ("model", "history", "metrics")}
    identities = {
        "split": snakemake.input.split_identity,
        "shards": list(snakemake.input.shard_identities),
        "split_params": snakemake.params.split,
        "shard_params": snakemake.params.shard,
    }
    run_trial(
        TrialParams(**snakemake.params.trial),
        inputs,
        outputs,
        snakemake.params.checkpoints,
        Runtime(
            threads=snakemake.threads,
            log=job.log,
            gpu=memory_fraction is not None,
            gpu_memory_fraction=memory_fraction,
        ),
        identities=identities,
    )


def interrupted(snakemake) -> str:
    """What Ctrl-C left: the checkpoint of the last finished epoch, from which a rerun resumes."""
    epochs = snakemake.params.trial["epochs"]
    done = checkpointed_epoch(snakemake.params.checkpoints)
    if done:
        return f"interrupted (Ctrl-C) after epoch {done} of {epochs}; a rerun resumes from it"
    return f"interrupted (Ctrl-C) in epoch 1 of {epochs}, before its first checkpoint; a rerun starts it afresh"


job.run(snakemake, main, interrupted=lambda: interrupted(snakemake))
