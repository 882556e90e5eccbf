"""The prepared GPU measurement (benchmarks/gpu/run.py), run end to end on the CPU on tiny data, so
that it works when a GPU machine is at hand."""

import json
import subprocess
import sys

import pytest
from workflow_runner import REPO, TINY_EXPERIMENT, snakemake_env, tiny_config, write_config


@pytest.mark.slow
def test_gpu_benchmark_script_runs_end_to_end_on_the_cpu(tmp_path):
    study = tiny_config()
    study.update(
        experiments={
            "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
            "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "trials": 1, "baseline": "baseline"},
        },
        sweeps={},
    )
    config = write_config(tmp_path, study)
    out = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks/gpu/run.py"),
            "--cpu",
            "--quick",
            "--study-config",
            str(config),
            "--concurrency",
            "1,2",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=snakemake_env(),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.with_suffix(".json").read_text())
    assert [(r["architecture"], r["batch"]) for r in results["single"]] == [
        ("seed_a", 128),
        ("seed_a", 512),
        ("seed_b", 128),
        ("seed_b", 512),
    ]
    assert all(r["images_per_second"] > 0 and r["device"].startswith("CPU") for r in results["single"])
    assert [len(r["images_per_second_each"]) for r in results["concurrent"]] == [1, 2]
    assert results["study"]["finished"] and results["study"]["trials_done"] == results["study"]["trials_planned"] == 3
    report = out.with_suffix(".md").read_text()
    assert "CPU smoke run of the script: these are not GPU figures" in report
    assert "3 of 3 trials" in report
