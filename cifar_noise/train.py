"""Training and evaluating one trial.

:func:`run_trial` reads top to bottom: check the inputs, start or resume the model, train the
epochs left, evaluate on the test set, write the model, history.csv and metrics.json. Two training
loops, one per kind of backend, share everything else (inputs, checkpoints, metrics):

- Keras on JAX (the GPU environment): the compiled engine of cifar_noise.engine, with the trial's
  images on the device and many steps per call.
- TensorFlow (the CPU default) and torch: Keras's own ``train_on_batch`` over batches streamed from
  disk (cifar_noise.loops), so memory stays bounded whatever the enlargement factor.

Both visit an epoch's images in ``epoch_order(size, seed, epoch)``. After every epoch the model is
checkpointed (cifar_noise.checkpoints), so a rerun of a killed trial resumes from the last
finished epoch and ends with the numbers of an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import StudyError
from . import backend as backend_setup
from .checkpoints import Checkpoints, fingerprint
from .evaluation import eval_batch_size, evaluate
from .fileio import atomic_path, file_digest, write_json, write_text
from .identity import check_trial_inputs
from .loops import Progress, check_finite, training_loop
from .params import TrialParams
from .provenance import git_commit, package_versions
from .shards import NpyRows, TrainingImages

# The workflow's own folder (the package lives in it): its git commit is recorded with each trial.
WORKFLOW_DIR = Path(__file__).resolve().parent.parent


# history.csv's columns, in this order whether or not the trial resumed (a checkpoint's rows come
# back from JSON with their keys sorted)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "images", "seconds", "images_per_second", "test_loss", "test_accuracy")


def _history_csv(history: list[dict]) -> str:
    columns = [column for column in HISTORY_COLUMNS if history and column in history[0]] or ["epoch"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def _input_digests(inputs: dict, identities: dict | None) -> dict:
    """The sha256 of every input, checked against the records of the split and the shards."""
    digests = {
        Path(p).name if key == "shards" else key: file_digest(p)
        for key, paths in inputs.items()
        for p in (paths if key == "shards" else [paths])
    }
    if identities is not None:  # another trial's split or another shard trains to wrong numbers
        check_trial_inputs(inputs, digests, identities)
    return digests


def _start_or_resume(params: TrialParams, checkpoints: Checkpoints, log: Callable[[str], None]):
    """(model, state): the last checkpoint's, or a new model at epoch 0."""
    import keras

    from .models import build_model

    keras.utils.set_random_seed(params.train_seed)
    resumed = checkpoints.load()
    if resumed:
        log(f"resuming from the checkpoint after epoch {resumed[1]['epoch']} in {checkpoints.folder}")
        return resumed
    model = build_model(params.architecture, params.train_seed, params.precision)
    return model, {"epoch": 0, "history": [], "train_seconds": 0.0}


@dataclass
class TrialData:
    """A trial's training images (originals and shards) and its test set, open for reading."""

    train: TrainingImages
    test: NpyRows
    test_labels: np.ndarray

    def __enter__(self) -> TrialData:
        return self

    def __exit__(self, *exc) -> None:
        self.train.close()
        self.test.close()


def _open_data(inputs: dict, params: TrialParams) -> TrialData:
    train = TrainingImages(
        inputs["train_images"], np.load(inputs["train_labels"]), inputs.get("shards", []), params.shard_size
    )
    if len(train) != params.train_size * params.enlarge:
        train.close()
        raise StudyError(
            f"found {len(train)} training images, expected {params.train_size} x "
            f"{params.enlarge}; delete the trial's shards and rerun"
        )
    return TrialData(train, NpyRows(inputs["test_images"]), np.load(inputs["test_labels"]))


@dataclass(frozen=True)
class Runtime:
    """How a trial runs, never what it computes (so none of it is a parameter of the trial).

    ``gpu``: the job asked for a GPU, so a backend that sees none is an error, not a CPU run.
    ``gpu_memory_fraction``: this trial's share of the GPU's memory (several trials share one GPU).
    ``max_steps_per_epoch`` cuts epochs short (benchmarks and smoke runs; never the workflow).
    """

    threads: int = 1
    gpu: bool = False
    gpu_memory_fraction: float | None = None
    log: Callable[[str], None] = print
    progress_seconds: float = 30.0
    max_steps_per_epoch: int | None = None


def run_trial(
    params: TrialParams,
    inputs: dict,
    outputs: dict,
    checkpoint_dir: str | os.PathLike,
    runtime: Runtime = Runtime(),
    identities: dict | None = None,
) -> dict:
    """Train and evaluate one trial; write outputs["model"|"history"|"metrics"]; return the metrics.

    ``inputs``: train_images, train_labels, test_images, test_labels (.npy paths) and shards (a list).
    ``identities``: the records of the split and the shards to check the inputs against (see
    cifar_noise.identity); the workflow always gives them.
    """
    started, log = time.monotonic(), runtime.log
    backend_name = backend_setup.configure(runtime.threads, gpu_memory_fraction=runtime.gpu_memory_fraction)
    with backend_setup.gpu_memory_errors(runtime.gpu_memory_fraction):
        if runtime.gpu:  # before anything is read or written
            backend_setup.require_gpu()
        device = backend_setup.device_description()
        digests = _input_digests(inputs, identities)
        checkpoints = Checkpoints(checkpoint_dir, fingerprint(params.asdict(), digests), log)
        model, state = _start_or_resume(params, checkpoints, log)
        with _open_data(inputs, params) as data:
            loop = training_loop(model, data.train, params)
            log(_describe(params, data, f"backend {backend_name} ({type(loop).__name__}), {device}"))
            final_state = _train(model, loop, data, state, checkpoints, params, runtime)
            eval_start = time.monotonic()
            final = evaluate(model, data.test, data.test_labels, eval_batch_size(), params.scale_inputs)
    how = {  # where and how the numbers were made, beside the numbers themselves
        "resumed_from_epoch": state["epoch"],
        "eval_seconds": round(time.monotonic() - eval_start, 3),
        "wall_seconds": round(time.monotonic() - started, 3),
        "backend": backend_name,
        "device": device,
        "threads": runtime.threads,
        "inputs_sha256": digests,
    }
    metrics = {**_metrics(params, final, final_state, data), **how}  # (metrics.json sorts its keys)
    _write_outputs(model, final_state["history"], metrics, outputs)
    checkpoints.clear()
    log(
        f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
        f"(train accuracy {metrics['train_accuracy']:.4f}); {metrics['wall_seconds']:.0f} s in all"
    )
    return metrics


def _describe(params: TrialParams, data: TrialData, how: str) -> str:
    return (
        f"{params.experiment} trial {params.trial}: {params.architecture} on {len(data.train)} images "
        f"({params.train_size} x {params.enlarge}, noise {params.noise}), {len(data.test)} test images, "
        f"{params.epochs} epochs of {math.ceil(len(data.train) / params.batch_size)} steps, "
        f"{params.precision}; {how}"
    )


def _train(model, loop, data: TrialData, state: dict, checkpoints: Checkpoints, params: TrialParams, runtime: Runtime):
    """The epochs left after ``state``, each checkpointed; return the state after the last."""
    for epoch in range(state["epoch"], params.epochs):
        epoch_start = time.monotonic()
        progress = Progress(epoch, params.epochs, len(data.train), runtime.progress_seconds, runtime.log)
        seen, loss_sum, correct_sum = loop.epoch(epoch, runtime.max_steps_per_epoch, progress)
        check_finite(loss_sum, epoch)
        loop.sync_model()
        seconds = time.monotonic() - epoch_start
        row = {
            "epoch": epoch + 1,
            "loss": loss_sum / seen,
            "accuracy": correct_sum / seen,
            "images": seen,
            "seconds": round(seconds, 3),
            "images_per_second": round(seen / seconds, 1),
        }
        if params.evaluate_every_epoch:
            result = evaluate(model, data.test, data.test_labels, eval_batch_size(), params.scale_inputs)
            row.update(test_loss=result["loss"], test_accuracy=result["accuracy"])
        runtime.log(
            f"epoch {epoch + 1}/{params.epochs}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.4f}"
            + (f", test_accuracy {row['test_accuracy']:.4f}" if "test_accuracy" in row else "")
            + f" ({row['images_per_second']:.0f} images/s, {seconds:.0f} s)"
        )
        state = {
            "epoch": epoch + 1,
            "history": state["history"] + [row],
            "train_seconds": state["train_seconds"] + seconds,
        }
        checkpoints.save(model, state)
    return state


def _metrics(params: TrialParams, final: dict, state: dict, data: TrialData) -> dict:
    """The test numbers, the training's, and the machine, versions and parameters that made them."""
    history = state["history"]
    trained_images = sum(row["images"] for row in history)
    return {
        "experiment": params.experiment,
        "trial": params.trial,
        "test_loss": final["loss"],
        "test_accuracy": final["accuracy"],
        "train_loss": history[-1]["loss"],
        "train_accuracy": history[-1]["accuracy"],
        "per_class_accuracy": final["per_class_accuracy"],
        "confusion_matrix": final["confusion_matrix"],
        "epochs": len(history),
        "train_images": len(data.train),
        "test_images": len(data.test),
        "train_seconds": round(state["train_seconds"], 3),
        "images_per_second": round(trained_images / state["train_seconds"], 1),
        "host": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "versions": package_versions(),
        "git_commit": git_commit(WORKFLOW_DIR),
        "params": params.asdict(),
    }


def _write_outputs(model, history: list[dict], metrics: dict, outputs: dict) -> None:
    """The model, then history.csv, then metrics.json: the record comes last, once the rest is there."""
    with atomic_path(outputs["model"], suffix=".keras") as tmp:
        model.save(tmp)
    write_text(outputs["history"], _history_csv(history))
    write_json(outputs["metrics"], metrics)
