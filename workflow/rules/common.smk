import functools
import json

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from cifar_noise.changes import notes
from cifar_noise.config import CHECKPOINTS, RESULTS, Study
from cifar_noise.errors import StudyError
from cifar_noise.fileio import remove_empty_folders
from cifar_noise.gpus import asks_for_gpu
from cifar_noise.plan import check_disk

try:
    STUDY = Study(config)
except StudyError as error:  # before any job runs: name the bad key and stop
    raise WorkflowError(str(error)) from None
CONFIG = STUDY.config  # the validated config, defaults filled in

# Before any job runs: what this config would redo (or keep) of the results already there. Only in
# the main process: jobs that Snakemake runs as processes of their own (SLURM) load this file too.
if workflow.is_main_process:
    try:
        for note in notes(STUDY):
            logger.warning(f"Note: {note}")
    except StudyError as error:
        raise WorkflowError(str(error)) from None

ENV = "../../envs/study.yaml"
# The report's landing page, written by rule summarize (the question, the design, the answer).
REPORT_LANDING = f"{RESULTS}/report/workflow.rst"

# Tables, statistics and plots need no deep learning framework: a small environment of their own.
REPORT_ENV = "../../envs/report.yaml"


def check_disk_space():
    """Stop with one line when the splits, shards and corrupted sets that the jobs about to run
    would write do not fit in the free space (workflow.dag holds those jobs once planning is done)."""
    try:
        check_disk(STUDY, [path for job in workflow.dag.needrun_jobs() for path in job.output])
    except StudyError as error:
        raise WorkflowError(str(error)) from None


def trains_on_gpu():
    """Whether the profile gives train_trial a GPU (set-resources train_trial: gpu or gres)."""
    resources = workflow.resource_settings.overwrite_resources.get("train_trial") or {}
    given = {name: resources[name].value for name in ("gpu", "gres") if name in resources}
    return asks_for_gpu(given.get("gpu", 0), given.get("gres"))


# With --sdm conda, GPU training gets the environment with JAX's CUDA build instead.
TRAIN_ENV = "../../envs/study-gpu.yaml" if trains_on_gpu() else ENV


def training_retries():
    """How often a failed training job is retried. Not at all when it trains on this machine's GPUs:
    what fails there (no GPU, a GPU without room for the trial) fails again, and nothing preempts
    a local job. On a cluster a retry resumes from the checkpoint, maybe on another node."""
    return 0 if trains_on_gpu() and workflow.local_exec else CONFIG["training"]["retries"]


def scaled(base):
    """A resource that grows with each retry (attempt 1, 2, ...) after a job ran out of it."""
    return lambda wildcards, attempt: base * attempt


# tables, statistics and plots: small, short jobs
SMALL_JOB = dict(mem_mb=scaled(2000), runtime=scaled(10))


def train_runtime(wildcards, attempt):
    """Minutes a training job asks a scheduler for: its images at a conservative speed, x1.5."""
    exp = STUDY.experiment(wildcards.experiment)
    images = exp["train_size"] * exp["enlarge"] * exp["epochs"] + 60000  # + evaluation
    minutes = 10 + 1.5 * images / CONFIG["training"]["expected_images_per_second"] / 60
    return int(minutes * attempt)


wildcard_constraints:
    experiment=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    trial=r"\d\d+",
    shard=r"\d\d\d\d+",
    split=r"[A-Za-z0-9_.-]+",
    condition=r"[A-Za-z0-9_.-]+",
    sweep=r"[A-Za-z0-9][A-Za-z0-9_.-]*",


def one_line_errors(function):
    """For an input or params function: its StudyError (a target naming an experiment, trial,
    split, sweep or noise condition that the config does not have; a data.archive that is not
    there) stops snakemake with that one line. Snakemake wraps any Exception of such a function in
    a many-line InputFunctionException, but lets SystemExit pass."""

    @functools.wraps(function)
    def checked(wildcards, **aux):
        try:
            return function(wildcards, **aux)
        except StudyError as error:
            raise SystemExit(f"Error: {error}") from None

    return checked


@one_line_errors
def get_archive_md5(wildcards):
    return STUDY.archive_md5()


def archived_config(wildcards):
    """The config as the study archive records it: the CIFAR-10 archive by its content, not by
    where it came from (the same file at another path, or downloaded, must not redo anything), and
    its top-level keys sorted (--config puts the keys it sets first). Deeper keys keep their order:
    the experiments' order is the tables' order."""
    config = {**CONFIG, "data": {"md5": get_archive_md5(wildcards)}}
    return json.loads(json.dumps({key: config[key] for key in sorted(config)}))


@one_line_errors
def get_trial_files(wildcards):
    """Inputs of one training job: its split and its noise shards, and the records of what they are."""
    name, trial = wildcards.experiment, wildcards.trial
    return {
        **STUDY.split_files(name, trial),
        "shards": STUDY.shard_files(name, trial),
        "split_identity": STUDY.split_identity(name, trial),
        "shard_identities": STUDY.shard_identities(name, trial),
    }


@one_line_errors
def get_shard_originals(wildcards):
    """The training images of the split a shard perturbs."""
    return STUDY.split_files(wildcards.experiment, wildcards.trial)["train_images"]


@one_line_errors
def get_trial_params(wildcards):
    return STUDY.trial_params(wildcards.experiment, wildcards.trial)


@one_line_errors
def get_shard_params(wildcards):
    return STUDY.shard_params(wildcards.experiment, wildcards.trial)


@one_line_errors
def get_trial_split_params(wildcards):
    """What the record of a trial's split must say (the values its rule was given)."""
    return STUDY.split_params(STUDY.split_id(wildcards.experiment, wildcards.trial))


@one_line_errors
def get_split_params(wildcards):
    return STUDY.split_params(wildcards.split)


@one_line_errors
def get_evaluation_files(wildcards):
    """A trial's trained model, its split's test labels and the split's corrupted test sets."""
    split = STUDY.split_id(wildcards.experiment, wildcards.trial)
    return {
        "model": f"{RESULTS}/experiments/{wildcards.experiment}/trial-{wildcards.trial}/model.keras",
        "test_labels": STUDY.split_files(wildcards.experiment, wildcards.trial)["test_labels"],
        "corrupted": list(STUDY.corrupted_files(split).values()),
    }


@one_line_errors
def get_evaluation_params(wildcards):
    return STUDY.evaluation_params(wildcards.experiment, wildcards.trial)


@one_line_errors
def get_corruption_params(wildcards):
    return STUDY.corruption_params(wildcards.split, wildcards.corruption)


@one_line_errors
def get_noise(wildcards):
    return STUDY.noise_condition(wildcards.condition)[0]


@one_line_errors
def get_noise_params(wildcards):
    return STUDY.noise_condition(wildcards.condition)[1]


@one_line_errors
def get_sweep(wildcards):
    return STUDY.sweep(wildcards.sweep)


# Training images on which the share of values that clipping changes is measured, per condition.
CLIPPING_SAMPLE = 2000


def clipping_files():
    return [f"{RESULTS}/tables/clipping/{slug}.json" for slug in STUDY.noise_conditions()]


def noise_example_files():
    return [f"{RESULTS}/plots/noise_examples/{slug}.png" for slug in STUDY.noise_conditions()]


def robustness_plot_files():
    """The two robustness figures, where the study has corruptions."""
    if not STUDY.corruptions:
        return []
    return [f"{RESULTS}/plots/{name}.png" for name in ("corruption_accuracy", "robustness_tradeoff")]


def sweep_plot_files():
    return [f"{RESULTS}/plots/sweeps/{name}.png" for name in STUDY.sweeps]


def benchmark_files():
    """The benchmark file of every job that runs before the runtime plot, from the rules' own
    benchmark: patterns (so only called after those rules are defined)."""
    files = [rules.fetch_archive.benchmark, rules.extract_dataset.benchmark]
    files += expand(rules.split_dataset.benchmark, split=STUDY.split_ids())
    for t in STUDY.trials():
        trial = f"{t.trial:02d}"
        shards = [f"{s:04d}" for s in range(STUDY.shard_count(t.experiment))]
        files += expand(rules.make_shard.benchmark, experiment=t.experiment, trial=trial, shard=shards)
        files += expand(rules.train_trial.benchmark, experiment=t.experiment, trial=trial)
        if STUDY.corruptions:
            files += expand(rules.evaluate_trial.benchmark, experiment=t.experiment, trial=trial)
    files += expand(rules.noise_examples.benchmark, condition=STUDY.noise_conditions())
    split_ids = list(dict.fromkeys(STUDY.split_ids()))
    files += expand(rules.corrupt_test_set.benchmark, split=split_ids, corruption=list(STUDY.corruptions))
    files += [r.benchmark for r in (rules.aggregate_trials, rules.summarize, rules.plot_results)]
    if STUDY.corruptions:
        files.append(rules.plot_robustness.benchmark)
    files += expand(rules.plot_sweep.benchmark, sweep=list(STUDY.sweeps))
    return files
