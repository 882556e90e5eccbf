"""The seeded train/test split.

One permutation is applied to images *and* labels together (the notebook shuffled them with two
independent shuffles, which destroyed the pairing and pinned every run at chance accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import StudyError

TEST_SETS = ("rest", "official")
SHUFFLES = ("paired", "unpaired")


@dataclass
class Split:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def make_split(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    train_size: int,
    test_set: str,
    seed: int,
    test_size: int | None = None,
    shuffle: str = "paired",
) -> Split:
    """Permute the training pool with ``seed``; keep the first ``train_size`` for training.

    test_set "rest": the remaining training images followed by the official test images (the
    notebook's split); "official": the official test images only. ``test_size`` keeps a seeded
    random subset of the test set (in its original order), for quick runs.

    shuffle "unpaired" reproduces the notebook's bug on purpose: the labels of the training pool
    get a second, independent permutation, so every pool image carries the label of another
    image (the official test images keep their true labels, as in the notebook).
    """
    if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise ValueError("images and labels differ in length")
    pool = len(train_images)
    if not 0 < train_size <= pool:
        raise StudyError(f"train_size {train_size} is not between 1 and the {pool} training images available")
    if test_set not in TEST_SETS:
        raise StudyError(f"test_set must be one of {', '.join(TEST_SETS)}, not {test_set!r}")

    if shuffle not in SHUFFLES:
        raise StudyError(f"shuffle must be one of {', '.join(SHUFFLES)}, not {shuffle!r}")

    rng = np.random.default_rng(seed)
    order = rng.permutation(pool)
    label_order = order if shuffle == "paired" else np.random.default_rng([seed, 1]).permutation(pool)
    train = order[:train_size]
    if test_set == "rest":
        x_test = np.concatenate([train_images[order[train_size:]], test_images])
        y_test = np.concatenate([train_labels[label_order[train_size:]], test_labels])
    else:
        x_test, y_test = test_images, test_labels
    if test_size is not None:
        if test_size > len(x_test):
            raise StudyError(f"test_size {test_size} is larger than the {len(x_test)} test images of this split")
        keep = np.sort(rng.choice(len(x_test), size=test_size, replace=False))
        x_test, y_test = x_test[keep], y_test[keep]
    return Split(train_images[train], train_labels[label_order[:train_size]], np.ascontiguousarray(x_test), y_test)
