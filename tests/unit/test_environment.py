"""The conda environments, requirements*.in and the locks must pin the same versions."""

import os
import re
import shutil
import subprocess

import pytest
import yaml
from workflow_runner import REPO


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[\w,]+\])?==([^\s;]+)", line):  # extras aside
            found[match.group(1).lower().replace("_", "-")] = match.group(3)
    return found


def lock(name: str = "requirements.lock") -> dict[str, str]:
    return pins((REPO / name).read_text().splitlines())


def test_requirements_in_matches_the_lock():
    direct = pins((REPO / "requirements.in").read_text().splitlines())
    assert direct, "requirements.in pins nothing"
    locked = lock()
    assert {name: locked.get(name) for name in direct} == direct


def test_gpu_lock_is_the_cpu_lock_with_cuda_jax_instead_of_tensorflow():
    cpu, gpu = lock(), lock("requirements-gpu.lock")
    direct = pins((REPO / "requirements.in").read_text().splitlines())
    direct.pop("tensorflow")
    direct.update(pins((REPO / "requirements-gpu.in").read_text().splitlines()))
    assert {name: gpu.get(name) for name in direct} == direct
    assert "tensorflow" not in gpu and "jax-cuda13-plugin" in gpu and gpu["jaxlib"] == gpu["jax-cuda13-plugin"]
    assert any(name.startswith("nvidia-cudnn") for name in gpu)  # jax[cuda13] brings CUDA as NVIDIA's wheels
    shared = set(cpu) & set(gpu)
    assert {name: gpu[name] for name in shared} == {name: cpu[name] for name in shared}


@pytest.mark.parametrize(
    "env_file, lock_file, backend",
    [
        ("study.yaml", "requirements.lock", "tensorflow"),
        ("study-gpu.yaml", "requirements-gpu.lock", "jax"),
        ("report.yaml", "requirements.lock", None),
    ],
)
def test_conda_envs_match_their_lock(env_file, lock_file, backend):
    env = yaml.safe_load((REPO / "envs" / env_file).read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = pins(pip_section)
    assert len(conda_pins) == len(pip_section), f"every pip entry of envs/{env_file} must be pinned with =="
    locked = lock(lock_file)
    assert {name: locked.get(name) for name in conda_pins} == conda_pins
    assert backend in conda_pins if backend else not {"tensorflow", "torch", "keras", "jax"} & set(conda_pins)
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def rule_blocks() -> dict[str, str]:
    """Every rule's text, also of rules defined inside an ``if`` (indented)."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "workflow" / "rules").glob("*.smk")))
    parts = re.split(r"^\s*rule (\w+):", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_rule_has_a_log_a_benchmark_and_a_conda_env():
    blocks = rule_blocks()
    assert {"fetch_archive", "train_trial", "plot_results"} <= set(blocks)
    for name, body in blocks.items():
        assert re.search(r"\n\s+log:\n", body), f"rule {name} has no log"
        # the plan is no job of the study, and a benchmark file would make it seem done
        assert re.search(r"\n\s+benchmark:\n", body) or name == "plan", f"rule {name} has no benchmark"
        assert re.search(r"\n\s+conda:\n\s+(TRAIN_|REPORT_)?ENV\n", body), f"rule {name} does not name a conda env"


def test_make_test_passes_archive_to_the_tests(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    # a make that runs these tests must not leak its own settings into this one (`make test
    # ARCHIVE=...` also exports ARCHIVE to them)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "ARCHIVE")}

    def planned(target, *args):
        done = subprocess.run(
            ["make", "--no-print-directory", "-n", target, *args], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return [line for line in done.stdout.splitlines() if "pytest" in line]

    fast = ["tests/unit", '-m "not slow" tests/workflow']
    assert planned("test", f"ARCHIVE={archive}") == [
        f'CIFAR10_ARCHIVE="{archive}" .venv/bin/python -m pytest {t}' for t in fast
    ]
    assert planned("test") == [f".venv/bin/python -m pytest {tier}" for tier in fast]
    # make test-all: the fast tier, then the slow one, so that every test runs once
    assert planned("test-all") == [
        f".venv/bin/python -m pytest {t}" for t in (*fast, "-m slow --durations=25 tests/workflow")
    ]


@pytest.fixture
def make_copy(tmp_path):
    """The Makefile in a folder of its own with an installed-looking .venv; snakemake only echoes."""
    for name in ("Makefile", "requirements.lock", "requirements-gpu.lock"):
        shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv/.installed-requirements.lock").touch()
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}

    def make(*args):
        return subprocess.run(
            ["make", "--no-print-directory", *args, "SNAKEMAKE=echo snakemake"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )

    return tmp_path, make


def snakemake_line(done) -> str:
    assert done.returncode == 0, done.stderr
    return next(line for line in done.stdout.splitlines() if line.startswith("snakemake "))


def test_follow_up_targets_use_the_config_of_the_last_run(make_copy):
    folder, make = make_copy
    assert "--configfile config.yaml --report report.html" in snakemake_line(make("report"))  # no run yet
    make("demo", "ARCHIVE=cifar.tar.gz")
    assert "--configfile config/demo.yaml --report report.html" in snakemake_line(make("report"))
    assert "snakemake plan --configfile config/demo.yaml --quiet all" in snakemake_line(make("plan"))
    assert "snakemake plan --configfile mine.yaml --quiet all" in snakemake_line(make("plan", "CONFIG=mine.yaml"))
    trial = "results/experiments/no_noise/trial-03/metrics.json"
    threads = "--set-threads train_trial=1 evaluate_trial=1 make_shard=1"
    assert snakemake_line(make("trial", "TRIAL=no_noise/trial-03")).endswith(
        f"{trial} --configfile config/demo.yaml {threads}"
    )
    assert f"{trial} --forcerun {trial} --configfile config/demo.yaml --dry-run {threads}" in snakemake_line(
        make("redo", "TRIAL=no_noise/trial-03", "ARGS=--dry-run")
    )
    make("study", "CONFIG=mine.yaml", "ARGS=--dry-run")  # a dry run made no results: still the demo's
    assert "--configfile config/demo.yaml" in snakemake_line(make("report"))
    make("study", "CONFIG=mine.yaml")
    assert "--configfile mine.yaml --report" in snakemake_line(make("report"))
    missing = make("trial")
    assert missing.returncode != 0 and "TRIAL is missing: name a trial as <experiment>/trial-<NN>" in missing.stderr
    # after a run on the GPU: the follow-ups use the GPU profile and environment, other targets do not
    (folder / ".last-run.mk").write_text("LAST_CONFIG := config/demo.yaml\nLAST_GPU := 1\nLAST_THREADS :=\n")
    report = make("-n", "report").stdout
    assert "--workflow-profile profiles/gpu --configfile config/demo.yaml" in report and "requirements-gpu" in report
    assert "requirements-gpu" not in make("-n", "test").stdout


@pytest.mark.fault(kind="no GPU", real=True)
def test_gpu_without_a_gpu_stops_before_touching_the_venv(make_copy):
    folder, make = make_copy
    if shutil.which("nvidia-smi"):
        pytest.skip("nvidia-smi is installed: this machine may have a GPU")
    done = make("demo", "GPU=1", "PYTHON=false")  # were .venv rebuilt, nothing could be installed
    assert done.returncode != 0
    assert "make: GPU=1, but no NVIDIA GPU is visible here" in done.stderr
    assert (folder / ".venv/.installed-requirements.lock").exists()
