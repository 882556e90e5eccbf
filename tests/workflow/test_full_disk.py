"""A really full disk: the tiny trial with results/ on a small tmpfs, filled so that each kind of
writer runs out of space in turn (a shard, a checkpoint, the model, metrics.json).

Each case must fail with one line that says "no space left", leave no truncated file under any
name and no temporary file, and, once space is freed, finish on a plain rerun with the numbers
of a run that never lacked space. Mounting needs root: the tests skip without it, unless
CIFAR_NOISE_REAL_FAULTS is set (CI), where they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from workflow_runner import (
    TINY_EXPERIMENT,
    history_numbers,
    sha256_of,
    snakemake,
    tiny_config,
    trial_numbers,
    write_config,
)

from cifar_noise.fileio import npy_layout

pytestmark = pytest.mark.slow

TRIAL = "results/experiments/full/trial-01"
TARGET = f"{TRIAL}/metrics.json"
TRAIN_LOG = "results/logs/train_trial/full/trial-01.log"
CHECKPOINTS = "results/checkpoints/full/trial-01"
# room for all the case's files: split, shards, a checkpoint and the model (about 26 MB each)
DISK_SIZE = "96m"


def full_disk_config(workdir: Path, archive: Path) -> Path:
    # 200 originals + 200 noisy copies in two shards; one epoch
    experiment = {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "trials": 1}
    config = tiny_config(
        matched_baselines=False,
        sweeps={},
        data={"archive": str(archive)},
        experiments={"full": experiment},
    )
    return write_config(workdir, config)


@pytest.fixture(scope="module")
def mountable(tmp_path_factory) -> None:
    """Skip (or fail, where CIFAR_NOISE_REAL_FAULTS is set) before anything runs if no tmpfs can be
    mounted here."""
    with small_disk(tmp_path_factory.mktemp("mount_check") / "disk", "1m"):
        pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_archive, mountable) -> Path:
    workdir = tmp_path_factory.mktemp("disk_reference")
    snakemake(workdir, TARGET, config=full_disk_config(workdir, tiny_archive[0]))
    return workdir


@contextlib.contextmanager
def small_disk(folder: Path, size: str):
    folder.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        why = getattr(error, "stderr", None) or error
        if os.environ.get("CIFAR_NOISE_REAL_FAULTS"):
            pytest.fail(f"cannot mount a small tmpfs (CIFAR_NOISE_REAL_FAULTS is set; run as root): {why}")
        pytest.skip(f"cannot mount a small tmpfs (needs root): {why}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], check=True)  # a straggler still holds a file


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def leave_free(results: Path, free: int) -> Path:
    """Fill ``results`` with one file until exactly ``free`` bytes are left."""
    filler = results / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, free_bytes(results) - free)
    finally:
        os.close(fd)
    assert free_bytes(results) == free
    return filler


def pages(path: Path | int) -> int:
    """Bytes a file of that size takes on the tmpfs (whole pages)."""
    size = path if isinstance(path, int) else path.stat().st_size
    return -(-size // PAGE) * PAGE


PAGE = os.sysconf("SC_PAGE_SIZE")


def half(size: int) -> int:
    return size // PAGE // 2 * PAGE


def bytes_written_before_the_last_line(log: Path) -> int:
    text = log.read_text()
    return len(text[: text.rstrip("\n").rfind("\n") + 1].encode())


# What each case removes from a copy of the reference's results, where its filler leaves the
# writer half the room it needs, and what the error line must name.
#   shard: the shards and the trial; checkpoint, model, metrics: the trial's outputs.
CASES = {
    "shard": r"shards/shard-\d{4}\.npy",
    "checkpoint": rf"{CHECKPOINTS}/epoch-0001\.keras",
    "model": rf"{TRIAL}/model\.keras",
    "metrics": rf"{TRIAL}/metrics\.json",
}


def room_for(case: str, reference: Path) -> int:
    """Bytes to leave free so that ``case``'s writer is the one that runs out of space, from the
    reference run's file sizes (a checkpoint is the same model.save as the model, so its size)."""
    ref = reference / TRIAL
    model = pages(ref / "model.keras")
    log = pages(bytes_written_before_the_last_line(reference / TRAIN_LOG))
    state = PAGE  # the checkpoint's state.json
    if case == "shard":
        return half(pages(max(p.stat().st_size for p in (ref / "shards").iterdir())))
    if case == "checkpoint":
        return log + half(model)
    if case == "model":
        return log + state + model + half(model)
    # metrics.json: it gets the pages it needs but one
    return log + state + 2 * model + pages(ref / "history.csv") + pages(ref / "metrics.json") - PAGE


def copy_without(reference: Path, workdir: Path, case: str) -> None:
    """The reference run's folder with what ``case`` must redo removed (its config, snakemake's
    records and results/, mtimes kept)."""
    for item in reference.iterdir():
        if item.name == "results":
            shutil.copytree(item, workdir / "results", dirs_exist_ok=True)
        elif item.is_dir():
            shutil.copytree(item, workdir / item.name)
        else:
            shutil.copy2(item, workdir / item.name)
    redo = [TRIAL + "/" + name for name in ("metrics.json", "history.csv", "model.keras")]
    redo += [TRAIN_LOG, "results/benchmarks/train_trial"]
    if case == "shard":
        redo += [TRIAL + "/shards", "results/logs/make_shard", "results/benchmarks/make_shard"]
    for path in redo:
        path = workdir / path
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def assert_nothing_truncated(results: Path, filler: Path) -> None:
    """Every file is complete (by its format) and none is a writer's temporary file."""
    for path in results.rglob("*"):
        if not path.is_file() or path == filler:
            continue
        assert not path.name.startswith("."), f"temporary file left: {path}"
        if path.suffix == ".npy":
            npy_layout(path)  # raises on a short file
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None, path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            assert path.read_text().endswith("\n"), path


@pytest.mark.parametrize(
    "case", [pytest.param(case, marks=pytest.mark.fault(kind="full disk", real=True)) for case in CASES]
)
def test_a_full_disk_fails_in_one_line_leaves_nothing_half_written_and_a_rerun_finishes(case, tmp_path, reference):
    results = tmp_path / "results"
    with small_disk(results, DISK_SIZE):
        copy_without(reference, tmp_path, case)
        config = tmp_path / "config.yaml"
        filler = leave_free(results, room_for(case, reference))

        # --keep-incomplete: snakemake must not delete what a failed job left, so that a truncated
        # file would be seen here; --no-hooks: the disk fills after the check before the first job
        # (another writer), which would otherwise stop the shard case before it starts
        # --retries 0: a retry on the full disk would only fail again
        options = ("--keep-incomplete", "--no-hooks", "--retries", "0")
        failed = snakemake(tmp_path, TARGET, *options, config=config, check=False)
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0, output[-3000:]
        errors = re.findall(r"^Error in rule \w+: no space left on the device while writing (\S+) .*$", output, re.M)
        assert errors, output[-5000:]
        assert any(re.search(CASES[case], path) for path in errors), (case, errors)
        assert "Traceback" not in output, output[-5000:]
        assert_nothing_truncated(results, filler)
        if case == "shard":
            assert len(list((results / "experiments/full/trial-01/shards").glob("*.npy"))) < 2
        else:
            assert not (tmp_path / TARGET).exists()
            if case in ("checkpoint", "model"):
                assert not (tmp_path / TRIAL / "model.keras").exists()
            if case == "checkpoint":
                assert not list((tmp_path / CHECKPOINTS).glob("*"))

        filler.unlink()
        snakemake(tmp_path, TARGET, config=config)  # a plain rerun
        assert trial_numbers(tmp_path) == trial_numbers(reference)
        assert history_numbers(tmp_path) == history_numbers(reference)
        assert sha256_of(results) == sha256_of(reference / "results")
        assert not (tmp_path / CHECKPOINTS).exists()
        if case in ("model", "metrics"):  # training was not redone: it resumed after its last epoch
            metrics = json.loads((tmp_path / TARGET).read_text())
            assert metrics["resumed_from_epoch"] == 1


@pytest.mark.fault(kind="full disk", real=True)
def test_a_run_that_would_not_fit_stops_before_its_first_job(tmp_path, tiny_archive, mountable):
    """300 images x100 in shards (91 MB) for a 64 MB disk: one line before any job, nothing written."""
    wide = {**TINY_EXPERIMENT, "train_size": 300, "noise": "gaussian", "enlarge": 100, "trials": 1}
    config = tiny_config(
        matched_baselines=False,
        sweeps={},
        data={"archive": str(tiny_archive[0])},
        shards={"size": 10000},
        experiments={"wide": wide},
    )
    config = write_config(tmp_path, config)
    results = tmp_path / "results"
    with small_disk(results, "64m"):
        snakemake(tmp_path, "results/data/cifar10/train_images.npy", config=config)  # the tiny dataset fits
        before = sorted(results.rglob("*"))
        stopped = snakemake(tmp_path, config=config, check=False)
        output = stopped.stdout + stopped.stderr
        assert stopped.returncode != 0, output[-3000:]
        line = (
            r"^this run would write (.*) MB \(shards (.*) MB, splits (.*) MB\) but only (.*) MB are free "
            rf"on the disk of {results}: lower trials, enlarge or train_size"
        )
        said = re.findall(line, output, re.M)
        assert len(said) == 1, output[-3000:]
        need, shards, splits, free = map(float, said[0])
        assert shards == round((128 + 300 * 99 * 3072) / 1e6, 1) and splits == round((4 * 128 + 400 * 3073) / 1e6, 1)
        assert abs(need - (shards + splits)) <= 0.1 and free < need
        assert "Traceback" not in output
        assert sorted(results.rglob("*")) == before
