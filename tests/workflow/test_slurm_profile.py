"""The SLURM profile as the workflow reads it, on any machine: a dry run plans what a training job
asks SLURM for (test_slurm.py runs the profile on a cluster, which only CI starts)."""

import re

import yaml
from workflow_runner import REPO, TINY_EXPERIMENT, snakemake, tiny_config, write_config

TRIAL = "results/experiments/baseline/trial-01/metrics.json"


def training_resources(workdir, profile) -> dict[str, str]:
    """The resources of the one training job that a dry run of TRIAL under ``profile`` plans."""
    config = tiny_config(experiments={"baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1}}, sweeps={})
    done = snakemake(workdir, "--workflow-profile", str(profile), "-n", TRIAL, config=write_config(workdir, config))
    output = done.stdout + done.stderr
    assert f"Using workflow specific profile {profile}" in output
    job = output.split("rule train_trial:")[1].split("\n[")[0]
    return dict(re.findall(r"(\w+)=([^,\n]+)", re.search(r"resources: (.*)", job).group(1)))


def test_a_training_job_on_slurm_asks_for_the_gpu_partition_and_a_runtime_from_the_profiles_speed(tmp_path):
    """The profile's words (slurm_partition: "gpu") reach the job, and its images_per_second sizes the
    runtime: the trial's images / that speed x1.5, + 10 minutes, as its comment says."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-resources"]["train_trial"]
    resources = training_resources(tmp_path, REPO / "profiles/slurm")
    assert resources["slurm_partition"] == profile["slurm_partition"] == "gpu"
    assert resources["gpu"] == "1"
    images = TINY_EXPERIMENT["train_size"] * TINY_EXPERIMENT["epochs"] + 60000  # + evaluation
    assert int(resources["runtime"]) == int(10 + 1.5 * images / profile["images_per_second"] / 60)


def test_a_gres_in_place_of_gpu_reaches_the_job_as_written(tmp_path):
    """A cluster that wants a gres: the profile's alternative (gres: "gpu:1"), a string Snakemake
    keeps as an expression until a job evaluates it."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    train = profile["set-resources"]["train_trial"]
    del train["gpu"]
    train.update(gres="gpu:1", images_per_second=1)
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile/config.yaml").write_text(yaml.safe_dump(profile))
    resources = training_resources(tmp_path, tmp_path / "profile")
    assert resources["gres"] == "gpu:1"
    images = TINY_EXPERIMENT["train_size"] * TINY_EXPERIMENT["epochs"] + 60000
    assert int(resources["runtime"]) == int(10 + 1.5 * images / 60)
