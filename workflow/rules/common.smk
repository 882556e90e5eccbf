from snakemake.exceptions import WorkflowError

from cifar_noise.config import RESULTS, Study
from cifar_noise.errors import StudyError

try:
    STUDY = Study(config)
except StudyError as error:  # before any job runs: name the bad key and stop
    raise WorkflowError(str(error)) from None
CONFIG = STUDY.config  # the validated config, defaults filled in

ENV = "../../envs/study.yaml"

wildcard_constraints:
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    trial=r"\d\d+",
    shard=r"\d\d\d\d+",
    split=r"[A-Za-z0-9_.-]+",
    condition=r"[A-Za-z0-9_.-]+",


def trial_files(wildcards):
    """Inputs of one training job: its split and its noise shards."""
    split = STUDY.split_files(wildcards.experiment, wildcards.trial)
    return {**split, "shards": STUDY.shard_files(wildcards.experiment, wildcards.trial)}


def noise_example_files():
    return [f"{RESULTS}/plots/noise_examples/{slug}.png" for slug in STUDY.noise_conditions()]
