"""Evaluating a trained model on a test set (clean or corrupted), in large batches.

On JAX the model's forward pass is compiled once and run on the device; elsewhere Keras's
``predict_on_batch``. Loss and accuracy are summed on the host, as Keras computes them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import backend as backend_setup
from .cifar import CLASS_NAMES, NUM_CLASSES, to_inputs
from .shards import NpyRows

# Test images per evaluation batch: memory, not results, depends on it, so it is no parameter of
# a trial (changing a parameter retrains the trial). A GPU takes ten times more at once.
EVAL_BATCH_SIZE = 1000
GPU_EVAL_BATCH_SIZE = 10_000


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
