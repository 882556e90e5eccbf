"""Moving a finished study, rewording it or pointing it at the same archive elsewhere retrains
nothing; changing what a trial computes reruns exactly the affected trials."""

import shutil
from pathlib import Path

import pytest
import yaml
from fixtures import write_tiny_archive
from workflow_runner import REPO, TINY_EXPERIMENT, planned_jobs, snakemake, tiny_config, write_config

from cifar_noise.download import OFFICIAL_MD5

pytestmark = pytest.mark.slow

NOTHING_TO_DO = "Nothing to be done"
WORKFLOW_FILES = ("Snakefile", "workflow", "scripts", "cifar_noise", "config.yaml", "envs", "profiles")


def planned_outputs(dry_run: str, rule: str) -> set[str]:
    """The outputs of the ``rule`` jobs a dry run would run (their first output line)."""
    return {output for planned, output in planned_jobs(dry_run) if planned == rule}


def dry_run(workdir, config, *args, snakefile=None) -> str:
    extra = ("--snakefile", str(snakefile)) if snakefile else ()
    result = snakemake(workdir, "--dry-run", *extra, *args, config=config)
    return result.stdout + result.stderr


def test_a_moved_checkout_has_nothing_to_do(tmp_path, tiny_study):
    """The workflow and the finished results (with .snakemake/) both copied elsewhere."""
    workdir, config = tiny_study
    moved = tmp_path / "elsewhere"
    (moved / "repo").mkdir(parents=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, moved / "repo" / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, moved / "repo" / name)
    shutil.copytree(workdir, moved / "work", symlinks=True)  # copy2: modification times are kept
    output = dry_run(moved / "work", moved / "work" / config.name, snakefile=moved / "repo" / "Snakefile")
    assert NOTHING_TO_DO in output, output[-3000:]


def test_descriptions_and_archive_paths_retrain_nothing_but_a_new_sigma_does(tmp_path, tiny_archive):
    archive, md5 = tiny_archive
    first = tmp_path / "first.tar.gz"
    shutil.copy2(archive, first)
    study = tiny_config(
        sweeps={},
        experiments={
            "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
            "gaussian": {
                **TINY_EXPERIMENT,
                "noise": "gaussian",
                "enlarge": 2,
                "trials": 1,
                "baseline": "baseline",
                "description": "Gaussian noise",
            },
        },
    )
    study["data"]["archive"] = str(first)
    config = write_config(tmp_path, study)
    snakemake(tmp_path, config=config)
    assert NOTHING_TO_DO in dry_run(tmp_path, config)

    # the same archive at another path, with data.archive pointing there: content decides
    second = tmp_path / "moved" / "cifar.tar.gz"
    second.parent.mkdir()
    shutil.move(first, second)
    study["data"]["archive"] = str(second)
    write_config(tmp_path, study)
    assert NOTHING_TO_DO in dry_run(tmp_path, config)

    # a reworded description redoes tables and plots, never a split, a shard or a trial
    study["experiments"]["gaussian"]["description"] = "Additive Gaussian noise, reworded"
    write_config(tmp_path, study)
    output = dry_run(tmp_path, config)
    assert planned_outputs(output, "aggregate_trials"), output[-3000:]
    for rule in ("fetch_archive", "extract_dataset", "split_dataset", "make_shard", "train_trial"):
        assert not planned_outputs(output, rule), (rule, output[-3000:])

    # a new sigma reruns exactly the Gaussian trial and its shards
    study["experiments"]["gaussian"]["noise_params"] = {"sigma": 5}
    write_config(tmp_path, study)
    output = dry_run(tmp_path, config)
    assert planned_outputs(output, "train_trial") == {"results/experiments/gaussian/trial-01/metrics.json"}
    shards = {f"results/experiments/gaussian/trial-01/shards/shard-{s:04d}.npy" for s in (0, 1)}  # 200 / 150
    assert planned_outputs(output, "make_shard") == shards
    assert not planned_outputs(output, "split_dataset")
    assert yaml.safe_load(config.read_text())["experiments"]["gaussian"]["noise_params"] == {"sigma": 5}


def two_trials(source, md5, **data) -> dict:
    """A baseline and a Gaussian trial on the tiny archive, downloaded (file://) or, with ``data``, given."""
    study = tiny_config(
        url=source.as_uri(),
        md5=md5,
        sweeps={},
        experiments={
            "baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1},
            "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "trials": 1, "baseline": "baseline"},
        },
    )
    study["data"].update(data)
    return study


@pytest.fixture(scope="module")
def given(tiny_archive, tmp_path_factory):
    """The two trials run with the archive given as a file (make demo ARCHIVE=...); each test
    works on a copy."""
    archive, md5 = tiny_archive
    folder = tmp_path_factory.mktemp("given")
    snakemake(folder, config=write_config(folder, two_trials(archive, md5, archive=str(archive)), "given.yaml"))
    return folder


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy", symlinks=True))  # copy2: modification times are kept


def test_an_archive_given_as_a_file_then_left_out_reruns_nothing(tmp_path, tiny_archive, given):
    """make demo ARCHIVE=..., then the README's follow-up commands without it, as the missing-archive
    error suggests: the archive in results/ has the same bytes, so nothing is planned."""
    archive, md5 = tiny_archive
    workdir = copy_of(given, tmp_path)
    for data_md5 in (md5, OFFICIAL_MD5):  # the same bytes; the default md5: what the results were made from
        output = dry_run(workdir, write_config(workdir, two_trials(archive, data_md5)))
        assert NOTHING_TO_DO in output, output[-3000:]
    assert f"is kept as the archive of these results, though data.md5 is {OFFICIAL_MD5}" in output


def test_an_archive_downloaded_then_given_as_a_file_reruns_nothing(tmp_path, tiny_study):
    workdir, _ = tiny_study
    copy = copy_of(workdir, tmp_path)
    study = yaml.safe_load((copy / "config.yaml").read_text())
    downloaded = Path(study["data"]["url"].removeprefix("file://"))
    study["data"]["archive"] = str(shutil.copy2(downloaded, tmp_path / "elsewhere.tar.gz"))
    output = dry_run(copy, write_config(copy, study))
    assert NOTHING_TO_DO in output and "Note:" not in output, output[-3000:]


def test_a_changed_setting_is_named_before_any_job_runs(tmp_path, tiny_archive, given):
    archive, md5 = tiny_archive
    study = two_trials(archive, md5)  # the archive left out: the same bytes (the test above)
    workdir = copy_of(given, tmp_path)
    study["experiments"]["gaussian"]["epochs"] = 2
    study["shards"]["size"] = 100
    output = dry_run(workdir, write_config(workdir, study))
    assert "Note: 2 finished trials would be redone because the config changed: shards.size; epochs (gaussian)" in (
        output
    ), output[-3000:]
    other = workdir / "other.tar.gz"
    write_tiny_archive(other, seed=1)
    output = dry_run(workdir, write_config(workdir, two_trials(archive, md5, archive=str(other))))
    assert f"Note: all 3 finished trials would be redone: data.archive {other} (md5 " in output, output[-3000:]
