"""The prepared GPU measurement (benchmarks/gpu/run.py), run end to end on the CPU on tiny data, so
that it works when a GPU machine is at hand."""

import json
import subprocess
import sys

import pytest
from workflow_runner import REPO, TINY_EXPERIMENT, snakemake_env, tiny_config, wait_for, write_config


def benchmark_command(tmp_path, *args: str) -> list[str]:
    return [
        sys.executable,
        str(REPO / "benchmarks/gpu/run.py"),
        "--cpu",
        "--quick",
        "--work",
        str(tmp_path / "work"),
        *args,
    ]


def run_benchmark(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = benchmark_command(tmp_path, *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=snakemake_env())


def terminate_after_first_trial(tmp_path, *args: str) -> None:
    """Run the benchmark and send it a SIGTERM (as a machine handed back would) once one trial is done."""
    process = subprocess.Popen(benchmark_command(tmp_path, *args), env=snakemake_env(), stderr=subprocess.PIPE)
    log = tmp_path / "work/study/snakemake.log"  # (a metrics.json alone may be of a job still running)
    wait_for(process, lambda: log.exists() and "(Rule: train_trial)" in log.read_text(), timeout=600)
    process.terminate()
    assert process.wait(timeout=120) == 0, process.stderr.read()[-3000:]


def tiny_study_config(tmp_path):
    study = tiny_config()
    study.update(
        experiments={
            "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
            "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "trials": 1, "baseline": "baseline"},
        },
        sweeps={},
    )
    return write_config(tmp_path, study)


@pytest.mark.slow
def test_gpu_benchmark_script_runs_end_to_end_on_the_cpu(tmp_path):
    config = tiny_study_config(tmp_path)
    out = tmp_path / "results"
    done = run_benchmark(tmp_path, "--study-config", str(config), "--concurrency", "1,2", "--out", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["status"] == "finished"
    trials = [(t["architecture"], t["batch"], t["precision"], t["steps"]) for t in results["trials"]]
    assert trials[:8] == [
        (a, b, p, 1) for a in ("seed_a", "seed_b") for p in ("float32", "bfloat16") for b in (128, 512)
    ]  # one step a call on the CPU, whatever the sweep asks (the last two rows)
    assert all(t["images_per_second"] > 0 and t["device"].startswith("CPU") for t in results["trials"])
    assert {t["backend"] for t in results["trials"]} == {"jax"}
    assert results["flops_per_image"]["seed_a"] == pytest.approx(249.7e6, rel=1e-3)  # 6 x 41.6 M multiply-adds
    assert set(results["ceiling"]["matmul_flops"]) == {"size", "bfloat16", "float32"}
    assert len(results["ceiling"]["train"]) == 4 and all(
        c["images_per_second"] > 0 for c in results["ceiling"]["train"]
    )
    assert [f["backend"] for f in results["fit"]] == ["jax", "torch"]  # torch is not installed here: its error is kept
    assert [len(r["each"]) for r in results["concurrent"]] == [1, 2]
    study = results["study"]
    assert study["finished"] and study["trials_done"] == study["trials_planned"] == 3
    report = out.with_suffix(".md").read_text()
    assert "CPU smoke run of the script: these are not GPU figures" in report
    assert "3 of 3 trials" in report and "Run: **finished**" in report


@pytest.mark.slow
def test_the_study_alone_checks_its_archive_publishes_a_snapshot_and_carries_on_when_cut_short(tmp_path, tiny_archive):
    archive, md5 = tiny_archive
    config, out, snapshot = tiny_study_config(tmp_path), tmp_path / "results", tmp_path / "snapshot"
    study = ("--parts", "f", "--study-config", str(config), "--archive", str(archive), "--out", str(out))

    wrong = run_benchmark(tmp_path, *study, "--archive-md5", "0" * 32)
    assert wrong.returncode != 0 and f"has md5 {md5}, not {'0' * 32}" in wrong.stderr
    assert not (tmp_path / "work").exists()  # stopped before anything ran

    at_once = run_benchmark(tmp_path, *study, "--archive-md5", md5, "--deadline", "0")
    assert at_once.returncode == 0, at_once.stderr[-3000:]
    stopped = json.loads(out.with_suffix(".json").read_text())["study"]
    assert stopped["stopped_by"] == "deadline" and stopped["trials_done"] == 0

    terminate_after_first_trial(tmp_path, *study, "--archive-md5", md5)
    first = json.loads(out.with_suffix(".json").read_text())["study"]
    assert first["stopped_by"] == "SIGTERM" and 1 <= first["trials_done"] < 3
    assert not snapshot.exists()

    done = run_benchmark(tmp_path, *study, "--archive-md5", md5, "--snapshot", str(snapshot))
    assert done.returncode == 0, done.stderr[-3000:]
    second = json.loads(out.with_suffix(".json").read_text())
    assert second["archive_md5"] == md5 and second["study"]["finished"]
    assert second["study"]["trials_done_before"] == first["trials_done"] and second["study"]["trials_done"] == 3
    run = json.loads((snapshot / "run.json").read_text())
    assert run["archive_md5"] == md5 and run["study"]["trials_done"] == 3
    results = snapshot / "results"  # the study archive, unpacked
    assert (results / "summary.md").exists() and len(list(results.glob("experiments/*/trial-01/metrics.json"))) == 3
