"""Another workflow uses this one as a Snakemake module (`module` + `use rule * from`) and runs a
small study through it: the same files, and the same numbers as the workflow run on its own."""

import subprocess
import sys

import pytest
from workflow_runner import (
    ONE_THREAD_PER_JOB,
    REPO,
    TINY_EXPERIMENT,
    files_with_mtimes,
    snakemake_env,
    tiny_config,
    trial_numbers,
    write_config,
)

pytestmark = pytest.mark.slow


def host_snakefile() -> str:
    """The README's host workflow, which takes the whole study from this repository with this
    repository's run hooks (a module's onstart/onsuccess/onerror are its host's to call)."""
    blocks = (REPO / "README.md").read_text().split("```python\n")[1:]
    snippet = next(block.split("```", 1)[0] for block in blocks if "use rule * from cifar_noise" in block)
    return snippet.replace("/path/to/this/checkout/Snakefile", str(REPO / "Snakefile"))


def test_another_workflow_runs_the_study_through_the_module(tmp_path, tiny_archive, tiny_study):
    archive, md5 = tiny_archive
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "Snakefile").write_text(host_snakefile())
    work = tmp_path / "work"
    work.mkdir()
    experiments = {
        "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
        "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "trials": 1, "baseline": "baseline"},
    }
    config = tiny_config(url=archive.as_uri(), md5=md5, matched_baselines=False, sweeps={}, experiments=experiments)
    write_config(work, config)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(tmp_path / "host" / "Snakefile")]
    command += ["--directory", str(work), "--cores", "2", *ONE_THREAD_PER_JOB]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=snakemake_env())
    assert done.returncode == 0, done.stderr[-5000:]

    # the module's default target: the whole study, from the download to its archive
    made = set(files_with_mtimes(work / "results"))
    assert {"summary.md", "study-archive.zip", "tables/trials.csv", "plots/runtimes.png"} <= made
    assert not (work / "results/checkpoints").exists()
    # each trial as the workflow run on its own computes it (the tiny study has these trials too)
    numbers = trial_numbers(work)
    assert sorted(numbers) == ["results/experiments/baseline/trial-01", "results/experiments/gaussian/trial-01"]
    alone = trial_numbers(tiny_study[0])
    assert numbers == {trial: alone[trial] for trial in numbers}
