"""The profiles: retries and GPU slots."""

import yaml
from workflow_runner import REPO


def test_the_profiles_retry_a_failed_job_once():
    """A runtime setting, the profiles' (a training job on a local GPU excepted: training_retries)."""
    for name in ("default", "gpu", "slurm"):
        assert yaml.safe_load((REPO / f"profiles/{name}/config.yaml").read_text())["retries"] == 1, name


def test_profiles_agree_on_gpu_slots():
    profile = yaml.safe_load((REPO / "profiles/gpu/config.yaml").read_text())
    train = profile["set-resources"]["train_trial"]
    assert train["gpu"] == 1
    assert train["trials_per_gpu"] >= 1
    assert profile["resources"]["gpu"] >= train["trials_per_gpu"]
    assert profile["resources"]["gpu"] % train["trials_per_gpu"] == 0
