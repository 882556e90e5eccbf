"""The Snakemake internals the workflow reads (workflow/rules/internals.smk), against the installed
Snakemake: a release that renames or changes one fails here, with its name, before a study runs."""

import json
import subprocess
import sys

from workflow_runner import REPO

SNAKEFILE = f"""
import json
import os


include: "{REPO}/workflow/rules/internals.smk"


def say(name, value):
    print("INTERNAL", json.dumps([name, value]), flush=True)


say("workflow_folder", workflow_folder())
say("configfiles_given", [os.path.basename(path) for path in configfiles_given()])
say("configfiles_loaded", [os.path.basename(str(path)) for path in configfiles_loaded()])
say("is_main_process", is_main_process())
say("runs_jobs_here", runs_jobs_here())
say("profile_resource", {{name: profile_resource("work", name) for name in ("gpu", "images_per_second")}})
say("nothing", profile_resource("nothing", "gpu", "default"))
try:
    snakemake_internal("workflow.no_such_attribute", lambda: workflow.no_such_attribute)
except WorkflowError as error:
    say("missing", str(error))


rule work:
    output:
        "done.txt",
    threads: 2
    shell:
        "touch {{output}}"


say("rule_threads", rule_threads("work"))


onstart:
    say("outputs_to_write", outputs_to_write())
"""


def test_each_internal_reads_what_the_workflow_expects(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "study.yaml").write_text("key: 1\n")
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "study.yaml"]
    command += ["--set-threads", "work=1", "--set-resources", "work:gpu=1", "work:images_per_second=500"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    said = dict(json.loads(line.split(" ", 1)[1]) for line in output.splitlines() if line.startswith("INTERNAL "))
    # what a renamed attribute gives: its name and the file that reads it
    missing = said.pop("missing")
    assert "no longer has workflow.no_such_attribute" in missing and "workflow/rules/internals.smk" in missing
    assert said == {
        "workflow_folder": str(tmp_path),
        "configfiles_given": ["study.yaml"],
        "configfiles_loaded": ["study.yaml"],
        "is_main_process": True,
        "runs_jobs_here": True,
        "profile_resource": {"gpu": 1, "images_per_second": 500},
        "nothing": "default",
        "rule_threads": 1,
        "outputs_to_write": ["done.txt"],
    }, output[-3000:]
    assert (tmp_path / "done.txt").exists()
