# CIFAR-10 noise-augmentation study: download -> seeded split -> noise shards -> one training
# job per trial -> tables and plots. The logic lives in the cifar_noise package; see README.md.
#
# Another workflow can use this one as a module, with its own config (tests/workflow/test_module.py):
#     module cifar_noise:
#         snakefile: "path/to/this/Snakefile"
#         config: config
#     use rule * from cifar_noise
# Snakemake does not run a module's onstart/onsuccess/onerror hooks: the host calls
# cifar_noise.check_disk_space() and cifar_noise.remove_checkpoint_folders() in its own.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")


# The Snakemake internals this workflow reads, each in one function (docs/reliability.md).
include: "workflow/rules/internals.smk"


# The Snakefile imports cifar_noise from its own folder (workflow_folder(): this file's, also when
# another workflow uses this one as a module). Scripts run in fresh interpreters (or conda envs)
# and import it through scripts/cifar_noise, a link to the package: Snakemake puts the scripts'
# folder on their sys.path.
sys.path.insert(0, workflow_folder())


# The full study is the default; `--configfile other.yaml` replaces it rather than merging into it.
# (A workflow that uses this one as a module passes its own config: this line is skipped then.)
if not configfiles_given():

    configfile: os.path.join(workflow_folder(), "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/runtime.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/aggregate.smk"


# Before the DAG is built: what a changed config would redo of the results already there.
note_changes()


# The report opens with the question, the design and the current answer, as rule summarize wrote
# them from the numbers of summary.md; before the first run, with the question alone.
landing = rules.summarize.output.landing


report: os.path.abspath(landing) if os.path.exists(landing) else "workflow/report/workflow.rst"


# Before the first job: what this run's jobs would write must fit on the disk (make plan: the sizes).
onstart:
    check_disk_space()


# When the run ends: the checkpoint folders that finished trials emptied go.
onsuccess:
    remove_checkpoint_folders()


onerror:
    remove_checkpoint_folders()


rule all:
    default_target: True
    input:
        # Listed here too so that a trial whose outputs were deleted is redone by a plain run
        # (Snakemake does not look behind aggregates that are already up to date).
        study_files(rules.train_trial.output.metrics),
        study_files(rules.evaluate_trial.output.robustness),
        rules.aggregate_trials.output,
        rules.summarize.output,
        rules.plot_results.output,
        study_files(*rules.plot_robustness.output),
        study_files(rules.plot_sweep.output.png),
        study_files(rules.noise_examples.output.png),
        rules.plot_runtimes.output,
        rules.archive.output,
    localrule: True
