"""The training loop of Keras's own ``train_on_batch`` (TensorFlow and torch), and what both loops
share: the epoch order, the progress lines and the check that training has not diverged.

The loop streams batches from the split's originals and the noise shards (uint8 on disk,
converted to float32 one batch at a time in a background thread), so memory stays bounded
whatever the enlargement factor. On JAX, :func:`training_loop` gives cifar_noise.engine's
compiled loop instead, with the trial's images on the device.
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from . import StudyError
from .cifar import NUM_CLASSES, to_inputs
from .params import TrialParams
from .shards import TrainingImages


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
