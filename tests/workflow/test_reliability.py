"""Determinism, kills and concurrent runs: a rerun must give the same numbers and
nothing broken may be left behind."""

import json
import os
import re
import shutil
import signal
import time

import pytest
from fixtures import labelled_images
from workflow_runner import (
    REPO,
    TINY_EXPERIMENT,
    kill_when,
    read_metrics,
    resume,
    settled,
    sha256_of,
    snakemake,
    start_snakemake,
    tiny_config,
    trial_numbers,
    wait_for,
    write_config,
)

from cifar_noise import StudyError
from cifar_noise.fileio import save_npy
from cifar_noise.shards import TrainingImages, build_shard, write_shard

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------
# determinism


# Three trials of the tiny study, rerun from scratch in another folder (a whole second study
# would only cost CI time: every trial is produced the same way).
RERUN = [
    "results/experiments/regional/trial-01/metrics.json",
    "results/experiments/gaussian/trial-02/metrics.json",
    "results/experiments/unpaired/trial-01/metrics.json",
]


def same_files(first: dict, second: dict) -> bool:
    assert second, "nothing to compare"
    return {path: first.get(path) for path in second} == second


@pytest.fixture(scope="module")
def raced(tmp_path_factory, tiny_archive, tiny_study):
    """The three trials rerun in another folder by two snakemakes started a second apart, then
    once more for whatever the loser of the race left undone: the folder, and the two outputs and
    exit codes (the race is test_two_snakemakes_on_one_folder_do_not_corrupt_it's)."""
    archive, md5 = tiny_archive
    workdir = tmp_path_factory.mktemp("second")
    config = write_config(workdir, tiny_config(url=archive.as_uri(), md5=md5))
    first = start_snakemake(workdir, *RERUN, config=config)
    time.sleep(1.0)
    second = start_snakemake(workdir, *RERUN, config=config)
    outputs = [first.communicate(timeout=900)[0], second.communicate(timeout=900)[0]]
    codes = [first.returncode, second.returncode]
    snakemake(workdir, *RERUN, config=config)
    return workdir, outputs, codes


@pytest.fixture(scope="module")
def second_run(raced):
    return raced[0]


def test_two_runs_write_byte_identical_splits_and_shards(tiny_study, second_run):
    second = sha256_of(second_run / "results")
    assert len([p for p in second if "/shards/" in p]) == 4
    assert len([p for p in second if p.startswith("splits/")]) == 3 * 4
    assert same_files(sha256_of(tiny_study[0] / "results"), second)


def test_two_runs_give_identical_trial_numbers_on_the_cpu(tiny_study, second_run):
    second = trial_numbers(second_run)
    assert len(second) == 3
    assert same_files(trial_numbers(tiny_study[0]), second)


def test_a_shard_regenerated_alone_is_byte_identical(second_run):
    shard = "results/experiments/gaussian/trial-02/shards/shard-0001.npy"
    before = sha256_of(second_run / "results")
    (second_run / shard).unlink()
    snakemake(second_run, shard, config=second_run / "config.yaml")
    assert sha256_of(second_run / "results") == before


def test_each_trial_records_what_reproduces_it(tiny_study):
    metrics = read_metrics(tiny_study[0], "regional/trial-01")
    params = metrics["params"]
    for key in ("split_seed", "noise_seed", "train_seed", "seed", "noise_params", "train_size", "epochs"):
        assert key in params
    assert {"python", "numpy", "keras", "tensorflow", "snakemake"} <= set(metrics["versions"])
    assert metrics["backend"] == "tensorflow" and metrics["device"]
    assert set(metrics["inputs_sha256"]) == {
        "train_images",
        "train_labels",
        "test_images",
        "test_labels",
        "shard-0000.npy",
        "shard-0001.npy",
    }
    commit = metrics["git_commit"]  # "<sha>" or "<sha>-dirty"; None only outside a git checkout
    if (REPO / ".git").exists():
        assert commit is not None and len(commit.split("-")[0]) == 40
    else:
        assert commit is None


# ---------------------------------------------------------------------------------------------
# kills


def long_trial_config(workdir, archive, epochs=4):
    # Epochs of a few seconds (8 x 200 images at batch 8): a kill timed to land inside epoch 2
    # must not find the trial already past it on a fast machine.
    long = {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 8, "epochs": epochs, "batch_size": 8, "trials": 1}
    return write_config(
        workdir, tiny_config(url=archive.as_uri(), matched_baselines=False, sweeps={}, experiments={"long": long})
    )


LONG = "results/experiments/long/trial-01/metrics.json"


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_archive):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    config = long_trial_config(workdir, tiny_archive[0])
    snakemake(workdir, LONG, config=config)
    return workdir


def resume_and_compare(workdir, config, uninterrupted, from_epoch: int, log_line: str) -> None:
    """Resume the killed long trial: it starts after epoch ``from_epoch``, says why in its log, and
    ends with the numbers of the uninterrupted run."""
    resume(workdir, config, LONG)
    assert read_metrics(workdir, "long/trial-01")["resumed_from_epoch"] == from_epoch
    assert log_line in (workdir / "results/logs/train_trial/long/trial-01.log").read_text()
    assert trial_numbers(workdir) == trial_numbers(uninterrupted)


@pytest.mark.fault(kind="kill", real=True)
def test_training_killed_mid_epoch_resumes_to_the_same_numbers(tmp_path, tiny_archive, uninterrupted):
    config = long_trial_config(tmp_path, tiny_archive[0])
    checkpoints = tmp_path / "results/checkpoints/long/trial-01"
    process = start_snakemake(tmp_path, LONG, config=config)
    # the checkpoint of epoch 1 is written, epoch 2 is under way
    kill_when(process, settled(checkpoints / "epoch-0001.keras", checkpoints / "state.json"))
    assert not (tmp_path / "results/experiments/long/trial-01/metrics.json").exists()
    state = json.loads((checkpoints / "state.json").read_text())
    assert state["epoch"] == 1, "the kill came too late to land inside epoch 2"

    resume_and_compare(tmp_path, config, uninterrupted, 1, "resuming from the checkpoint after epoch 1")
    assert not checkpoints.exists()  # a finished trial leaves no checkpoints behind


@pytest.mark.fault(kind="kill", real=True)
def test_checkpoints_of_other_parameters_are_not_resumed(tmp_path, tiny_archive, uninterrupted):
    """A checkpoint from a run with other parameters (here: more epochs) must not be resumed."""
    config = long_trial_config(tmp_path, tiny_archive[0], epochs=6)
    checkpoints = tmp_path / "results/checkpoints/long/trial-01"
    process = start_snakemake(tmp_path, LONG, config=config)
    kill_when(process, lambda: (checkpoints / "state.json").exists())
    config = long_trial_config(tmp_path, tiny_archive[0], epochs=4)
    resume_and_compare(
        tmp_path, config, uninterrupted, 0, "written for other parameters or inputs; starting from epoch 1"
    )


def big_shard_config(workdir, archive):
    wide = {**TINY_EXPERIMENT, "train_size": 300, "noise": "regional", "enlarge": 11, "batch_size": 100, "trials": 1}
    return write_config(
        workdir,
        tiny_config(
            url=archive.as_uri(),
            matched_baselines=False,
            sweeps={},
            shards={"size": 1000},
            experiments={"wide": wide},
        ),
    )


WIDE = "results/experiments/wide/trial-01/metrics.json"


@pytest.mark.fault(kind="kill", real=True)
def test_killed_while_writing_shards_then_resumed(tmp_path_factory, tiny_archive):
    reference = tmp_path_factory.mktemp("shards_reference")
    uninterrupted = start_snakemake(reference, WIDE, config=big_shard_config(reference, tiny_archive[0]))  # beside

    workdir = tmp_path_factory.mktemp("shards_killed")
    config = big_shard_config(workdir, tiny_archive[0])
    shards = workdir / "results/experiments/wide/trial-01/shards"
    process = start_snakemake(workdir, WIDE, config=config)
    kill_when(process, lambda: shards.exists() and any(shards.iterdir()))
    assert not (workdir / WIDE).exists()

    resume(workdir, config, WIDE)
    assert not list(shards.glob(".*"))  # no temporary leftovers
    output = uninterrupted.communicate(timeout=900)[0]
    assert uninterrupted.returncode == 0, output[-3000:]
    assert sha256_of(workdir / "results") == sha256_of(reference / "results")
    assert trial_numbers(workdir) == trial_numbers(reference)


@pytest.mark.fault(kind="Ctrl-C", real=True)
def test_ctrl_c_during_training_is_one_line_that_says_what_a_rerun_does(tmp_path, tiny_archive):
    # Only a finished trial removes its checkpoint (train.py clears it after writing the outputs):
    # with 6 epochs, a loaded machine once finished the last 5 between the poll and the signal. 100
    # epochs of 50 steps cannot pass in that moment.
    config = long_trial_config(tmp_path, tiny_archive[0], epochs=100)
    state = tmp_path / "results/checkpoints/long/trial-01/state.json"
    process = start_snakemake(tmp_path, LONG, config=config)
    wait_for(process, state.exists)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: to every process of the group
    output = process.communicate(timeout=300)[0]
    assert state.exists(), f"the trial finished before the Ctrl-C:\n{output[-3000:]}"
    epoch = json.loads(state.read_text())["epoch"]
    assert 1 <= epoch < 100, output[-3000:]
    message = f"interrupted (Ctrl-C) after epoch {epoch} of 100; a rerun resumes from it"
    assert [line for line in output.splitlines() if "Ctrl-C" in line] == [f"Error in rule train_trial: {message}"] + [
        f"ERROR: {message}"  # the job's log, which Snakemake prints after its own lines on the job
    ], output[-3000:]
    log = (tmp_path / "results/logs/train_trial/long/trial-01.log").read_text()
    assert f"ERROR: {message}" in log
    for text in (output, log):
        assert "Traceback" not in text and "KeyboardInterrupt" not in text


# ---------------------------------------------------------------------------------------------
# concurrency


@pytest.mark.fault(kind="concurrent run", real=True)
def test_two_snakemakes_on_one_folder_do_not_corrupt_it(raced, tiny_study):
    workdir, outputs, codes = raced
    assert 0 in codes, outputs
    for code, output in zip(codes, outputs, strict=True):
        if code != 0:  # the loser is refused by Snakemake's lock, it does not write
            assert "LockException" in output or "cannot be locked" in output, output[-2000:]
    assert same_files(sha256_of(tiny_study[0] / "results"), sha256_of(workdir / "results"))
    assert same_files(trial_numbers(tiny_study[0]), trial_numbers(workdir))
    assert len(trial_numbers(workdir)) == 3


# ---------------------------------------------------------------------------------------------
# broken files (unit level); a full disk: test_full_disk.py


@pytest.mark.fault(kind="truncated file", real=True)
def test_a_truncated_shard_is_refused_with_advice(tmp_path):
    images, labels = labelled_images(40, seed=2)
    save_npy(tmp_path / "train.npy", images)
    shard = tmp_path / "shard-0000.npy"
    write_shard(shard, build_shard(images, 0, 2, 40, "gaussian", {"sigma": 20.0}, noise_seed=1))
    shard.write_bytes(shard.read_bytes()[:-3072])
    with pytest.raises(StudyError, match="truncated.*delete .*shard-0000.npy and run snakemake again"):
        TrainingImages(tmp_path / "train.npy", labels, [shard], shard_size=40)


# ---------------------------------------------------------------------------------------------
# an input replaced by another trial's or another shard's (the records of cifar_noise.identity)


def _replace_split_file(results):
    """train_images.npy of trial 1's split is trial 2's (same size, same dtype)."""
    shutil.copy(
        results / "splits/train200-official-trial02/train_images.npy", results / "splits/train200-official-trial01"
    )


def _replace_split_folder(results):
    """Trial 1's whole split, its record too, is trial 2's."""
    shutil.rmtree(results / "splits/train200-official-trial01")
    shutil.copytree(results / "splits/train200-official-trial02", results / "splits/train200-official-trial01")


def _replace_shard(results):
    """shard-0000.npy of trial 1 is trial 2's (same size: 150 perturbed images)."""
    shutil.copy(
        results / "experiments/gaussian/trial-02/shards/shard-0000.npy",
        results / "experiments/gaussian/trial-01/shards",
    )


def _replace_shard_and_record(results):
    for name in ("shard-0000.npy", "shard-0000.json"):
        shutil.copy(
            results / f"experiments/gaussian/trial-02/shards/{name}", results / "experiments/gaussian/trial-01/shards"
        )


TAMPERED = pytest.mark.fault(kind="tampered input", real=True)


SPLIT_1 = "split train200-official-trial01"
SHARD_1 = r"shard \S*trial-01/shards/shard-0000\.npy"


@pytest.mark.parametrize(
    "tamper, message",
    [
        pytest.param(
            _replace_split_file, SPLIT_1 + r" does not match its record \S*: the sha256 of train_images", marks=TAMPERED
        ),
        pytest.param(_replace_split_folder, SPLIT_1 + r" was made for other parameters \(seed differ", marks=TAMPERED),
        pytest.param(_replace_shard, SHARD_1 + r" does not match its record \S*: the sha256 of shard ", marks=TAMPERED),
        pytest.param(
            _replace_shard_and_record, SHARD_1 + r" was made for other parameters \(noise_seed differ", marks=TAMPERED
        ),
    ],
)
def test_an_input_of_another_trial_or_shard_is_refused_in_one_line(tmp_path, tiny_study, tamper, message):
    workdir = tmp_path / "study"
    # a copy of the finished tiny study without its models and plots (nothing here reads them)
    shutil.copytree(tiny_study[0], workdir, ignore=shutil.ignore_patterns("model.keras", "*.png", "*.zip"))
    tamper(workdir / "results")
    target = "results/experiments/gaussian/trial-01/metrics.json"
    (workdir / target).unlink()  # the trial reruns (as after a kill, a --forcerun or a newer input)
    result = snakemake(workdir, target, config=workdir / tiny_study[1].name, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert re.search(r"Error in rule train_trial: " + message, output), output[-3000:]
    assert "Traceback" not in output
    assert not (workdir / target).exists()
