# How and where jobs run: the profile's business, never the config's (that one says what the study
# computes). Also what runs before the first job and after the last.
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from cifar_noise.changes import notes
from cifar_noise import StudyError
from cifar_noise.fileio import remove_empty_folders
from cifar_noise.gpus import asks_for_gpu
from cifar_noise.identity import SPLIT_FILES
from cifar_noise.plan import check_disk, footprint

# Per-epoch checkpoints of running trials, outside every rule's outputs (see rule train_trial).
CHECKPOINTS = "results/checkpoints"


def trains_on_gpu():
    """Whether the profile gives train_trial a GPU (set-resources train_trial: gpu or gres)."""
    return asks_for_gpu(profile_resource("train_trial", "gpu", 0), profile_resource("train_trial", "gres"))


# With --sdm conda, GPU training gets the environment with JAX's CUDA build instead.
TRAIN_ENV = "../../envs/study-gpu.yaml" if trains_on_gpu() else ENV


def training_retries():
    """How often a failed training job is retried: the profile's `retries:` (None), except not at all
    when it trains on this machine's GPUs: what fails there (no GPU, a GPU without room for the
    trial) fails again, and nothing preempts a local job. On a cluster a retry resumes from the
    checkpoint, maybe on another node."""
    return 0 if trains_on_gpu() and runs_jobs_here() else None


def scaled(base):
    """A resource that grows with each retry (attempt 1, 2, ...) after a job ran out of it."""

    def grown(wildcards, attempt):
        return base * attempt

    return grown


# tables, statistics and plots: small, short jobs
SMALL_JOB = dict(mem_mb=scaled(2000), runtime=scaled(10))

# A conservative training speed (images a second) that sizes the runtime a training job asks a
# scheduler for; profiles/slurm sets its own (set-resources train_trial: images_per_second).
EXPECTED_IMAGES_PER_SECOND = 150


def train_runtime(wildcards, attempt):
    """Minutes a training job asks a scheduler for: its images at a conservative speed, x1.5."""
    exp = STUDY.experiment(wildcards.experiment)
    images = exp["train_size"] * exp["enlarge"] * exp["epochs"] + 60000  # + evaluation
    speed = profile_resource("train_trial", "images_per_second", EXPECTED_IMAGES_PER_SECOND)
    return int((10 + 1.5 * images / speed / 60) * attempt)


def attempt_number(wildcards, attempt):
    """Which attempt a job is (1, 2, ...): a resource, the one way a script can know it."""
    return attempt


# ---- before the first job and after the last ------------------------------------------------


def layout():
    """Where the study's large files go (the rules' patterns), for the plan and the disk check."""
    return {
        "archive": str(rules.fetch_archive.output.archive),
        "dataset": {name: str(path) for name, path in rules.extract_dataset.output.items()},
        "splits": {name: str(rules.split_dataset.output[name]) for name in SPLIT_FILES},
        "shard": str(rules.make_shard.output.shard),
        "corrupted": str(rules.corrupt_test_set.output.images),
    }


def note_changes():
    """Before any job runs: what this config would redo (or keep) of the results already there. Only
    in the main process: jobs that Snakemake runs as processes of their own (SLURM) load this file too."""
    if not is_main_process():
        return
    metrics = dict(zip(STUDY.trials(), study_files(rules.train_trial.output.metrics), strict=True))
    fetched = fetched_archive_md5()
    wanted = get_archive_md5(None) if fetched else None  # no need to hash data.archive before a first run
    for note in notes(STUDY, metrics, rules.fetch_archive.output.archive, fetched, wanted):
        logger.warning(f"Note: {note}")


def check_disk_space():
    """Stop with one line when the splits, shards and corrupted sets that the jobs about to run
    would write do not fit in the free space."""
    try:
        check_disk(footprint(STUDY, layout()), outputs_to_write())
    except StudyError as error:
        raise WorkflowError(str(error)) from None


def remove_checkpoint_folders():
    """A finished trial removes its checkpoint folder; the experiments' folders above them go when
    the run ends, not in the trials: another trial of the experiment may be creating its folder there."""
    remove_empty_folders(CHECKPOINTS)
