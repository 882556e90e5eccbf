"""Training and evaluating one trial.

Batches are streamed from the split's originals and the noise shards (uint8 on disk, converted
to float32 one batch at a time), so memory stays bounded whatever the enlargement factor. After
every epoch the model, its optimizer state and the history so far are checkpointed outside the
rule's outputs; a rerun of a killed trial resumes from the last finished epoch and, because each
epoch's order depends only on (seed, epoch), ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import platform
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import backend as backend_setup
from .cifar import CLASS_NAMES, NUM_CLASSES
from .errors import StudyError
from .fileio import atomic_path, file_digest, write_json, write_text
from .identity import check_trial_inputs
from .provenance import git_commit, package_versions
from .shards import NpyRows, TrainingImages

# Test images per evaluation batch: memory, not results, depends on it, so it is no parameter of
# a trial (changing a parameter retrains the trial).
EVAL_BATCH_SIZE = 1000
# The workflow's own folder (the package lives in it): its git commit is recorded with each trial.
WORKFLOW_DIR = Path(__file__).resolve().parent.parent


def epoch_order(size: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the ``size`` training images."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch])).permutation(size)


def to_inputs(images: np.ndarray, scale: bool) -> np.ndarray:
    x = images.astype(np.float32)
    if scale:
        x *= np.float32(1.0 / 255.0)
    return x


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


def evaluate(model, images: NpyRows, labels: np.ndarray, batch_size: int, scale: bool) -> dict:
    """Test-set loss (cross-entropy + the model's regularisation, as Keras reports it),
    accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    import keras

    labels = np.asarray(labels, dtype=np.int64)
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    cross_entropy = 0.0
    for start in range(0, len(images), batch_size):
        stop = min(start + batch_size, len(images))
        probs = np.asarray(model.predict_on_batch(to_inputs(images.read_range(start, stop), scale)), np.float64)
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


class Checkpoints:
    """Per-epoch checkpoints of one trial, valid only for the exact same parameters, inputs and Keras.

    ``state.json`` names the model file of the last finished epoch and records its sha256, so a
    truncated, torn or replaced model file is noticed before Keras reads it. A checkpoint that
    cannot be trusted is not resumed: the log says why and the trial starts from epoch 1 (only the
    last finished epoch is kept, so there is no older good one to fall back to).
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str, log: Callable[[str], None] = print):
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.state_file = self.folder / "state.json"
        self.log = log

    @staticmethod
    def versions() -> dict:
        """What wrote a checkpoint: another Keras or backend may read it differently (or not at all)."""
        import keras

        return {"keras": keras.__version__, "backend": keras.backend.backend()}

    def _discard(self, why: str) -> None:
        self.log(f"not resuming from the checkpoint in {self.folder}: {why}; starting from epoch 1")

    def load(self):
        """(model, state) of the last finished epoch, or None: nothing to resume, or a checkpoint
        that cannot be trusted (said in the log)."""
        import keras

        if not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
            name, digest = state["model_file"], state["model_sha256"]
            if Path(name).name != name or len(state["history"]) != state["epoch"]:
                raise ValueError("inconsistent fields")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._discard(f"state.json cannot be read ({exc})")
        if state.get("fingerprint") != self.fingerprint:
            return self._discard("it was written for other parameters or inputs")
        if state.get("versions") != self.versions():
            return self._discard(f"it was written by {state.get('versions')}, this is {self.versions()}")
        model_file = self.folder / name
        try:
            actual = file_digest(model_file)
        except OSError as exc:
            return self._discard(f"its model file cannot be read ({exc.strerror or exc})")
        if actual != digest:
            return self._discard(f"{name} is not the file state.json recorded (truncated, torn or replaced)")
        try:
            model = keras.saving.load_model(model_file)
        except Exception as exc:  # whatever Keras makes of a file it cannot read: start afresh
            first_line = (str(exc).splitlines() or [""])[0][:200]
            return self._discard(f"Keras cannot load {name} ({type(exc).__name__}: {first_line})")
        return model, state

    def save(self, model, state: dict) -> None:
        model_file = self.folder / f"epoch-{state['epoch']:04d}.keras"
        with atomic_path(model_file, suffix=".keras") as tmp:
            model.save(tmp)
        write_json(
            self.state_file,
            {
                **state,
                "fingerprint": self.fingerprint,
                "versions": self.versions(),
                "model_file": model_file.name,
                "model_sha256": file_digest(model_file),
            },
        )
        for old in self.folder.glob("epoch-*.keras"):  # only after the state names the new file
            if old.name != model_file.name:
                old.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def checkpointed_epoch(folder: str | os.PathLike) -> int:
    """The last finished epoch that ``folder`` holds a checkpoint of, as its state.json says (0: none)."""
    try:
        return int(json.loads((Path(folder) / "state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _fingerprint(params: dict, digests: dict) -> str:
    blob = json.dumps({"params": params, "inputs": digests}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


# history.csv's columns, in this order whether or not the trial resumed (a checkpoint's rows come
# back from JSON with their keys sorted)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "images", "seconds", "images_per_second", "val_loss", "val_accuracy")


def _history_csv(history: list[dict]) -> str:
    columns = [column for column in HISTORY_COLUMNS if history and column in history[0]] or ["epoch"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def run_trial(
    params: dict,
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
    if gpu:  # before anything is read or written
        backend_setup.require_gpu()
    import keras

    from .models import build_model

    digests = {
        Path(p).name if key == "shards" else key: file_digest(p)
        for key, paths in inputs.items()
        for p in (paths if key == "shards" else [paths])
    }
    if identities is not None:  # another trial's split or another shard trains to wrong numbers
        check_trial_inputs(inputs, digests, identities)
    checkpoints = Checkpoints(checkpoint_dir, _fingerprint(params, digests), log)

    keras.utils.set_random_seed(params["train_seed"])
    resumed = checkpoints.load()
    if resumed:
        model, state = resumed
        log(f"resuming from the checkpoint after epoch {state['epoch']} in {checkpoint_dir}")
    else:
        model = build_model(params["architecture"], params["train_seed"])
        state = {"epoch": 0, "history": [], "train_seconds": 0.0}
    resumed_from = state["epoch"]

    labels = np.load(inputs["train_labels"])
    train = TrainingImages(inputs["train_images"], labels, inputs.get("shards", []), params["shard_size"])
    test = NpyRows(inputs["test_images"])
    test_labels = np.load(inputs["test_labels"])
    if len(train) != params["train_size"] * params["enlarge"]:
        raise StudyError(
            f"found {len(train)} training images, expected {params['train_size']} x "
            f"{params['enlarge']}; delete the trial's shards and rerun"
        )
    stream = BatchStream(train, params["batch_size"], params["train_seed"], params["scale_inputs"])
    device = backend_setup.device_description()
    log(
        f"{params['experiment']} trial {params['trial']}: {params['architecture']} on {len(train)} images "
        f"({params['train_size']} x {params['enlarge']}, noise {params['noise']}), {len(test)} test images, "
        f"{params['epochs']} epochs of {stream.steps()} steps; backend {backend_name}, {device}"
    )

    for epoch in range(state["epoch"], params["epochs"]):
        epoch_start = time.monotonic()
        last_report = epoch_start
        seen, loss_sum, correct_sum = 0, 0.0, 0.0
        for x, y in itertools.islice(stream.epoch(epoch), max_steps_per_epoch):
            loss, accuracy = model.train_on_batch(x, y)
            seen += len(x)
            loss_sum += float(loss) * len(x)
            correct_sum += float(accuracy) * len(x)
            if not math.isfinite(loss_sum):
                raise StudyError(
                    f"training diverged (loss {loss}) in epoch {epoch + 1}; "
                    "lower the learning rate or check scale_inputs"
                )
            if time.monotonic() - last_report > progress_seconds:
                last_report = time.monotonic()
                rate = seen / (last_report - epoch_start)
                log(
                    f"  epoch {epoch + 1}/{params['epochs']}: {seen}/{len(train)} images, "
                    f"loss {loss_sum / seen:.4f}, {rate:.0f} images/s"
                )
        seconds = time.monotonic() - epoch_start
        row = {
            "epoch": epoch + 1,
            "loss": loss_sum / seen,
            "accuracy": correct_sum / seen,
            "images": seen,
            "seconds": round(seconds, 3),
            "images_per_second": round(seen / seconds, 1),
        }
        if params["evaluate_every_epoch"]:
            result = evaluate(model, test, test_labels, EVAL_BATCH_SIZE, params["scale_inputs"])
            row.update(val_loss=result["loss"], val_accuracy=result["accuracy"])
        log(
            f"epoch {epoch + 1}/{params['epochs']}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.4f}"
            + (f", val_accuracy {row['val_accuracy']:.4f}" if "val_accuracy" in row else "")
            + f" ({row['images_per_second']:.0f} images/s, {seconds:.0f} s)"
        )
        state = {
            "epoch": epoch + 1,
            "history": state["history"] + [row],
            "train_seconds": state["train_seconds"] + seconds,
        }
        checkpoints.save(model, state)

    eval_start = time.monotonic()
    final = evaluate(model, test, test_labels, EVAL_BATCH_SIZE, params["scale_inputs"])
    eval_seconds = time.monotonic() - eval_start
    train.close()
    test.close()
    history = state["history"]
    trained_images = sum(row["images"] for row in history)
    metrics = {
        "experiment": params["experiment"],
        "trial": params["trial"],
        "val_loss": final["loss"],
        "val_accuracy": final["accuracy"],
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
        "params": params,
    }
    with atomic_path(outputs["model"], suffix=".keras") as tmp:
        model.save(tmp)
    write_text(outputs["history"], _history_csv(history))
    write_json(outputs["metrics"], metrics)
    checkpoints.clear()
    log(
        f"test accuracy {metrics['val_accuracy']:.4f}, test loss {metrics['val_loss']:.4f} "
        f"(train accuracy {metrics['train_accuracy']:.4f}); {metrics['wall_seconds']:.0f} s in all"
    )
    return metrics
