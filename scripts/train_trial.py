"""Train and evaluate one trial (see cifar_noise.train)."""
from cifar_noise import job
from cifar_noise.gpus import claim_gpu
from cifar_noise.train import run_trial


def main(snakemake):
    if getattr(snakemake.resources, "gpu", 0):  # before the backend starts: pick our own GPU
        claim_gpu(log=job.log)
    inputs = {name: snakemake.input[name] for name in
              ("train_images", "train_labels", "test_images", "test_labels")}
    inputs["shards"] = list(snakemake.input.shards)
    outputs = {name: snakemake.output[name] for name in ("model", "history", "metrics")}
    run_trial(snakemake.params.trial, inputs, outputs, snakemake.params.checkpoint_dir,
              threads=snakemake.threads, workflow_dir=snakemake.params.workflow_dir, log=job.log)


job.run(snakemake, main)
