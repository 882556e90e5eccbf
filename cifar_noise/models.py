"""The notebook's two architectures, in backend-agnostic Keras 3, and what a training step costs.

ARCHITECTURES is the one registry of models: the config schema's list of architectures is made
from it. Each entry builds the layer stack from two seeded initializer factories. PRECISIONS maps
``training.precision`` to a Keras dtype policy. :func:`flops_per_image` is the one FLOP count,
used by both benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def _seed_a(layers, glorot, he) -> list:
    return [
        layers.Conv2D(64, 3, activation="relu", padding="same", kernel_initializer=glorot()),
        layers.Conv2D(64, 3, activation="relu", padding="same", kernel_initializer=glorot()),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu", kernel_regularizer="l2", kernel_initializer=glorot()),
        layers.Dense(30, activation="relu", kernel_initializer=glorot()),
        layers.Dense(10, activation="softmax", kernel_initializer=glorot()),
    ]


def _seed_b(layers, glorot, he) -> list:
    return [
        layers.Conv2D(32, 3, activation="relu", padding="same", kernel_initializer=he()),
        layers.Conv2D(32, 3, activation="relu", padding="same", kernel_initializer=he()),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu", padding="same", kernel_initializer=he()),
        layers.Conv2D(64, 3, activation="relu", padding="same", kernel_initializer=he()),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu", kernel_initializer=he()),
        layers.Dense(10, activation="softmax", kernel_initializer=glorot()),
    ]


ARCHITECTURES: dict[str, Callable[..., list]] = {"seed_a": _seed_a, "seed_b": _seed_b}

# training.precision -> Keras dtype policy. bfloat16 computes in bfloat16 and keeps float32 weights
# (Keras's mixed precision); the output layer stays float32, so that the loss sees precise
# probabilities, as Keras's mixed-precision guide advises.
PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def build_model(architecture: str, seed: int, precision: str = "float32"):
    """A compiled model (Adam, categorical cross-entropy, accuracy), initialised from ``seed``."""
    import keras
    from keras import layers

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    counter = iter(range(1_000_000))

    def glorot():  # each layer gets its own seeded initializer, so weights depend only on ``seed``
        return keras.initializers.GlorotUniform(seed=seed + next(counter))

    def he():
        return keras.initializers.HeUniform(seed=seed + next(counter))

    default_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:  # the layers take the policy when they are made; restore the default for other models
        stack = ARCHITECTURES[architecture](layers, glorot, he)
    finally:
        keras.config.set_dtype_policy(default_policy)
    stack[-1].dtype_policy = "float32"
    model = keras.Sequential([keras.Input((32, 32, 3)), *stack], name=architecture)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def flops_per_image(architecture: str) -> float:
    """Training FLOPs per image: 2 per multiply-add of the forward pass's convolutions and dense
    layers, times 3 for the forward and the backward pass (the usual estimate; pooling,
    activations and the optimizer are left out). Read off the built model, so it cannot drift
    from the architecture."""
    import keras

    multiply_adds = 0
    for layer in build_model(architecture, seed=0).layers:
        if isinstance(layer, keras.layers.Conv2D):  # every output value: one kernel's worth
            multiply_adds += math.prod(layer.output.shape[1:3]) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            multiply_adds += math.prod(layer.kernel.shape)
    return 6.0 * multiply_adds
