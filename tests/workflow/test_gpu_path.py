"""The GPU profile: a trial that asks for a GPU trains on one or stops with one clear line, never on the CPU."""

import re
import shlex
import shutil
import subprocess
import sys

import pytest
from workflow_runner import (
    REPO,
    TINY_EXPERIMENT,
    snakemake_command,
    snakemake_env,
    tiny_config,
    train_trial_resources,
    write_config,
)

TRIAL = "results/experiments/baseline/trial-01"


def run_gpu_trial(workdir, tiny_archive, **env_changes) -> tuple[subprocess.CompletedProcess, str]:
    """One tiny trial under profiles/gpu, on this machine (which has no GPU); its result and the train log."""
    archive, md5 = tiny_archive
    config = tiny_config(url=archive.as_uri(), md5=md5)
    config.update(experiments={"baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1}}, sweeps={})
    env = {
        name: value for name, value in snakemake_env().items() if name not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")
    }
    if shutil.which("nvidia-smi", path=env["PATH"]) is not None:
        pytest.skip("nvidia-smi is installed: this machine may have a GPU")
    env.update(CIFAR_NOISE_GPU_LOCKS=str(workdir / "locks"), **env_changes)
    command = snakemake_command(
        workdir,
        "--workflow-profile",
        str(REPO / "profiles/gpu"),
        f"{TRIAL}/metrics.json",
        config=write_config(workdir, config),
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    log = workdir / "results/logs/train_trial/baseline/trial-01.log"
    return result, log.read_text() if log.exists() else ""


def assert_stopped_cleanly(workdir, result, log, message) -> str:
    """The job failed with ``message`` in one terminal line, said so in its log and left no outputs."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    lines = [line for line in output.splitlines() if line.startswith("Error in rule train_trial:") and message in line]
    assert lines, output[-4000:]
    assert "Traceback" not in output and "Traceback" not in log
    assert f"ERROR: {lines[0].removeprefix('Error in rule train_trial: ')}" in log
    assert not [name for name in ("metrics.json", "history.csv", "model.keras") if (workdir / TRIAL / name).exists()]
    assert not list((workdir / "results/checkpoints").rglob("*"))
    # not retried (the profiles retry a failed job once, a training job on a local GPU not): a retry cannot help
    attempts = sorted(p.name for p in (workdir / "results/logs/train_trial/baseline").glob("trial-01.attempt-*.log"))
    assert attempts == ["trial-01.attempt-1.log"], attempts
    return lines[0]


@pytest.mark.slow
@pytest.mark.fault(kind="no GPU", real=True)
def test_a_gpu_job_without_a_gpu_stops_with_one_clear_line(tmp_path, tiny_archive):
    result, log = run_gpu_trial(tmp_path, tiny_archive)
    line = assert_stopped_cleanly(tmp_path, result, log, "asked for a GPU, but none is visible")
    assert "CUDA_VISIBLE_DEVICES=<unset>" in line and "Fix: " in line


@pytest.mark.slow
@pytest.mark.fault(kind="no GPU", real=True)
def test_a_gpu_the_backend_cannot_see_is_refused_too(tmp_path, tiny_archive):
    result, log = run_gpu_trial(tmp_path, tiny_archive, CUDA_VISIBLE_DEVICES="0")  # a GPU that is not there
    line = assert_stopped_cleanly(tmp_path, result, log, "the Keras backend tensorflow sees none")
    assert "KERAS_BACKEND=jax" in line
    assert "CUDA_VISIBLE_DEVICES=0" in line and "make setup GPU=1" in line
    assert (tmp_path / "locks/gpu-0.slot-0.lock").exists()  # the claim itself succeeded


def readme_gpu_commands(text: str) -> list[str]:
    """The lines of README's code blocks that run snakemake with the GPU profile."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith("snakemake ") and "profiles/gpu" in line
    ]


def test_readme_gpu_commands_plan_gpu_trials(tmp_path):
    commands = readme_gpu_commands((REPO / "README.md").read_text())
    assert len(commands) >= 2, commands
    for i, line in enumerate(commands):
        argv = shlex.split(line, comments=True)
        argv = [sys.executable, "-m", "snakemake", "--directory", str(tmp_path / str(i)), "--dry-run", *argv[1:]]
        result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, env=snakemake_env())
        assert result.returncode == 0, f"{line}\n{result.stderr[-4000:]}"
        resources = train_trial_resources(result.stdout + result.stderr)
        assert resources, f"{line} plans no training"
        assert all(r.get("gpu") == "1" for r in resources), resources
