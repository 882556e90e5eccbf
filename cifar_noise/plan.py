"""What a study costs before it runs: trials, training and test images, disk, and the time it takes
on this machine, from the speed last measured here or from a short measurement.

    snakemake plan --configfile config.yaml        (make plan CONFIG=...)

The Snakefile gives the places of the study's large files (its rules' patterns, :func:`footprint`'s
``layout``) and uses :func:`check_disk` to stop, before its first job, a run whose files would not
fit on the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import StudyError
from .design import CIFAR10_SIZES, test_count
from .fileio import npy_layout, write_json
from .shards import shard_rows
from .study import Study

IMAGE_BYTES = 32 * 32 * 3
NPY_HEADER = 128  # np.save's header of these arrays
ARCHIVE_BYTES = 170_498_071  # cifar-10-python.tar.gz


def _npy(images: int, image_bytes: int = IMAGE_BYTES) -> int:
    return NPY_HEADER + images * image_bytes


def dataset_sizes(layout: dict) -> tuple[int, int]:
    """The dataset's training and test images: from the extracted arrays where they exist (any
    CIFAR-format archive), else CIFAR-10's."""
    try:
        return tuple(npy_layout(layout["dataset"][f"{part}_labels"])[0][0] for part in ("train", "test"))
    except (OSError, ValueError):
        return CIFAR10_SIZES


def footprint(study: Study, layout: dict, sizes: tuple[int, int] | None = None) -> dict[str, tuple[str, int]]:
    """The large files the study writes, by path: what they are and their size in bytes (models,
    logs and tables, a few MB per trial, aside). ``layout``: where they go, as the rules' patterns
    (archive and dataset: paths; splits: a pattern of {split} per array; shard: of {experiment},
    {trial} and {shard}; corrupted: of {split} and {corruption}); ``sizes``: the dataset's, where
    the caller has read them already."""
    sizes = sizes or dataset_sizes(layout)
    files = {layout["archive"]: ("dataset", ARCHIVE_BYTES)}
    for name, path in layout["dataset"].items():
        count = sizes[0] if name.startswith("train") else sizes[1]
        files[path] = ("dataset", _npy(count, IMAGE_BYTES if name.endswith("images") else 1))
    for split, params in study.splits.items():
        counts = {"train": params["train_size"], "test": test_count(params, sizes)}
        for key, pattern in layout["splits"].items():
            part, kind = key.split("_")
            files[pattern.format(split=split)] = ("splits", _npy(counts[part], IMAGE_BYTES if kind == "images" else 1))
        subset = corrupted_subset(study, counts["test"])
        for name, corruption in study.corruptions.items():
            path = layout["corrupted"].format(split=split, corruption=name)
            files[path] = ("corrupted test sets", _npy(subset * len(corruption["severities"])))
    for trial in study.trials():
        exp = study.experiments[trial.experiment]
        value_bytes = 1 if exp["clip"] else 2  # unclipped noise: int16 shards
        for s, wildcards in enumerate(study.shard_wildcards(trial.experiment, trial.trial)):
            rows = len(shard_rows(s, exp["train_size"], exp["enlarge"], study.config["shards"]["size"]))
            files[layout["shard"].format(**wildcards)] = ("shards", _npy(rows, IMAGE_BYTES * value_bytes))
    return files


def corrupted_subset(study: Study, tests: int) -> int:
    """The test images of each corrupted set of a split with ``tests`` test images."""
    return min(study.config["corruptions"]["test_size"] or tests, tests)


def free_bytes(files) -> tuple[str, int]:
    """The folder that holds ``files`` (a study's results, written or not), and the bytes free there."""
    folder = Path(os.path.commonpath([os.path.abspath(path) for path in files]))
    while not folder.exists():
        folder = folder.parent
    return str(folder), shutil.disk_usage(folder).free


def by_kind(files: dict[str, tuple[str, int]]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for kind, size in files.values():
        sizes[kind] = sizes.get(kind, 0) + size
    return sizes


def _gb(size: float) -> str:
    if size < 1e9:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.2f} GB" if size < 1e10 else f"{size / 1e9:,.0f} GB"


def check_disk(files: dict[str, tuple[str, int]], outputs) -> None:
    """A StudyError when the splits, shards and corrupted sets that ``outputs`` (the outputs of the
    jobs a run will run) add to the disk do not fit in its free space: one line, before the first
    job. ``files``: the study's :func:`footprint`. The dataset is left out: its size is the
    archive's (CIFAR-10's in footprint), and the first two jobs, which write it, would say in one
    line that it does not fit."""
    sizes = {path: entry for path, entry in files.items() if entry[0] != "dataset"}
    new = {path: sizes[path] for path in map(str, outputs) if path in sizes and not os.path.exists(path)}
    need = sum(size for _, size in new.values())
    folder, free = free_bytes(files)
    if need > free:
        kinds = ", ".join(f"{kind} {_gb(size)}" for kind, size in by_kind(new).items())
        raise StudyError(
            f"this run would write {_gb(need)} ({kinds}) but only {_gb(free)} are free on the disk of {folder}: "
            "lower trials, enlarge or train_size, or run in a folder on a larger disk (make plan shows the sizes)"
        )


# ---- time ---------------------------------------------------------------------------------


def workload(study: Study, sizes: tuple[int, int] = CIFAR10_SIZES) -> dict:
    """Training and test images per architecture, and the training and evaluation jobs (``sizes``:
    the dataset's training and test images)."""
    train: dict[str, int] = {}
    test: dict[str, int] = {}
    severities = sum(len(c["severities"]) for c in study.corruptions.values())
    for trial in study.trials():
        exp = study.experiments[trial.experiment]
        arch, tests = exp["architecture"], test_count(exp, sizes)
        corrupted = corrupted_subset(study, tests) * severities
        every_epoch = exp["epochs"] if study.config["training"]["evaluate_every_epoch"] else 0
        train[arch] = train.get(arch, 0) + exp["train_size"] * exp["enlarge"] * exp["epochs"]
        test[arch] = test.get(arch, 0) + tests * (1 + every_epoch) + corrupted
    jobs = len(study.trials()) * (2 if study.corruptions else 1)
    return {"train": train, "test": test, "jobs": jobs}


def measured_speed(architectures: list[str], threads: int, metrics: list[str], speed_file: str) -> dict | None:
    """This host's speed from the study's finished trials (``metrics``: their metrics.json, the real
    workflow's numbers), else from the last short measurement kept in ``speed_file``; None when
    neither knows every architecture."""
    host, found = platform.node(), {"train": {}, "test": {}, "start": []}
    for path in map(Path, metrics):
        try:
            m = json.loads(path.read_text())
            if m["host"] != host:
                continue
            arch = m["params"]["architecture"]
            found["train"].setdefault(arch, []).append(m["images_per_second"])
            found["test"].setdefault(arch, []).append(m["test_images"] / max(m["eval_seconds"], 1e-3))
            found["start"].append(m["wall_seconds"] - m["train_seconds"] - m["eval_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if found["start"] and set(architectures) <= set(found["train"]):
        return {
            "source": f"the median of {len(found['start'])} finished trials on this host",
            "train": {a: statistics.median(v) for a, v in found["train"].items()},
            "test": {a: statistics.median(v) for a, v in found["test"].items()},
            "start": statistics.median(found["start"]),
        }
    try:
        kept = json.loads(Path(speed_file).read_text())
    except (OSError, ValueError):
        return None
    if kept.get("host") == host and kept.get("threads") == threads and set(architectures) <= set(kept["train"]):
        return kept
    return None


@contextlib.contextmanager
def _quiet():
    """Hold back what C++ libraries write to stderr; show it only if the block fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def measure_speed(architectures: list[str], threads: int, speed_file: str, steps: int = 20, batch: int = 128) -> dict:
    """A short measurement: each architecture trains ``steps`` batches of random images (after a
    warm-up) and predicts 3,000, with the threads of a training job; kept in ``speed_file``."""
    with _quiet():  # the backend's start-up chatter is no part of a plan
        result = _measure(architectures, threads, steps, batch)
    result["source"] = f"a short measurement on this host ({time.strftime('%Y-%m-%d %H:%M')}, {threads} threads)"
    write_json(speed_file, result)
    return result


def _measure(architectures: list[str], threads: int, steps: int, batch: int) -> dict:
    import numpy as np

    from . import backend

    started = time.monotonic()
    backend.configure(threads)
    import keras

    from .models import build_model

    result = {"host": platform.node(), "threads": threads, "backend": backend.choose_backend(), "train": {}, "test": {}}
    rng = np.random.default_rng(0)
    x = rng.random((batch, 32, 32, 3), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, batch), 10)
    test = rng.random((1000, 32, 32, 3), dtype=np.float32)
    for arch in architectures:
        model = build_model(arch, 0)
        if arch == architectures[0]:
            result["start"] = time.monotonic() - started  # the backend's import and a model: every job pays it
        for _ in range(3):  # the first steps compile
            model.train_on_batch(x, y)
        model.predict_on_batch(test)
        begin = time.monotonic()
        for _ in range(steps):
            model.train_on_batch(x, y)
        result["train"][arch] = steps * batch / (time.monotonic() - begin)
        begin = time.monotonic()
        for _ in range(3):
            model.predict_on_batch(test)
        result["test"][arch] = 3 * len(test) / (time.monotonic() - begin)
    return result


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe(study: Study, layout: dict, config_name: str, speed: dict | None, threads: int) -> list[str]:
    """The plan, as lines of text."""
    dataset = dataset_sizes(layout)
    work = workload(study, dataset)
    trials = study.trials()
    declared = len(study.config["experiments"])
    files = footprint(study, layout, dataset)
    sizes = by_kind(files)
    folder, free = free_bytes(files)
    missing = sum(size for path, (_, size) in files.items() if not os.path.exists(path))
    lines = [
        f"{config_name}: {len(trials)} trials of {len(study.experiments)} experiments ({declared} declared, "
        f"{len(study.experiments) - declared} from sweeps and step-matched baselines)",
        f"  images:  {sum(work['train'].values()):,} training images (every epoch counted), "
        f"{sum(work['test'].values()):,} test images (clean and corrupted)",
        "  disk:    "
        + ", ".join(f"{kind} {_gb(size)}" for kind, size in sizes.items())
        + f"; {_gb(sum(sizes.values()))} in all, {_gb(missing)} of it still to write; {_gb(free)} free on {folder}",
    ]
    if missing > free:
        lines.append("  THE STUDY DOES NOT FIT: snakemake would stop before its first job; free space or shrink it")
    if speed is None:
        return lines
    seconds = sum(images / speed["train"][arch] for arch, images in work["train"].items())
    seconds += sum(images / speed["test"][arch] for arch, images in work["test"].items())
    seconds += work["jobs"] * max(speed["start"], 0)
    parallel = max(1, (os.cpu_count() or 1) // threads)
    rates = ", ".join(f"{arch} {speed['train'][arch]:,.0f} images/s" for arch in work["train"])
    lines.append(
        f"  time:    about {_duration(seconds)} of training and evaluation jobs one at a time ({rates}, from "
        f"{speed['source']})"
        + (f"; {parallel} at once on this machine's {os.cpu_count()} cores: about {_duration(seconds / parallel)}"
           if parallel > 1 else "")
    )  # fmt: skip
    return lines


def plan(study: Study, layout: dict, config_name: str, threads: int, metrics: list[str], speed_file: str, say=print):
    """Say the plan of ``study`` (see :func:`describe`), at the speed of its finished trials on this
    host, else of the last short measurement kept in ``speed_file``, else of a new one. ``threads``:
    a training job's; ``metrics``: the study's metrics.json files."""
    threads = min(threads, os.cpu_count() or 1)
    architectures = sorted({study.experiments[t.experiment]["architecture"] for t in study.trials()})
    speed = measured_speed(architectures, threads, metrics, speed_file)
    if speed is None:
        say(f"measuring this machine's training speed ({', '.join(architectures)}; under a minute)...")
        speed = measure_speed(architectures, threads, speed_file)
    say("\n".join(describe(study, layout, config_name, speed, threads)))
