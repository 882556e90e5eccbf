"""The prepared GPU measurement (benchmarks/gpu/run.py), run on the CPU on tiny data, so that it
works when a GPU machine is at hand."""

import json
import os
import signal
import subprocess
import sys

import pytest
from workflow_runner import REPO, snakemake_env, wait_for

from cifar_noise.models import flops_per_image


def benchmark_command(tmp_path, *args: str) -> list[str]:
    script = REPO / "benchmarks/gpu/run.py"
    return [sys.executable, str(script), "--cpu", "--quick", "--work", str(tmp_path / "work"), *args]


def saved(out) -> dict:
    path = out.with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.slow
def test_gpu_benchmark_script_runs_on_the_cpu(tmp_path):
    out = tmp_path / "results"
    command = benchmark_command(tmp_path, "--concurrency", "2", "--out", str(out))
    done = subprocess.run(command, capture_output=True, text=True, timeout=1500, env=snakemake_env())
    assert done.returncode == 0, done.stderr[-4000:]
    results = saved(out)
    assert results["status"] == "finished"
    assert set(results["matmul_flops"]) == {"size", "bfloat16", "float32"}
    trials = [(t["architecture"], t["precision"], t["steps"]) for t in results["trials"]]
    assert (
        trials
        == [(a, p, 1) for a in ("seed_a", "seed_b") for p in ("float32", "bfloat16")] + [("seed_a", "float32", 1)] * 2
    )  # one step a call on the CPU, whatever the last two rows ask for
    assert [t["batch"] for t in results["trials"]] == [128] * 6
    for t in results["trials"]:
        assert t["images_per_second"] > 0 and t["eval_images_per_second"] > 0
        assert t["device"].startswith("CPU") and t["backend"] == "jax"
        assert t["flops_per_image"] == flops_per_image(t["architecture"])  # the package's one FLOP count
        assert t["peak_gpu_bytes"] is None and t["peak_rss_bytes"] > 100 * 2**20
    assert results["trials"][0]["flops_per_image"] == pytest.approx(249.7e6, rel=1e-3)  # 6 x 41.6 M multiply-adds
    (shared,) = results["concurrent"]
    assert shared["trials"] == 2 and len(shared["each"]) == 2
    assert shared["images_per_second_summed"] == pytest.approx(sum(shared["each"]))
    report = out.with_suffix(".md").read_text()
    assert "CPU smoke run of the script: these are not GPU figures" in report and "Run: **finished**" in report
    first = results["trials"][0]  # its share of the float32 matrix-product rate, as the report gives it
    share = first["images_per_second"] * first["flops_per_image"] / results["matmul_flops"]["float32"]
    assert f"| {100 * share:.1f}% |" in report


@pytest.mark.slow
def test_a_run_cut_off_keeps_every_figure_measured_so_far(tmp_path):
    out = tmp_path / "results"
    command = benchmark_command(tmp_path, "--concurrency", "", "--out", str(out))
    process = subprocess.Popen(command, env=snakemake_env(), stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(process, lambda: len(saved(out).get("trials", [])) >= 1, timeout=900)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # as a session cut off: no handler, no last save
        process.wait()
    results = saved(out)
    assert results["status"] == "stopped in (2), one trial"
    assert results["matmul_flops"]["float32"] > 0
    assert results["trials"][0]["architecture"] == "seed_a" and results["trials"][0]["images_per_second"] > 0
    assert "## 1. The GPU's matrix-product rate" in out.with_suffix(".md").read_text()
