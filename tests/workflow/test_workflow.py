"""The whole workflow on a tiny CIFAR-format archive: download to plots, partial reruns, bad configs."""

import hashlib
import json
import shutil
import stat
import subprocess

import numpy as np
import pandas as pd
import pytest
from fixtures import decode_label
from workflow_runner import (
    KEEP_SHARDS,
    TINY_EXPERIMENT,
    files_with_mtimes,
    planned_jobs,
    read_metrics,
    snakemake,
    snakemake_command,
    snakemake_env,
    tiny_config,
    trial_numbers,
    write_config,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_study):
    """A private copy of the tiny study (this module deletes and reruns parts of it)."""
    source, _ = tiny_study
    workdir = tmp_path_factory.mktemp("study_copy")
    shutil.copytree(source, workdir, dirs_exist_ok=True, symlinks=True)
    config = workdir / "config.yaml"
    return workdir, config


def test_everything_is_produced(study):
    workdir, _ = study
    results = workdir / "results"
    trials = pd.read_csv(results / "tables" / "trials.csv")
    assert len(trials) == 18
    assert sorted(trials["experiment"].unique()) == [
        "baseline",
        "cutout",
        "gaussian",
        "no_noise-200-2ep-b50-official",
        "regional",
        "salt_pepper",
        "sigma-sigma5",
        "unclipped",
        "unpaired",
    ]
    for column in (
        "train_size",
        "enlarge",
        "noise",
        "noise_sigma",
        "epochs",
        "batch_size",
        "train_seed",
        "test_accuracy",
        "train_loss",
        "test_accuracy_cat",
        "images_per_second",
        "backend",
    ):
        assert column in trials.columns
    for name in ("baseline", "regional", "salt_pepper", "gaussian", "cutout"):
        table = (results / "tables" / f"{name}.md").read_text()
        assert "Trial |test loss |test accuracy |training loss |training accuracy\n-|-|-|-|-\n" in table
        assert table.count("\n1|") == 1 and table.count("\n2|") == 1 and "\nMean|" in table
    for png in [
        "test_accuracy.png",
        "training_curves.png",
        "comparison_curves.png",
        "per_class_accuracy.png",
        "confusion_matrices.png",
        "runtimes.png",
        "sweeps/sigma.png",
        "noise_examples/cutout-size16.png",
        "noise_examples/gaussian-sigma20.png",
        "noise_examples/gaussian-sigma5.png",
        "noise_examples/regional-amplitude25-patchsize5-patches3.png",
        "noise_examples/saltpepper-amplitude50-probability0.1.png",
    ]:
        assert (results / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").rglob("*.keras"))
    # the notebook's unclipped noise: int16 shards holding values beyond 0..255, trained on, compared
    shard = np.load(results / "experiments/unclipped/trial-01/shards/shard-0000.npy")
    clipped = np.load(results / "experiments/gaussian/trial-01/shards/shard-0000.npy")
    assert shard.dtype == np.int16 and (shard > 255).any() and np.array_equal(np.clip(shard, 0, 255), clipped)
    summary = (results / "summary.md").read_text()
    assert "## What clipping changes" in summary and "| gaussian | sigma=20 | 300 |" in summary
    comparisons = pd.read_csv(results / "tables/comparisons.csv")
    assert ((comparisons["experiment"] == "unclipped") & (comparisons["baseline"] == "gaussian")).any()
    # the sweep's points too: against the step-matched no-noise baseline, as the sweep has no sigma=0
    reference = (comparisons["baseline"] == "no_noise-200-2ep-b50-official") & (comparisons["metric"] == "clean")
    assert set(comparisons.loc[reference, "experiment"]) >= {"sigma-sigma5", "gaussian"}


def test_trial_records(study):
    workdir, _ = study
    metrics = read_metrics(workdir, "gaussian/trial-02")
    assert metrics["train_images"] == 400  # 200 x 2
    assert metrics["test_images"] == 100  # the official test images
    assert metrics["params"]["noise"] == "gaussian" and metrics["params"]["trial"] == 2
    assert set(metrics["per_class_accuracy"]) >= {"airplane", "truck"}
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["test_images"]
    assert metrics["backend"] == "tensorflow" and metrics["device"].startswith("CPU")
    assert len(metrics["inputs_sha256"]) == 4 + 2  # split files + two shards
    # the records of what its split and shards are vouch for the files it trained on
    split = json.loads((workdir / "results/splits/train200-official-trial02/split.json").read_text())
    assert split["params"]["seed"] == metrics["params"]["split_seed"]
    assert split["sha256"] == {name: metrics["inputs_sha256"][name] for name in split["sha256"]}
    shards = workdir / "results/experiments/gaussian/trial-02/shards"
    for index in (0, 1):
        shard = json.loads((shards / f"shard-{index:04d}.json").read_text())
        assert shard["params"]["shard"] == index
        assert shard["params"]["noise_seed"] == metrics["params"]["noise_seed"]
        assert shard["sha256"]["shard"] == metrics["inputs_sha256"][f"shard-{index:04d}.npy"]
    history = pd.read_csv(workdir / "results/experiments/gaussian/trial-02/history.csv")
    assert list(history["epoch"]) == [1]
    assert (workdir / "results/experiments/gaussian/trial-02/model.keras").stat().st_size > 0


def test_every_job_has_a_log(study):
    workdir, _ = study
    logs = workdir / "results" / "logs"
    for name in (
        "fetch_archive.log",
        "extract_dataset.log",
        "aggregate_trials.log",
        "plot_results.log",
        "train_trial/regional/trial-01.log",
        "make_shard/regional/trial-01/shard-0000.log",
    ):
        assert (logs / name).exists(), name
    assert "test accuracy" in (logs / "train_trial/regional/trial-01.log").read_text()


def test_splits_keep_images_and_labels_together(study):
    workdir, _ = study
    splits = sorted((workdir / "results" / "splits").iterdir())
    assert len(splits) == 4  # trials 1 and 2, paired and unpaired
    for split in splits:
        images = np.load(split / "train_images.npy")
        matching = (decode_label(images) == np.load(split / "train_labels.npy")).mean()
        if split.name.endswith(("-unpaired-trial01", "-unpaired-trial02")):
            assert matching < 0.3  # the notebook's bug, on purpose
        else:
            assert matching == 1.0
            assert np.array_equal(decode_label(np.load(split / "test_images.npy")), np.load(split / "test_labels.npy"))


def test_deleting_one_trial_reruns_that_trial_and_the_aggregates_only(study):
    workdir, config = study
    before = files_with_mtimes(workdir / "results")
    numbers = trial_numbers(workdir)
    shutil.rmtree(workdir / "results/experiments/regional/trial-02")
    snakemake(workdir, config=config)
    after = files_with_mtimes(workdir / "results")
    assert set(before) <= set(after)
    changed = {path for path in after if before.get(path) != after[path]}
    outputs = {p for p in changed if not p.startswith(("logs/", "benchmarks/"))}
    assert outputs == {
        "experiments/regional/trial-02/shards/shard-0000.npy",
        "experiments/regional/trial-02/shards/shard-0001.npy",
        "experiments/regional/trial-02/shards/shard-0000.json",
        "experiments/regional/trial-02/shards/shard-0001.json",
        "experiments/regional/trial-02/metrics.json",
        "experiments/regional/trial-02/history.csv",
        "experiments/regional/trial-02/model.keras",
        "experiments/regional/trial-02/robustness.json",  # evaluated again on the corrupted sets
        "tables/trials.csv",
        "tables/robustness.csv",
        "tables/comparisons.csv",
        "summary.md",
        "report/workflow.rst",
        "study-archive.zip",
        *(
            f"tables/{name}.md"
            for name in (
                "baseline",
                "unpaired",
                "regional",
                "salt_pepper",
                "gaussian",
                "cutout",
                "unclipped",
                "sigma-sigma5",
                "no_noise-200-2ep-b50-official",
            )
        ),
        *(
            f"plots/{name}.png"
            for name in (
                "test_accuracy",
                "training_curves",
                "comparison_curves",
                "per_class_accuracy",
                "confusion_matrices",
                "runtimes",
                "sweeps/sigma",
                "corruption_accuracy",
                "robustness_tradeoff",
            )
        ),
    }
    # the rerun trial is deterministic: same numbers as the first time
    assert trial_numbers(workdir) == numbers
    assert len(pd.read_csv(workdir / "results/tables/trials.csv")) == 18


ONE_TRIAL = "results/experiments/salt_pepper/trial-02/metrics.json"


@pytest.fixture(scope="module")
def one_trial(tmp_path_factory, tiny_archive):
    """One trial of the tiny study alone, from a local archive, run as users run it: without the
    tests' --notemp, so that its shards (temp()) go once it has trained. The folder, a function
    that runs snakemake there the same way, and the run's output."""
    archive, md5 = tiny_archive
    workdir = tmp_path_factory.mktemp("one_trial")
    config = tiny_config()
    config["data"].update(archive=str(archive), archive_md5=md5)
    config = write_config(workdir, config)

    def run(*args):
        command = [word for word in snakemake_command(workdir, *args, config=config) if word != KEEP_SHARDS]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=snakemake_env())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout + result.stderr

    return workdir, run, run(ONE_TRIAL)


def test_one_trial_alone_from_a_local_archive(one_trial, tiny_archive):
    workdir, _, _ = one_trial
    made = set(files_with_mtimes(workdir / "results"))
    trained = {p.split("/")[1] + "/" + p.split("/")[2] for p in made if p.startswith("experiments/")}
    assert trained == {"salt_pepper/trial-02"}
    # nothing downloaded: the local archive was copied, checked against its md5
    assert hashlib.md5((workdir / "results/data/cifar-10-python.tar.gz").read_bytes()).hexdigest() == tiny_archive[1]
    assert "copied " in (workdir / "results/logs/fetch_archive.log").read_text()
    assert {p.split("/")[1] for p in made if p.startswith("splits/")} == {"train200-official-trial02"}
    assert not any(p.startswith("experiments/") and "salt_pepper/trial-02" not in p for p in made)
    assert not any(p.startswith(("tables/", "plots/")) for p in made)


def test_shards_go_once_their_trial_has_trained(one_trial):
    """A run without --notemp removes a trial's shards once it has trained, and a later run does
    not make them again for a trial that is done."""
    workdir, run, output = one_trial
    assert "make_shard" in output and (workdir / ONE_TRIAL).exists()
    shards = workdir / "results/experiments/salt_pepper/trial-02/shards"
    assert not shards.exists() or not any(shards.iterdir()), sorted(shards.iterdir())
    assert planned_jobs(run("--dry-run", ONE_TRIAL)) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {
                "experiments": {
                    "bad name": {
                        "train_size": 10,
                        "architecture": "seed_a",
                        "noise": "none",
                        "epochs": 1,
                        "batch_size": 5,
                        "trials": 1,
                    }
                }
            },
            "experiment name 'bad name' is not allowed",
        ),
        ({"shards": {"size": -3}}, r"shards.size: -3 is less than the minimum of 1"),
        ({"trainng": {}}, r"'trainng' was unexpected"),
        (
            {
                "experiments": {
                    "Gaussian": {**TINY_EXPERIMENT, "noise": "none"},
                    "gaussian": {**TINY_EXPERIMENT, "noise": "none", "epochs": 2},
                }
            },
            "experiments.gaussian: differs from 'Gaussian' only in case",
        ),
    ],
)
@pytest.mark.fault(kind="bad config", real=True)
def test_bad_config_stops_before_any_job(tmp_path, change, message):
    config = write_config(tmp_path, tiny_config() | change)
    result = snakemake(tmp_path, config=config, check=False)
    assert result.returncode != 0
    assert message.replace("\\", "") in (result.stdout + result.stderr).replace("\\", "")
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "target, message",
    [
        # a number beyond the config's trials: the rule's input function says so
        (
            "experiments/gaussian/trial-03/metrics.json",
            "Error: experiment 'gaussian' has 2 trials (trial-01 to trial-02): ",
        ),
        (
            "experiments/gaussian/trial-03/robustness.json",
            "Error: experiment 'gaussian' has 2 trials (trial-01 to trial-02): ",
        ),
        ("experiments/gaussian/trial-09/shards/shard-0000.npy", "Error: experiment 'gaussian' has 2 trials"),
        # a name the config does not have: no rule's pattern matches it (wildcard_constraints), and
        # Snakemake's own message says so
        ("plots/sweeps/sigmaa.png", "No rule to produce results/plots/sweeps/sigmaa.png"),
        ("plots/noise_examples/gaussian-sigma7.png", "No rule to produce results/plots/noise_examples/"),
        ("experiments/gausian/trial-01/metrics.json", "No rule to produce results/experiments/gausian/"),
        ("splits/train200-official-trial09/split.json", "No rule to produce results/splits/train200-official-"),
    ],
)
@pytest.mark.fault(kind="bad target", real=True)
def test_a_target_that_the_config_does_not_have_is_refused_before_any_job(tmp_path, target, message):
    config = write_config(tmp_path, tiny_config())
    result = snakemake(tmp_path, "--dry-run", f"results/{target}", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert "Traceback" not in output
    assert not (tmp_path / "results").exists()


def test_the_summary_needs_no_plot(tmp_path):
    """summary.md quotes the share of values that clipping changes: a rule of its own measures it,
    not the one that draws the noise examples."""
    result = snakemake(tmp_path, "--dry-run", "results/summary.md", config=write_config(tmp_path, tiny_config()))
    planned = {rule for rule, _ in planned_jobs(result.stdout + result.stderr)}
    assert {"clipping_share", "train_trial", "summarize"} <= planned
    assert not {rule for rule in planned if rule.startswith("plot_") or rule == "noise_examples"}, planned


@pytest.mark.fault(kind="bad archive", real=True)
def test_a_missing_local_archive_is_one_line(tmp_path):
    config = tiny_config()
    config["data"]["archive"] = str(tmp_path / "nowhere.tar.gz")
    result = snakemake(tmp_path, "--dry-run", config=write_config(tmp_path, config), check=False)
    output = result.stdout + result.stderr
    said = [line for line in output.splitlines() if "rror" in line or "xception" in line]
    assert result.returncode != 0 and said == [
        f"Error: data.archive {tmp_path / 'nowhere.tar.gz'} does not exist; fix the path or remove data.archive to "
        "download"
    ], output[-3000:]


@pytest.mark.fault(kind="bad download", real=True)
def test_wrong_md5_fails_cleanly(tmp_path, tiny_archive):
    archive, _ = tiny_archive
    config = write_config(tmp_path, tiny_config(url=archive.as_uri(), md5="0" * 32))
    result = snakemake(tmp_path, "results/data/cifar10/train_images.npy", config=config, check=False)
    assert result.returncode != 0
    assert "Error in rule fetch_archive: " in result.stderr and "expected 000000" in result.stderr
    assert not (tmp_path / "results/data/cifar-10-python.tar.gz").exists()
    assert not list((tmp_path / "results/data").glob(".*part"))


def test_every_result_has_the_mode_the_umask_gives(tiny_study):
    """The tiny study ran under umask 022: every file it wrote is 0644 and every folder 0755, as a
    normally created one, so colleagues on a shared file system can read the study."""
    workdir, _ = tiny_study
    results = workdir / "results"
    modes = {str(p.relative_to(results)): stat.S_IMODE(p.stat().st_mode) for p in results.rglob("*")}
    assert {"summary.md", "study-archive.zip", "plots/test_accuracy.png", "tables/trials.csv"} <= set(modes)
    wrong = {path: oct(mode) for path, mode in modes.items() if mode != (0o755 if (results / path).is_dir() else 0o644)}
    assert not wrong, f"{len(wrong)} of {len(modes)}: {sorted(wrong.items())[:10]}"


def test_finished_trials_leave_no_checkpoint_folders(tiny_study):
    workdir, _ = tiny_study
    assert not (workdir / "results/checkpoints").exists()
