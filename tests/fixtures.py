"""Tiny CIFAR-format data for the tests, with each image's label and index written into its pixels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from cifar_noise.cifar import Cifar10, write_archive
from cifar_noise.params import TrialParams
from cifar_noise.shards import build_shard, shard_count, write_shard


def trial_params(seed: int, **fields) -> TrialParams:
    """A trial's parameters outside a study: trial 1 of seed_a unless ``fields`` say otherwise, with
    every seed ``seed``."""
    seeds = {"seed": seed, "split_seed": seed, "noise_seed": seed, "train_seed": seed}
    return TrialParams(**{"trial": 1, "architecture": "seed_a", **seeds, **fields})


def labelled_images(count: int, seed: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose red channel is 20 * label + 5 everywhere and whose pixel (0, 0) green/blue hold
    the image's index (``offset`` + i) as a 16-bit number; the rest is random.

    So a split or shard that separated an image from its label, or lost track of which image it
    is, is caught by :func:`decode_label` / :func:`decode_index`.
    """
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = (20 * labels + 5)[:, None, None]
    index = np.arange(offset, offset + count)
    images[:, 0, 0, 1] = index // 256
    images[:, 0, 0, 2] = index % 256
    return images, labels


def decode_label(images: np.ndarray) -> np.ndarray:
    """The label written into the red channel (robust to noise of up to +-9 per value, on average)."""
    return np.clip(np.rint((images[..., 0].astype(np.float64).mean(axis=(1, 2)) - 5) / 20), 0, 9).astype(np.uint8)


def decode_index(images: np.ndarray) -> np.ndarray:
    return images[:, 0, 0, 1].astype(np.int64) * 256 + images[:, 0, 0, 2]


def tiny_cifar(train: int = 300, test: int = 100, seed: int = 0) -> Cifar10:
    train_images, train_labels = labelled_images(train, seed)
    test_images, test_labels = labelled_images(test, seed + 1, offset=train)
    return Cifar10(train_images, train_labels, test_images, test_labels)


def write_tiny_archive(path: str | Path, train: int = 300, test: int = 100, seed: int = 0) -> str:
    """Write a tiny CIFAR-10 python archive; return its md5."""
    write_archive(path, tiny_cifar(train, test, seed))
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_shards(
    folder: str | Path,
    images: np.ndarray,
    enlarge: int,
    shard_size: int,
    noise: str = "none",
    params: dict | None = None,
    noise_seed: int = 0,
) -> list[Path]:
    """Every shard of the perturbed copies of ``images`` (x ``enlarge``) in ``folder``, as the workflow
    writes them: shard-0000.npy, shard-0001.npy, ..."""
    paths = []
    for s in range(shard_count(len(images), enlarge, shard_size)):
        paths.append(Path(folder) / f"shard-{s:04d}.npy")
        write_shard(paths[-1], build_shard(images, s, enlarge, shard_size, noise, params or {}, noise_seed=noise_seed))
    return paths


def flat_images(value: int, count: int = 200) -> np.ndarray:
    return np.full((count, 32, 32, 3), value, dtype=np.uint8)


def random_images(count: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
