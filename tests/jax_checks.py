"""Checks that need Keras on JAX, run by the tests in a fresh interpreter (Keras fixes its backend
when it is first imported, and the test process has TensorFlow's):

    KERAS_BACKEND=jax python tests/jax_checks.py <check> '<json keyword arguments>'

Each check prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402
from fixtures import labelled_images, trial_params, write_shards  # noqa: E402

from cifar_noise.fileio import save_npy  # noqa: E402
from cifar_noise.shards import TrainingImages  # noqa: E402

TRAIN_SEED = 5


def _training_images(folder: Path, count: int, shard_size: int = 50) -> TrainingImages:
    """``count`` labelled images and their Gaussian copies (x 2), as a trial's training images."""
    images, labels = labelled_images(count, seed=7)
    save_npy(folder / "originals.npy", images)
    shards = write_shards(folder, images, enlarge=2, shard_size=shard_size, noise="gaussian", params={"sigma": 20.0})
    return TrainingImages(folder / "originals.npy", labels, shards, shard_size)


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in (*model.trainable_variables, *model.optimizer.variables)]


def follow_train_on_batch(folder: str, images: int, batch: int, epochs: int, steps: int) -> dict:
    """Train seed_a with Keras's train_on_batch loop and with the compiled loop (``steps`` optimizer
    steps per call) from the same initial weights over the same epochs; compare."""
    import keras

    from cifar_noise.cifar import to_inputs
    from cifar_noise.engine import CompiledLoop, compiled_predict
    from cifar_noise.loops import Progress, StreamingLoop, epoch_order
    from cifar_noise.models import build_model

    data = _training_images(Path(folder), images)

    def progress(epoch):
        return Progress(epoch, epochs, len(data), 3600, print)

    keras.utils.set_random_seed(TRAIN_SEED)
    reference = build_model("seed_a", TRAIN_SEED)
    keras_loop = StreamingLoop(reference, data, batch, TRAIN_SEED, scale=True)
    expected = [keras_loop.epoch(epoch, None, progress(epoch)) for epoch in range(epochs)]

    keras.utils.set_random_seed(TRAIN_SEED)
    model = build_model("seed_a", TRAIN_SEED)
    everything, _ = data.read(np.arange(len(data)))
    order = lambda epoch: epoch_order(len(data), TRAIN_SEED, epoch)  # noqa: E731
    loop = CompiledLoop(model, everything, data.labels, batch, order, scale=True, steps=steps)
    found = [loop.epoch(epoch, None, progress(epoch)) for epoch in range(epochs)]
    loop.sync_model()

    test = everything[:64]
    probs = compiled_predict(model, scale=True)(test)
    return {
        "steps": epochs * -(-len(data) // batch),
        "expected": expected,
        "found": found,
        "weight_difference": max(
            float(np.abs(a - b).max()) for a, b in zip(_weights(reference), _weights(model), strict=True)
        ),
        "weight_scale": max(float(np.abs(a).max()) for a in _weights(reference)),
        "predict_difference": float(np.abs(probs - np.asarray(model.predict_on_batch(to_inputs(test, True)))).max()),
    }


def trial(folder: str, images: int, epochs: int, batch: int, precision: str = "float32", **run) -> dict:
    """run_trial on ``images`` labelled images x 2 (Gaussian copies); its metrics.json."""
    from cifar_noise.train import Runtime, run_trial

    folder = Path(folder)
    inputs = _trial_inputs(folder, images)
    params = trial_params(
        experiment="engine",
        train_size=images,
        noise="gaussian",
        enlarge=2,
        epochs=epochs,
        batch_size=batch,
        precision=precision,
        shard_size=50_000,
        seed=TRAIN_SEED,
    )
    outputs = {name: str(folder / "out" / name) for name in ("model.keras", "history.csv", "metrics.json")}
    outputs = dict(zip(("model", "history", "metrics"), outputs.values(), strict=True))
    return run_trial(params, inputs, outputs, folder / "checkpoints", Runtime(progress_seconds=1, **run))


def _trial_inputs(folder: Path, images: int) -> dict:
    """A trial's split and shards, written once into ``folder`` (reused by later calls)."""
    names = ("train_images", "train_labels", "test_images", "test_labels")
    inputs = {name: str(folder / f"{name}.npy") for name in names}
    if not Path(inputs["test_labels"]).exists():
        train, train_labels = labelled_images(images, seed=3)
        test, test_labels = labelled_images(1000, seed=4, offset=images)
        for name, array in zip(inputs, (train, train_labels, test, test_labels), strict=True):
            save_npy(inputs[name], array)
        write_shards(folder, train, enlarge=2, shard_size=50_000, noise="gaussian", params={"sigma": 20.0})
    return {**inputs, "shards": [str(p) for p in sorted(folder.glob("shard-*.npy"))]}


if __name__ == "__main__":
    check, arguments = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[check](**arguments)))
