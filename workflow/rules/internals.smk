# The Snakemake attributes this workflow reads that Snakemake does not document, each in one
# function here and nowhere else: each serves a feature that no documented API gives
# (docs/reliability.md says which and why). A release can change any of them without warning, so
# tests/unit/test_snakemake_internals.py runs every function below against the installed Snakemake,
# and each one stops with a line that names the attribute, never with a bare AttributeError.
from snakemake import __version__ as SNAKEMAKE_VERSION
from snakemake.exceptions import WorkflowError


def snakemake_internal(name, read):
    """``read()`` of the internal ``name``; a WorkflowError that names it if this Snakemake lacks it."""
    try:
        return read()
    except (AttributeError, KeyError, TypeError) as error:
        raise WorkflowError(
            f"Snakemake {SNAKEMAKE_VERSION} no longer has {name}, which this workflow reads "
            f"(workflow/rules/internals.smk, docs/reliability.md): {error!r}"
        ) from None


def workflow_folder():
    """The folder of the Snakefile being parsed, also when another workflow uses this one as a
    module: where the cifar_noise package and the default config lie."""
    return str(snakemake_internal("workflow.current_basedir", lambda: workflow.current_basedir))


def configfiles_given():
    """The --configfile files of the command line (none: the default config.yaml is loaded)."""
    return list(snakemake_internal("workflow.overwrite_configfiles", lambda: workflow.overwrite_configfiles))


def configfiles_loaded():
    """Every config file loaded, in order: what `make plan` names as the planned config."""
    return list(snakemake_internal("workflow.configfiles", lambda: workflow.configfiles))


def is_main_process():
    """False in the processes that Snakemake starts to run jobs (SLURM's), which load this file
    too: the notes before the first job are the main process's alone."""
    return snakemake_internal("workflow.is_main_process", lambda: workflow.is_main_process)


def runs_jobs_here():
    """Whether the jobs run on this machine (the local executor), not on a cluster's nodes."""
    return snakemake_internal("workflow.local_exec", lambda: workflow.local_exec)


def profile_resource(rule, name, default=None):
    """A resource that the profile (or --set-resources) sets for ``rule``, else ``default``.
    Snakemake keeps a value that is not an integer (gres: "gpu:1") as an expression for each job;
    the ones read here depend on no wildcard, so only the one asked for is evaluated, as a first
    attempt would be."""

    def read():
        given = workflow.resource_settings.overwrite_resources.get(rule) or {}
        if name not in given:
            return default
        first = dict(wildcards=None, input=None, attempt=1, threads=1, rulename=rule, async_run=None)
        return given[name].evaluate(**first).value

    return snakemake_internal("workflow.resource_settings.overwrite_resources", read)


def rule_threads(rule):
    """The threads a rule's jobs get: the profile's set-threads, else the rule's."""
    return snakemake_internal("Rule.resources['_cores']", lambda: getattr(rules, rule).rule.resources["_cores"].value)


def outputs_to_write():
    """In onstart: the output files of every job this run is about to run."""
    return snakemake_internal(
        "workflow.dag.needrun_jobs()",
        lambda: [path for job in workflow.dag.needrun_jobs() for path in job.output],
    )
