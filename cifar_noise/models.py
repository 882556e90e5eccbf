"""The notebook's two architectures, in backend-agnostic Keras 3.

ARCHITECTURES is the one registry of models: the config schema's list of architectures is made
from it. Each entry builds the layer stack from two seeded initializer factories.
"""

from __future__ import annotations

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


def build_model(architecture: str, seed: int):
    """A compiled model (Adam, categorical cross-entropy, accuracy), initialised from ``seed``."""
    import keras
    from keras import layers

    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {', '.join(ARCHITECTURES)}")
    counter = iter(range(1_000_000))

    def glorot():  # each layer gets its own seeded initializer, so weights depend only on ``seed``
        return keras.initializers.GlorotUniform(seed=seed + next(counter))

    def he():
        return keras.initializers.HeUniform(seed=seed + next(counter))

    stack = ARCHITECTURES[architecture](layers, glorot, he)
    model = keras.Sequential([keras.Input((32, 32, 3)), *stack], name=architecture)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
