# The study the config asks for, and what the rules ask of it: which jobs there are (the wildcards
# of each, for targets, aggregates and the runtime plot) and each job's input files and params.
import functools
import json
import os
import re

from cifar_noise.download import verify_local_archive
from cifar_noise import StudyError
from cifar_noise.fileio import file_digest
from cifar_noise.identity import SPLIT_FILES
from cifar_noise.schema import validate_config
from cifar_noise.study import Study

# Snakemake's config is validated in place (its defaults filled in): there is no other copy.
try:
    STUDY = Study(validate_config(config))
except StudyError as error:  # before any job runs: name the bad key and stop, in one line
    raise SystemExit(f"Error: {error}") from None

ENV = "../../envs/study.yaml"
# Tables, statistics and plots need no deep learning framework: a small environment of their own.
REPORT_ENV = "../../envs/report.yaml"
# Training images on which the share of values that clipping changes is measured, per condition.
CLIPPING_SAMPLE = 2000


# ---- wildcards: only the names the study has ------------------------------------------------


def one_of(names):
    """A wildcard constraint that matches exactly ``names`` (and nothing when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    experiment=one_of(STUDY.experiments),
    split=one_of(STUDY.split_ids()),
    corruption=one_of(STUDY.corruptions),
    condition=one_of(STUDY.conditions),
    sweep=one_of(STUDY.sweeps),
    trial=r"\d\d+",
    shard=r"\d\d\d\d+",


def one_line_errors(function):
    """For an input or params function: its StudyError (a trial or shard number beyond the
    config's, a data.archive that is not there) stops snakemake with that one line. Snakemake
    wraps any Exception of such a function in a many-line InputFunctionException, but lets
    SystemExit pass."""

    @functools.wraps(function)
    def checked(wildcards):
        try:
            return function(wildcards)
        except StudyError as error:
            raise SystemExit(f"Error: {error}") from None

    return checked


def of_job(function):
    """An input or params function of a job's wildcards as the study knows them (numbers as
    numbers, every name checked): the one place where wildcards are converted."""

    @one_line_errors
    @functools.wraps(function)
    def typed(wildcards):
        return function(STUDY.wildcards(dict(wildcards.items())))

    return typed


# ---- the study's jobs: one list for targets, aggregates and the runtime plot -----------------


def study_jobs():
    """The wildcards of every job of a full run of the study, by rule."""
    trials = [trial.wildcards for trial in STUDY.trials()]
    evaluated = trials if STUDY.corruptions else []
    conditions = [{"condition": slug} for slug in STUDY.conditions]
    one = [{}]
    return {
        "fetch_archive": one,
        "extract_dataset": one,
        "split_dataset": [{"split": split} for split in STUDY.split_ids()],
        "make_shard": [shard for t in STUDY.trials() for shard in STUDY.shard_wildcards(t.experiment, t.trial)],
        "train_trial": trials,
        "corrupt_test_set": [{"split": s, "corruption": c} for s in STUDY.split_ids() for c in STUDY.corruptions],
        "evaluate_trial": evaluated,
        "noise_examples": conditions,
        "clipping_share": conditions,
        "aggregate_trials": one,
        "summarize": one,
        "plot_results": one,
        "plot_robustness": one if STUDY.corruptions else [],
        "plot_sweep": [{"sweep": sweep} for sweep in STUDY.sweeps],
        "plot_runtimes": one,
        "archive": one,
    }


JOBS = study_jobs()


def study_files(*patterns):
    """Every file of ``patterns`` (outputs, logs or a benchmark of one rule, e.g.
    rules.train_trial.output.metrics) that the study's jobs of that rule write."""
    # found by the rule object, not by its name (a workflow that uses this one as a module may rename it)
    name = next(name for name in JOBS if getattr(rules, name).rule is patterns[0].rule)
    return [file for job in JOBS[name] for pattern in patterns for file in expand(pattern, **job)]


def get_benchmark_files(wildcards):
    """The benchmark file of every job that runs before the runtime plot, by rule."""
    before = [name for name in JOBS if name not in ("plot_runtimes", "archive")]
    return {name: study_files(getattr(rules, name).benchmark) for name in before}


def one_file(pattern, **wildcards):
    (file,) = expand(pattern, **wildcards)
    return file


# ---- input and params functions -------------------------------------------------------------


@functools.cache
def md5_of(path):
    """A file's md5, read once per snakemake run (the archive is 163 MB)."""
    return file_digest(path, "md5")


@one_line_errors
def get_archive_md5(wildcards):
    """The content of the archive the study reads, by which its fetch job is known (so the same
    bytes, downloaded or copied, rerun nothing): data.archive's md5 when it is set; for a download
    pinned by data.md5, the md5 of the archive already fetched (the one the results were made
    from, however it got there), or data.md5 before there is one; None for a download without md5,
    whatever data.url serves. A StudyError names an unreadable data.archive."""
    data = config["data"]
    if data["archive"]:
        verify_local_archive(data["archive"], None)
        return md5_of(data["archive"])
    if data["md5"] is None:
        return None
    return fetched_archive_md5() or data["md5"].lower()


def fetched_archive_md5():
    archive = rules.fetch_archive.output.archive
    return md5_of(archive) if os.path.isfile(archive) else None


def archived_config(wildcards):
    """The config as the study archive records it: the CIFAR-10 archive by its content, not by
    where it came from (the same file at another path, or downloaded, must not redo anything), and
    its sections sorted (--config puts the sections it sets first; their order means nothing). The
    order within them is kept: the experiments' is the order of the tables' rows."""
    archived = {**config, "data": {"md5": get_archive_md5(wildcards)}}
    return json.loads(json.dumps(dict(sorted(archived.items()))))


def split_files(split):
    """A split's four arrays, by name."""
    return {name: one_file(pattern, split=split) for name, pattern in rules.split_dataset.output.items()}


@of_job
def get_trial_files(job):
    """Inputs of one training job: its split and its noise shards, and the records of what they are."""
    split = split_files(STUDY.split_id(job.experiment, job.trial))
    shards = STUDY.shard_wildcards(job.experiment, job.trial)
    return {
        **{name: split[name] for name in SPLIT_FILES},
        "split_identity": split["identity"],
        "shards": [one_file(rules.make_shard.output.shard, **shard) for shard in shards],
        "shard_identities": [one_file(rules.make_shard.output.identity, **shard) for shard in shards],
    }


@of_job
def get_shard_originals(job):
    """The training images of the split a shard perturbs."""
    return split_files(STUDY.split_id(job.experiment, job.trial))["train_images"]


@of_job
def get_trial_params(job):
    return STUDY.trial_params(job.experiment, job.trial).asdict()


@of_job
def get_shard_params(job):
    return STUDY.shard_params(job.experiment, job.trial)


@of_job
def get_trial_split_params(job):
    """What the record of a trial's split must say (the values its rule was given)."""
    return STUDY.split_params(STUDY.split_id(job.experiment, job.trial))


@of_job
def get_split_params(job):
    return STUDY.split_params(job.split)


@of_job
def get_evaluation_files(job):
    """A trial's split's test labels and the split's corrupted test sets."""
    split = STUDY.split_id(job.experiment, job.trial)
    return {
        "test_labels": split_files(split)["test_labels"],
        "corrupted": expand(rules.corrupt_test_set.output.images, split=split, corruption=list(STUDY.corruptions)),
    }


@of_job
def get_evaluation_params(job):
    return STUDY.evaluation_params(job.experiment, job.trial)


@of_job
def get_corruption_params(job):
    return STUDY.corruption_params(job.split, job.corruption)


@of_job
def get_noise(job):
    return STUDY.noise_condition(job.condition)[0]


@of_job
def get_noise_params(job):
    return STUDY.noise_condition(job.condition)[1]


@of_job
def get_sweep(job):
    return STUDY.sweep(job.sweep)


def descriptions():
    """Descriptions come from the config here, not from the trials: rewording one redoes the
    tables, never the training."""
    return {name: exp["description"] for name, exp in STUDY.experiments.items()}
