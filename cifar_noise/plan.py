"""What a study costs before it runs: trials, training and test images, disk, and the time it takes
on this machine, from the speed last measured here or from a short measurement.

    python -m cifar_noise.plan [config.yaml]        (make plan CONFIG=...)

The Snakefile uses :func:`check_disk` to stop, before its first job, a run whose files would not fit
on the disk.
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

import yaml

from .config import CIFAR10_SIZES, RESULTS, Study, test_count
from .errors import StudyError
from .fileio import npy_layout, write_json
from .shards import shard_rows

IMAGE_BYTES = 32 * 32 * 3
NPY_HEADER = 128  # np.save's header of these arrays
ARCHIVE_BYTES = 170_498_071  # cifar-10-python.tar.gz
# Where a short measurement of this machine's speed is kept, for the next plan.
SPEED_FILE = f"{RESULTS}/plan/speed.json"
PROFILE = Path(__file__).resolve().parent.parent / "profiles" / "default" / "config.yaml"


def _npy(images: int, image_bytes: int = IMAGE_BYTES) -> int:
    return NPY_HEADER + images * image_bytes


def dataset_sizes(study: Study) -> tuple[int, int]:
    """The dataset's training and test images: from the extracted arrays where they exist (any
    CIFAR-format archive), else CIFAR-10's."""
    try:
        return tuple(npy_layout(study.DATASET[f"{part}_labels"])[0][0] for part in ("train", "test"))
    except (OSError, ValueError):
        return CIFAR10_SIZES


def footprint(study: Study) -> dict[str, tuple[str, int]]:
    """The large files the study writes, by path: what they are and their size in bytes (models,
    logs and tables, a few MB per trial, aside)."""
    sizes = dataset_sizes(study)
    files = {study.archive: ("dataset", ARCHIVE_BYTES)}
    for name, path in study.DATASET.items():
        count = sizes[0] if name.startswith("train") else sizes[1]
        files[path] = ("dataset", _npy(count, IMAGE_BYTES if name.endswith("images") else 1))
    splits = {}
    for trial in study.trials():
        splits.setdefault(study.split_id(trial.experiment, trial.trial), trial)
    shard_size = study.config["shards"]["size"]
    for split, trial in splits.items():
        exp = study.experiments[trial.experiment]
        counts = {"train": exp["train_size"], "test": test_count(exp, sizes)}
        for key, path in study.split_files(trial.experiment, trial.trial).items():
            part, kind = key.split("_")
            files[path] = ("splits", _npy(counts[part], IMAGE_BYTES if kind == "images" else 1))
        for name, path in study.corrupted_files(split).items():
            subset = min(study.config["corruptions"]["test_size"] or counts["test"], counts["test"])
            files[path] = ("corrupted test sets", _npy(subset * len(study.corruptions[name]["severities"])))
    for trial in study.trials():
        exp = study.experiments[trial.experiment]
        value_bytes = 1 if exp["clip"] else 2  # unclipped noise: int16 shards
        for s, path in enumerate(study.shard_files(trial.experiment, trial.trial)):
            rows = len(shard_rows(s, exp["train_size"], exp["enlarge"], shard_size))
            files[path] = ("shards", _npy(rows, IMAGE_BYTES * value_bytes))
    return files


def free_bytes() -> tuple[str, int]:
    """The folder results/ is (or will be) on, and the bytes free there."""
    folder = Path(RESULTS).absolute()
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


def check_disk(study: Study, outputs) -> None:
    """A StudyError when the splits, shards and corrupted sets that ``outputs`` (the outputs of the
    jobs a run will run) add to the disk do not fit in its free space: one line, before the first
    job. The dataset is left out: its size is the archive's (CIFAR-10's in footprint), and the
    first two jobs, which write it, would say in one line that it does not fit."""
    sizes = {path: entry for path, entry in footprint(study).items() if entry[0] != "dataset"}
    new = {path: sizes[path] for path in map(str, outputs) if path in sizes and not os.path.exists(path)}
    need = sum(size for _, size in new.values())
    folder, free = free_bytes()
    if need > free:
        kinds = ", ".join(f"{kind} {_gb(size)}" for kind, size in by_kind(new).items())
        raise StudyError(
            f"this run would write {_gb(need)} ({kinds}) but only {_gb(free)} are free on the disk of {folder}: "
            "lower trials, enlarge or train_size, or run in a folder on a larger disk (make plan shows the sizes)"
        )


# ---- time ---------------------------------------------------------------------------------


def workload(study: Study) -> dict:
    """Training and test images per architecture, and the training and evaluation jobs."""
    train: dict[str, int] = {}
    test: dict[str, int] = {}
    sizes = dataset_sizes(study)
    severities = sum(len(c["severities"]) for c in study.corruptions.values())
    for trial in study.trials():
        exp = study.experiments[trial.experiment]
        arch, tests = exp["architecture"], test_count(exp, sizes)
        corrupted = min(study.config["corruptions"]["test_size"] or tests, tests) * severities
        every_epoch = exp["epochs"] if study.config["training"]["evaluate_every_epoch"] else 0
        train[arch] = train.get(arch, 0) + exp["train_size"] * exp["enlarge"] * exp["epochs"]
        test[arch] = test.get(arch, 0) + tests * (1 + every_epoch) + corrupted
    jobs = len(study.trials()) * (2 if study.corruptions else 1)
    return {"train": train, "test": test, "jobs": jobs}


def job_threads() -> int:
    """The threads a training job gets from the default profile (set-threads train_trial)."""
    profile = yaml.safe_load(PROFILE.read_text())
    return min(int(profile["set-threads"]["train_trial"]), os.cpu_count() or 1)


def measured_speed(architectures: list[str], threads: int) -> dict | None:
    """This host's speed from its finished trials (the real workflow's numbers), else from the last
    short measurement kept in SPEED_FILE; None when neither knows every architecture."""
    host, found = platform.node(), {"train": {}, "test": {}, "start": []}
    for path in Path(RESULTS).glob("experiments/*/trial-*/metrics.json"):
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
        kept = json.loads(Path(SPEED_FILE).read_text())
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


def measure_speed(architectures: list[str], threads: int, steps: int = 20, batch: int = 128) -> dict:
    """A short measurement: each architecture trains ``steps`` batches of random images (after a
    warm-up) and predicts 3,000, with the threads of a training job; kept in SPEED_FILE."""
    with _quiet():  # the backend's start-up chatter is no part of a plan
        result = _measure(architectures, threads, steps, batch)
    result["source"] = f"a short measurement on this host ({time.strftime('%Y-%m-%d %H:%M')}, {threads} threads)"
    write_json(SPEED_FILE, result)
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


def describe(study: Study, config_name: str, speed: dict | None, threads: int) -> list[str]:
    """The plan, as lines of text."""
    work = workload(study)
    trials = study.trials()
    declared = len(study.config["experiments"])
    files = footprint(study)
    sizes = by_kind(files)
    folder, free = free_bytes()
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


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "config.yaml"
    try:
        study = Study(yaml.safe_load(Path(path).read_text()))
    except (OSError, yaml.YAMLError) as error:
        print(f"make plan: cannot read {path}: {error}", file=sys.stderr)
        return 1
    except StudyError as error:
        print(f"make plan: {path}: {error}", file=sys.stderr)
        return 1
    threads = job_threads()
    architectures = sorted({study.experiments[t.experiment]["architecture"] for t in study.trials()})
    speed = measured_speed(architectures, threads)
    if speed is None:
        print(f"measuring this machine's training speed ({', '.join(architectures)}; under a minute)...", flush=True)
        speed = measure_speed(architectures, threads)
    print("\n".join(describe(study, path, speed, threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
