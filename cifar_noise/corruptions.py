"""Corrupted test sets: how robust each trained model is, next to how accurate.

A corruption (config ``corruptions.sets``) is a registered noise (cifar_noise.noise) with fixed
parameters and one parameter varied over severities, e.g. Gaussian noise at CIFAR-10-C's five
sigmas. For every split, each corruption's test set is written once as a uint8 .npy (the severities
one after another, each over the same seeded subset of the split's test images) and shared by every
trial with that split: trial t of a condition and of its baseline meet the very same corrupted
images, so the paired comparison carries over. Each trial is then evaluated on them by a job of its
own that reads the trial's saved model; a new corruption never retrains anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import StudyError
from . import backend as backend_setup
from .fileio import file_digest, write_json
from .noise import perturb_chunked
from .provenance import package_versions
from .shards import NpyRows

# Keeps the corruption seeds apart from the split, noise and training seeds (cifar_noise.study).
CORRUPTION_PURPOSE = 4


# The default corruptions (config corruptions.sets): the study's three noises at five severities
# each, the classic impulse noise next to the notebook's salt-and-pepper (which adds U(-50, 50) to
# a share of the pixels instead of setting values to 0 or 255).
DEFAULT_CORRUPTIONS = {
    "gaussian": {
        "description": "Gaussian noise at CIFAR-10-C's sigmas (0.04-0.10 on the 0-1 scale)",
        "noise": "gaussian",
        "vary": "sigma",
        "severities": [10.2, 15.3, 20.4, 22.95, 25.5],
    },
    "impulse": {
        "description": "impulse noise at CIFAR-10-C's amounts (values set to 0 or 255)",
        "noise": "impulse",
        "vary": "amount",
        "severities": [0.01, 0.02, 0.03, 0.05, 0.07],
    },
    "salt_pepper": {
        "description": "the notebook's salt-and-pepper (+U(-50, 50) to each hit pixel) at rising probabilities",
        "noise": "salt_pepper",
        "vary": "probability",
        "severities": [0.05, 0.1, 0.2, 0.3, 0.5],
        "params": {"amplitude": 50},
    },
    # Severity 1 is the training noise's amplitude on more patches (5 instead of 3, about 12% of
    # the image); the amplitude then rises to 5x, where a patch is mostly clipped to black or white.
    "regional": {
        "description": "regional noise: 5 patches of 5x5, amplitude 25 to 125",
        "noise": "regional",
        "vary": "amplitude",
        "severities": [25, 50, 75, 100, 125],
        "params": {"patches": 5, "patch_size": 5},
    },
}


def severity_params(corruption: dict) -> list[dict]:
    """The noise parameters of each severity of a resolved corruption, mildest first."""
    return [{**corruption["params"], corruption["vary"]: value} for value in corruption["severities"]]


def subset_indices(test_images: int, size: int | None, split_seed: int) -> np.ndarray:
    """Which of the split's test images the corrupted sets hold (all when ``size`` is None or
    not smaller): a seeded subset in the original order, the same for every corruption."""
    if size is None or size >= test_images:
        return np.arange(test_images)
    rng = np.random.default_rng(np.random.SeedSequence([split_seed, CORRUPTION_PURPOSE]))
    return np.sort(rng.choice(test_images, size=size, replace=False))


def _definition_key(noise: str, params: dict) -> int:
    """A number that names one severity's definition: its seed depends on what it is, not on its
    name or position, so adding or reordering corruptions changes no existing set."""
    blob = json.dumps([noise, {k: float(v) for k, v in params.items()}], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")


def severity_seed(split_seed: int, noise: str, params: dict) -> np.random.SeedSequence:
    return np.random.SeedSequence([split_seed, CORRUPTION_PURPOSE, _definition_key(noise, params)])


def corrupt_test_set(
    test_images: np.ndarray, corruption: dict, split_seed: int, size: int | None, threads: int = 1
) -> np.ndarray:
    """The corrupted test set of one split: (severities x subset) images, uint8, severity by severity."""
    images = test_images[subset_indices(len(test_images), size, split_seed)]
    severities = severity_params(corruption)
    out = np.empty((len(severities) * len(images), *images.shape[1:]), dtype=np.uint8)
    for i, params in enumerate(severities):
        perturb_chunked(
            images,
            corruption["noise"],
            params,
            severity_seed(split_seed, corruption["noise"], params),
            threads,
            out=out[i * len(images) : (i + 1) * len(images)],
        )
    return out


class _RowWindow:
    """Rows ``start`` .. ``start + count`` of an NpyRows: one severity of a corrupted set."""

    def __init__(self, rows: NpyRows, start: int, count: int):
        self.rows, self.start, self.count = rows, start, count

    def __len__(self) -> int:
        return self.count

    def read_range(self, start: int, stop: int) -> np.ndarray:
        return self.rows.read_range(self.start + start, self.start + stop)


def evaluate_trial(
    params: dict,
    inputs: dict,
    output: str | os.PathLike,
    threads: int = 1,
    log: Callable[[str], None] = print,
    gpu_memory_fraction: float | None = None,
) -> dict:
    """Evaluate one trained trial on its split's corrupted test sets; write ``output`` (JSON).

    ``inputs``: model (.keras), test_labels (the split's) and corrupted ({corruption: .npy path}).
    ``params``: experiment, trial, scale_inputs, split_seed, test_size and the resolved corruptions.
    ``gpu_memory_fraction``: the job took a slot of a GPU (its share of the GPU's memory); None: CPU.
    """
    started = time.monotonic()
    backend_name = backend_setup.configure(threads, gpu_memory_fraction=gpu_memory_fraction)
    with backend_setup.gpu_memory_errors(gpu_memory_fraction):
        if gpu_memory_fraction is not None:
            backend_setup.require_gpu()
        results, test_images = _evaluate_on_corruptions(params, inputs, log)
    mean = float(np.mean([r["accuracy"] for r in results])) if results else float("nan")
    report = {
        "experiment": params["experiment"],
        "trial": params["trial"],
        "mean_corruption_accuracy": mean,
        "corruptions": results,
        "test_images": test_images,
        "eval_seconds": round(time.monotonic() - started, 3),
        "backend": backend_name,
        "device": backend_setup.device_description(),
        "versions": package_versions(),
        "inputs_sha256": {
            "model": file_digest(inputs["model"]),
            **{Path(p).name: file_digest(p) for p in inputs["corrupted"].values()},
        },
        "params": params,
    }
    write_json(output, report)
    log(f"mean corruption accuracy {mean:.4f} over {len(results)} corrupted sets of {test_images} images")
    return report


def _evaluate_on_corruptions(params: dict, inputs: dict, log: Callable[[str], None]) -> tuple[list[dict], int]:
    """Accuracy and loss of the trained model on every corruption and severity; the test images per set."""
    import keras

    from .evaluation import eval_batch_size, evaluate, predictor

    all_labels = np.load(inputs["test_labels"])
    labels = all_labels[subset_indices(len(all_labels), params["test_size"], params["split_seed"])]
    try:
        model = keras.saving.load_model(inputs["model"])
    except Exception as error:  # a damaged model file: say which, and how to get a good one
        raise StudyError(
            f"cannot load the trained model {inputs['model']} ({type(error).__name__}: {error}); "
            "delete it and rerun to retrain the trial"
        ) from None
    predict, batch = predictor(model, params["scale_inputs"]), eval_batch_size()  # compiled once, for every set
    results = []
    for name, corruption in params["corruptions"].items():
        path = inputs["corrupted"][name]
        rows = NpyRows(path)
        severities = severity_params(corruption)
        if rows.dtype != np.uint8 or len(rows) != len(severities) * len(labels):
            raise StudyError(
                f"{path} holds {len(rows)} {rows.dtype} images, expected {len(severities)} severities x "
                f"{len(labels)} uint8 test images; delete it and rerun"
            )
        for i, (value, values) in enumerate(zip(corruption["severities"], severities, strict=True)):
            window = _RowWindow(rows, i * len(labels), len(labels))
            result = evaluate(model, window, labels, batch, params["scale_inputs"], predict)
            results.append(
                {
                    "corruption": name,
                    "noise": corruption["noise"],
                    "severity": i + 1,
                    corruption["vary"]: value,
                    "value": value,
                    "params": values,
                    "accuracy": result["accuracy"],
                    "loss": result["loss"],
                }
            )
            log(f"  {name} severity {i + 1} ({corruption['vary']}={value:g}): accuracy {result['accuracy']:.4f}")
        rows.close()
    return results, len(labels)
