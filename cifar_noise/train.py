"""Training and evaluating one trial.

Two training loops, one per kind of backend, share everything else (inputs, checkpoints, metrics):

- Keras on JAX (the GPU environment): the compiled engine of cifar_noise.engine, with the trial's
  images on the device and many steps per call.
- TensorFlow (the CPU default) and torch: Keras's own ``train_on_batch`` over batches streamed from
  the split's originals and the noise shards (uint8 on disk, converted to float32 one batch at a
  time), so memory stays bounded whatever the enlargement factor.

Both visit an epoch's images in ``epoch_order(size, seed, epoch)``. After every epoch the model is
checkpointed (cifar_noise.checkpoints), so a rerun of a killed trial resumes from the last
finished epoch and ends with the numbers of an uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import platform
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import backend as backend_setup
from .checkpoints import Checkpoints, fingerprint
from .cifar import CLASS_NAMES, NUM_CLASSES
from .engine import to_inputs
from .errors import StudyError
from .fileio import atomic_path, file_digest, write_json, write_text
from .identity import check_trial_inputs
from .params import TrialParams
from .provenance import git_commit, package_versions
from .shards import NpyRows, TrainingImages

# Test images per evaluation batch: memory, not results, depends on it, so it is no parameter of
# a trial (changing a parameter retrains the trial). A GPU takes ten times more at once.
EVAL_BATCH_SIZE = 1000
GPU_EVAL_BATCH_SIZE = 10_000
# The workflow's own folder (the package lives in it): its git commit is recorded with each trial.
WORKFLOW_DIR = Path(__file__).resolve().parent.parent


def epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the ``size`` training images."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(size)


def one_hot(labels: np.ndarray) -> np.ndarray:
    y = np.zeros((len(labels), NUM_CLASSES), dtype=np.float32)
    y[np.arange(len(labels)), labels] = 1.0
    return y


class BatchStream:
    """Yields (x, y) float32 batches of one epoch, read and converted in a background thread."""

    def __init__(self, images: TrainingImages, batch_size: int, seed: int, scale: bool, prefetch: int = 4):
        self.images, self.batch_size, self.seed, self.scale = images, batch_size, seed, scale
        self.prefetch = prefetch

    def steps(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = epoch_order(len(self.images), self.seed, epoch)
        batches: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def produce():
            try:
                for start in range(0, len(order), self.batch_size):
                    if stop.is_set():
                        return
                    images, labels = self.images.read(order[start : start + self.batch_size])
                    batches.put((to_inputs(images, self.scale), one_hot(labels)))
                batches.put(done)
            except BaseException as exc:  # hand the error to the consumer
                batches.put(exc)

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        try:
            while (item := batches.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    batches.get_nowait()
                except queue.Empty:
                    worker.join(0.05)


def check_finite(loss_sum: float, epoch: int) -> None:
    if not math.isfinite(loss_sum):
        raise StudyError(
            f"training diverged (loss {loss_sum}) in epoch {epoch + 1}; lower the learning rate or check scale_inputs"
        )


class Progress:
    """The progress lines of one epoch, at most one every ``seconds``."""

    def __init__(self, epoch: int, epochs: int, images: int, seconds: float, log: Callable[[str], None]):
        self.epoch, self.epochs, self.images, self.seconds, self.log = epoch, epochs, images, seconds, log
        self.start = self.last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self.last > self.seconds

    def __call__(self, seen: int, loss_sum: float) -> None:
        check_finite(loss_sum, self.epoch)
        self.last = time.monotonic()
        rate = seen / (self.last - self.start)
        self.log(
            f"  epoch {self.epoch + 1}/{self.epochs}: {seen}/{self.images} images, "
            f"loss {loss_sum / seen:.4f}, {rate:.0f} images/s"
        )


class StreamingLoop:
    """Keras's own ``train_on_batch`` over batches streamed from disk (TensorFlow and torch)."""

    def __init__(self, model, images: TrainingImages, batch_size: int, seed: int, scale: bool):
        self.model, self.stream = model, BatchStream(images, batch_size, seed, scale)

    def epoch(self, epoch: int, max_steps: int | None, progress: Progress) -> tuple[int, float, float]:
        """Train one epoch (at most ``max_steps`` steps); return (images, loss sum, correct sum)."""
        seen, loss_sum, correct_sum = 0, 0.0, 0.0
        for x, y in itertools.islice(self.stream.epoch(epoch), max_steps):
            loss, accuracy = self.model.train_on_batch(x, y)
            seen += len(x)
            loss_sum += float(loss) * len(x)
            correct_sum += float(accuracy) * len(x)
            check_finite(loss_sum, epoch)
            if progress.due():
                progress(seen, loss_sum)
        return seen, loss_sum, correct_sum

    def sync_model(self) -> None:
        """The model's variables are always up to date here."""


def training_loop(model, images: TrainingImages, params: TrialParams):
    """The compiled engine on JAX; Keras's own loop on the other backends."""
    import keras

    if keras.backend.backend() != "jax":
        return StreamingLoop(model, images, params.batch_size, params.train_seed, params.scale_inputs)
    from .engine import CompiledLoop

    everything, _ = images.read(np.arange(len(images)))  # onto the device, once
    return CompiledLoop(
        model,
        everything,
        images.labels,
        params.batch_size,
        lambda epoch: epoch_order(len(images), params.train_seed, epoch),
        params.scale_inputs,
    )


def predictor(model, scale: bool) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 images -> class probabilities: compiled on the device on JAX, ``predict_on_batch`` else."""
    import keras

    if keras.backend.backend() == "jax":
        from .engine import compiled_predict

        return compiled_predict(model, scale)
    return lambda images: model.predict_on_batch(to_inputs(images, scale))


def eval_batch_size() -> int:
    return GPU_EVAL_BATCH_SIZE if backend_setup.gpu_names() else EVAL_BATCH_SIZE


def evaluate(model, images: NpyRows, labels: np.ndarray, batch_size: int, scale: bool, predict=None) -> dict:
    """Test-set loss (cross-entropy + the model's regularisation, as Keras reports it),
    accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted).
    ``predict``: the model's :func:`predictor`, where the caller evaluates it on several sets."""
    import keras

    predict = predict or predictor(model, scale)
    labels = np.asarray(labels, dtype=np.int64)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    cross_entropy = 0.0
    for start in range(0, len(images), batch_size):
        stop = min(start + batch_size, len(images))
        probs = np.asarray(predict(images.read_range(start, stop)), np.float64)
        truth = labels[start:stop]
        probs /= probs.sum(axis=1, keepdims=True)
        # categorical cross-entropy as Keras computes it: probabilities clipped to [eps, 1 - eps]
        epsilon = keras.config.epsilon()
        picked = np.clip(probs[np.arange(len(truth)), truth], epsilon, 1 - epsilon)
        cross_entropy -= np.log(picked).sum()
        confusion += np.bincount(truth * NUM_CLASSES + probs.argmax(axis=1), minlength=NUM_CLASSES**2).reshape(
            NUM_CLASSES, NUM_CLASSES
        )
    regularisation = float(sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses))
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "loss": cross_entropy / len(images) + regularisation,
        "accuracy": float(confusion.trace() / confusion.sum()),
        "per_class_accuracy": {name: float(a) for name, a in zip(CLASS_NAMES, per_class, strict=True)},
        "confusion_matrix": confusion.tolist(),
    }


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


def _open_data(inputs: dict, params: TrialParams) -> tuple[TrainingImages, NpyRows, np.ndarray]:
    train = TrainingImages(
        inputs["train_images"], np.load(inputs["train_labels"]), inputs.get("shards", []), params.shard_size
    )
    if len(train) != params.train_size * params.enlarge:
        raise StudyError(
            f"found {len(train)} training images, expected {params.train_size} x "
            f"{params.enlarge}; delete the trial's shards and rerun"
        )
    return train, NpyRows(inputs["test_images"]), np.load(inputs["test_labels"])


def run_trial(
    params: TrialParams,
    inputs: dict,
    outputs: dict,
    checkpoint_dir: str | os.PathLike,
    threads: int = 1,
    log: Callable[[str], None] = print,
    progress_seconds: float = 30.0,
    max_steps_per_epoch: int | None = None,
    gpu: bool = False,
    gpu_memory_fraction: float | None = None,
    identities: dict | None = None,
) -> dict:
    """Train and evaluate one trial; write outputs["model"|"history"|"metrics"]; return the metrics.

    ``inputs``: train_images, train_labels, test_images, test_labels (.npy paths) and shards (a list).
    ``gpu``: the job asked for a GPU, so a backend that sees none is an error, not a CPU run.
    ``gpu_memory_fraction``: this trial's share of the GPU's memory (several trials share one GPU).
    ``max_steps_per_epoch`` cuts epochs short (for benchmarks and smoke runs; never set by the workflow).
    ``identities``: the records of the split and the shards to check the inputs against (see
    cifar_noise.identity); the workflow always gives them.
    """
    started = time.monotonic()
    backend_name = backend_setup.configure(threads, gpu_memory_fraction=gpu_memory_fraction)
    with backend_setup.gpu_memory_errors(gpu_memory_fraction):
        if gpu:  # before anything is read or written
            backend_setup.require_gpu()
        digests = _input_digests(inputs, identities)
        checkpoints = Checkpoints(checkpoint_dir, fingerprint(params.asdict(), digests), log)
        model, state = _start_or_resume(params, checkpoints, log)
        resumed_from = state["epoch"]
        train, test, test_labels = _open_data(inputs, params)
        loop = training_loop(model, train, params)
        device = backend_setup.device_description()
        log(
            f"{params.experiment} trial {params.trial}: {params.architecture} on {len(train)} images "
            f"({params.train_size} x {params.enlarge}, noise {params.noise}), {len(test)} test images, "
            f"{params.epochs} epochs of {math.ceil(len(train) / params.batch_size)} steps, "
            f"{params.precision}; backend {backend_name} ({type(loop).__name__}), {device}"
        )
        batch = eval_batch_size()
        for epoch in range(state["epoch"], params.epochs):
            epoch_start = time.monotonic()
            progress = Progress(epoch, params.epochs, len(train), progress_seconds, log)
            seen, loss_sum, correct_sum = loop.epoch(epoch, max_steps_per_epoch, progress)
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
                result = evaluate(model, test, test_labels, batch, params.scale_inputs)
                row.update(test_loss=result["loss"], test_accuracy=result["accuracy"])
            log(
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
        eval_start = time.monotonic()
        final = evaluate(model, test, test_labels, batch, params.scale_inputs)
    eval_seconds = time.monotonic() - eval_start
    train.close()
    test.close()
    history = state["history"]
    trained_images = sum(row["images"] for row in history)
    metrics = {
        "experiment": params.experiment,
        "trial": params.trial,
        "test_loss": final["loss"],
        "test_accuracy": final["accuracy"],
        "train_loss": history[-1]["loss"],
        "train_accuracy": history[-1]["accuracy"],
        "per_class_accuracy": final["per_class_accuracy"],
        "confusion_matrix": final["confusion_matrix"],
        "epochs": len(history),
        "train_images": len(train),
        "test_images": len(test),
        "train_seconds": round(state["train_seconds"], 3),
        "eval_seconds": round(eval_seconds, 3),
        "wall_seconds": round(time.monotonic() - started, 3),
        "images_per_second": round(trained_images / state["train_seconds"], 1),
        "resumed_from_epoch": resumed_from,
        "host": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "backend": backend_name,
        "device": device,
        "threads": threads,
        "versions": package_versions(),
        "git_commit": git_commit(WORKFLOW_DIR),
        "inputs_sha256": digests,
        "params": params.asdict(),
    }
    with atomic_path(outputs["model"], suffix=".keras") as tmp:
        model.save(tmp)
    write_text(outputs["history"], _history_csv(history))
    write_json(outputs["metrics"], metrics)
    checkpoints.clear()
    log(
        f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
        f"(train accuracy {metrics['train_accuracy']:.4f}); {metrics['wall_seconds']:.0f} s in all"
    )
    return metrics
