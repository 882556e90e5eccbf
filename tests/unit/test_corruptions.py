"""Corrupted test sets: each a deterministic function of its split, corruption and seed."""

import hashlib
import math

import numpy as np
import pytest
from fixtures import flat_images, random_images
from scipy import stats
from workflow_runner import TINY_EXPERIMENT

from cifar_noise import StudyError
from cifar_noise.corruptions import DEFAULT_CORRUPTIONS, corrupt_test_set, subset_indices
from cifar_noise.noise import rounded_gaussian
from cifar_noise.schema import validate_config
from cifar_noise.stats import goodness_of_fit
from cifar_noise.study import Study

GAUSSIAN = {"noise": "gaussian", "vary": "sigma", "severities": [10.0, 25.0], "params": {}}


IMPULSE = {"noise": "impulse", "vary": "amount", "severities": [0.01, 0.07], "params": {}}


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(array.tobytes()).hexdigest()


def test_a_corrupted_set_is_a_deterministic_function_of_split_corruption_and_seed():
    images = random_images(300, seed=4)
    first = corrupt_test_set(images, GAUSSIAN, split_seed=11, size=200)
    assert first.dtype == np.uint8 and first.shape == (2 * 200, 32, 32, 3)
    assert digest(first) == digest(corrupt_test_set(images, GAUSSIAN, split_seed=11, size=200))
    assert digest(first) != digest(corrupt_test_set(images, GAUSSIAN, split_seed=12, size=200))
    # one severity's images depend on what it is, not on its neighbours or its position
    alone = corrupt_test_set(images, {**GAUSSIAN, "severities": [25.0]}, split_seed=11, size=200)
    assert digest(alone) == digest(first[200:])


def test_every_severity_holds_the_same_seeded_subset_of_the_test_images():
    images = random_images(300, seed=5)
    keep = subset_indices(300, 120, split_seed=3)
    assert len(keep) == 120 and np.all(np.diff(keep) > 0)
    assert np.array_equal(keep, subset_indices(300, 120, split_seed=3))
    assert not np.array_equal(keep, subset_indices(300, 120, split_seed=4))
    assert np.array_equal(subset_indices(300, None, split_seed=3), np.arange(300))
    zero = {"noise": "gaussian", "vary": "sigma", "severities": [0, 0], "params": {}}
    out = corrupt_test_set(images, zero, split_seed=3, size=120)
    assert np.array_equal(out[:120], images[keep]) and np.array_equal(out[120:], images[keep])


@pytest.mark.parametrize("sigma", [10.0, 25.0])
def test_gaussian_severities_follow_their_rounded_normal(sigma):
    images = flat_images(128, 1000)
    out = corrupt_test_set(images, {**GAUSSIAN, "severities": [10.0, 25.0]}, split_seed=2, size=None)
    severity = out[:1000] if sigma == 10.0 else out[1000:]
    diff = severity.astype(int) - 128
    values, probabilities = rounded_gaussian(sigma)
    assert (
        goodness_of_fit(diff.ravel(), dict(zip(values.tolist(), probabilities.tolist(), strict=True)))["p_value"] > 1e-3
    )
    assert abs(diff.std() - math.sqrt(sigma**2 + 1 / 12)) < 0.05


def test_impulse_severities_hit_their_amount_of_values():
    images = flat_images(128, 500)
    out = corrupt_test_set(images, IMPULSE, split_seed=2, size=None)
    for amount, severity in zip(IMPULSE["severities"], (out[:500], out[500:]), strict=True):
        hit = severity != 128
        assert set(np.unique(severity[hit]).tolist()) == {0, 255}
        assert stats.binomtest(int(hit.sum()), hit.size, amount).pvalue > 1e-3


def test_the_default_corruptions_are_the_study_noises_and_cifar10c_impulse():
    config = validate_config({"experiments": {"a": {**TINY_EXPERIMENT, "noise": "none"}}})
    assert config["corruptions"]["sets"] == {n: {"params": {}, **c} for n, c in DEFAULT_CORRUPTIONS.items()}
    study = Study(config)
    assert study.corruptions["gaussian"]["severities"] == pytest.approx([0.04 * 255, 0.06 * 255, 0.08 * 255,
                                                                           0.09 * 255, 0.10 * 255])  # fmt: skip
    assert study.corruptions["impulse"]["severities"] == [0.01, 0.02, 0.03, 0.05, 0.07]
    assert {c["noise"] for c in study.corruptions.values()} == {"gaussian", "impulse", "salt_pepper", "regional"}
    for corruption in study.corruptions.values():
        assert len(corruption["severities"]) == 5


@pytest.mark.fault(kind="bad config", real=True)
@pytest.mark.parametrize(
    ("corruption", "message"),
    [
        ({"noise": "gaussian", "vary": "amount", "severities": [1]}, "'amount' is not a parameter of noise 'gaussian'"),
        ({"noise": "impulse", "vary": "amount", "severities": [1.5]}, "1.5 is outside the range of amount"),
        ({"noise": "gaussian", "vary": "sigma", "severities": [5], "params": {"size": 3}}, "size do not apply"),
        ({"noise": "regional", "vary": "patches", "severities": [1.5]}, "patches takes whole numbers"),
        ({"noise": "regional", "vary": "amplitude", "severities": [5], "params": {"patch_size": 4}}, "must be odd"),
        ({"noise": "speckle", "vary": "sigma", "severities": [5]}, "corruptions.sets.bad.noise"),
    ],
)
def test_a_bad_corruption_is_refused_naming_its_key(corruption, message):
    config = {"experiments": {"a": {**TINY_EXPERIMENT, "noise": "none"}}, "corruptions": {"sets": {"bad": corruption}}}
    with pytest.raises(StudyError, match="corruptions.sets.bad") as error:
        validate_config(config)
    assert message in str(error.value)
