"""The SLURM profile as the workflow reads it, on any machine: a dry run plans what a training job
asks SLURM for (test_slurm.py runs the profile on a cluster, which only CI starts)."""

import copy

import yaml
from workflow_runner import REPO, TINY_EXPERIMENT, snakemake, tiny_config, train_trial_resources, write_config

TRIAL = "results/experiments/baseline/trial-01/metrics.json"
PROFILE = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())


def training_resources(workdir, profile) -> dict[str, str]:
    """The resources of the one training job that a dry run of TRIAL under ``profile`` plans."""
    config = tiny_config(experiments={"baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1}}, sweeps={})
    done = snakemake(workdir, "--workflow-profile", str(profile), "-n", TRIAL, config=write_config(workdir, config))
    output = done.stdout + done.stderr
    assert f"Using workflow specific profile {profile}" in output
    [resources] = train_trial_resources(output)
    return resources


def expected_runtime(images_per_second: int) -> int:
    """Minutes, as the profile's comment says: the trial's images / that speed x1.5, + 10 minutes."""
    images = TINY_EXPERIMENT["train_size"] * TINY_EXPERIMENT["epochs"] + 60000  # + evaluation
    return int(10 + 1.5 * images / images_per_second / 60)


def test_a_training_job_on_slurm_asks_for_the_gpu_partition_and_a_runtime_from_the_profiles_speed(tmp_path):
    """The profile's words (slurm_partition: "gpu") reach the job, and its images_per_second sizes the
    runtime."""
    train = PROFILE["set-resources"]["train_trial"]
    resources = training_resources(tmp_path, REPO / "profiles/slurm")
    assert resources["slurm_partition"] == train["slurm_partition"] == "gpu"
    assert resources["gpu"] == "1"
    assert int(resources["runtime"]) == expected_runtime(train["images_per_second"])


def test_a_gres_in_place_of_gpu_reaches_the_job_as_written(tmp_path):
    """A cluster that wants a gres: the profile's alternative (gres: "gpu:1"), a string Snakemake
    keeps as an expression until a job evaluates it."""
    profile = copy.deepcopy(PROFILE)
    train = profile["set-resources"]["train_trial"]
    del train["gpu"]
    train.update(gres="gpu:1", images_per_second=1)
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile/config.yaml").write_text(yaml.safe_dump(profile))
    resources = training_resources(tmp_path, tmp_path / "profile")
    assert resources["gres"] == "gpu:1"
    assert int(resources["runtime"]) == expected_runtime(1)
