import math

import numpy as np
import pytest
from fixtures import flat_images, random_images
from scipy import stats

from cifar_noise import noise
from cifar_noise.noise import DEFAULT_PARAMS, perturb, perturb_chunked, rounded_gaussian
from cifar_noise.stats import goodness_of_fit


def rounded_uniform_pmf(amplitude: int) -> dict[int, float]:
    """Exact distribution of round(U(-a, a)) for an integer a: 1/2a inside, 1/4a at the two ends."""
    pmf = {k: 1 / (2 * amplitude) for k in range(-amplitude + 1, amplitude)}
    pmf[-amplitude] = pmf[amplitude] = 1 / (4 * amplitude)
    return pmf


@pytest.mark.parametrize("kind", list(noise.NOISES))
def test_shape_dtype_and_input_untouched(kind):
    images = random_images(50)
    before = images.copy()
    out = perturb(images, kind, DEFAULT_PARAMS[kind], np.random.default_rng(1))
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(images, before)
    assert not np.array_equal(out, images)


@pytest.mark.parametrize("kind", list(noise.NOISES))
def test_same_seed_same_noise_other_seed_other_noise(kind):
    images = random_images(40)
    a = perturb(images, kind, DEFAULT_PARAMS[kind], np.random.default_rng(5))
    b = perturb(images, kind, DEFAULT_PARAMS[kind], np.random.default_rng(5))
    c = perturb(images, kind, DEFAULT_PARAMS[kind], np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind", list(noise.NOISES))
def test_chunked_result_does_not_depend_on_threads(kind):
    images = random_images(3 * noise.CHUNK + 17)
    one = perturb_chunked(images, kind, DEFAULT_PARAMS[kind], np.random.SeedSequence(9), threads=1)
    two = perturb_chunked(images, kind, DEFAULT_PARAMS[kind], np.random.SeedSequence(9), threads=2)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("kind", ["regional", "salt_pepper", "gaussian"])
def test_values_are_clipped_not_wrapped(kind):
    params = {**DEFAULT_PARAMS[kind], **({"probability": 1.0} if kind == "salt_pepper" else {})}
    black = perturb(flat_images(0), kind, params, np.random.default_rng(2))
    white = perturb(flat_images(255), kind, params, np.random.default_rng(2))
    # The largest possible change; wrap-around would turn -1 into 255 and 256 into 0.
    reach = {"regional": 3 * 25, "salt_pepper": 50, "gaussian": 8 * 20 + 1}[kind]
    assert black.max() <= reach and white.min() >= 255 - reach
    assert black.mean() > 0 and white.mean() < 255


def test_gaussian_matches_rounded_normal_on_millions_of_values():
    sigma = 20.0
    images = flat_images(128, 1000)  # 3,072,000 values, far from the clipping bounds for |k| <= 127
    diff = perturb(images, "gaussian", {"sigma": sigma}, np.random.default_rng(11)).astype(int) - 128
    values, probabilities = rounded_gaussian(sigma)
    pmf = dict(zip(values.tolist(), probabilities.tolist(), strict=True))
    assert goodness_of_fit(diff.ravel(), pmf)["p_value"] > 1e-3
    assert abs(diff.mean()) < 0.05
    # Var(round(N(0, s^2))) = s^2 + 1/12 (Sheppard's correction)
    assert abs(diff.std() - math.sqrt(sigma**2 + 1 / 12)) < 0.05


def test_gaussian_agrees_with_rounding_float_normals():
    """Two-sample check against the obvious implementation: x + N(0, sigma^2), rounded and clipped."""
    images = random_images(300, seed=3)
    fast = perturb(images, "gaussian", {"sigma": 20.0}, np.random.default_rng(4)).astype(int)
    rng = np.random.default_rng(5)
    slow = np.clip(np.rint(images + rng.normal(0, 20, images.shape)), 0, 255).astype(int)
    assert stats.ks_2samp((fast - images).ravel(), (slow - images).ravel()).pvalue > 1e-3


def test_gaussian_sampler_probabilities_exact_to_2_pow_minus_32():
    values, probabilities = rounded_gaussian(20.0)
    sampler = noise.gaussian_sampler(20.0)
    assert np.abs(sampler.probabilities - probabilities).max() <= 2.0**-32
    # every 32-bit word in the ambiguous buckets maps like the plain inverse CDF would
    words = np.random.default_rng(0).integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    expected = values[np.searchsorted(sampler.thresholds, words.astype(np.uint64), side="right")]
    assert np.array_equal(sampler.sample(words), expected)


def test_gaussian_sigma_zero_is_identity():
    images = random_images(10)
    assert np.array_equal(perturb(images, "gaussian", {"sigma": 0}, np.random.default_rng(0)), images)


def test_salt_pepper_picks_pixels_with_probability_p_and_noises_every_channel():
    images = flat_images(128, 2000)
    out = perturb(images, "salt_pepper", {"probability": 0.1, "amplitude": 50.0}, np.random.default_rng(8))
    diff = out.astype(int) - 128
    picked = (diff != 0).any(axis=-1)
    n = picked.size
    assert abs(picked.mean() - 0.1) < 4 * math.sqrt(0.1 * 0.9 / n)
    # picked pixels: each channel is round(U(-50, 50)) independently
    p_value = goodness_of_fit(diff[picked].ravel(), rounded_uniform_pmf(50), min_expected=5)["p_value"]
    assert p_value > 1e-3
    assert np.abs(diff).max() <= 50


def test_regional_one_patch_is_a_5x5_square_centred_uniformly_in_2_to_29():
    images = flat_images(128, 5000)
    out = perturb(images, "regional", {"patches": 1, "patch_size": 5, "amplitude": 25.0}, np.random.default_rng(12))
    changed = (out != images).any(axis=-1)  # (N, 32, 32)
    top = changed.any(axis=2).argmax(axis=1)
    left = changed.any(axis=1).argmax(axis=1)
    height = 32 - changed.any(axis=2)[:, ::-1].argmax(axis=1) - top
    width = 32 - changed.any(axis=1)[:, ::-1].argmax(axis=1) - left
    assert height.max() <= 5 and width.max() <= 5
    full = (height == 5) & (width == 5)  # all but the rare squares whose edge noise rounded to 0
    assert full.mean() > 0.95
    for centre in (top[full] + 2, left[full] + 2):
        assert centre.min() == 2 and centre.max() == 29
        counts = np.bincount(centre - 2, minlength=28)
        assert stats.chisquare(counts).pvalue > 1e-3


def test_regional_three_patches_change_at_most_75_pixels():
    images = flat_images(128, 2000)
    out = perturb(images, "regional", DEFAULT_PARAMS["regional"], np.random.default_rng(15))
    changed = (out != images).any(axis=-1).sum(axis=(1, 2))
    assert changed.max() <= 75
    assert changed.min() >= 23  # at least one whole patch (overlaps can hide the others)
    assert (changed > 60).mean() > 0.5  # most images show three mostly separate patches


def test_regional_noise_values_are_rounded_uniform_25():
    images = flat_images(128, 3000)
    rng = np.random.default_rng(13)
    out = perturb(images, "regional", {"patches": 1, "patch_size": 5, "amplitude": 25.0}, rng)
    diff = (out.astype(int) - 128).reshape(len(images), -1)
    values = diff[diff != 0]  # one patch: 75 values per image drawn, all others exactly 0
    pmf = rounded_uniform_pmf(25)
    zero = pmf.pop(0)
    assert goodness_of_fit(values, {k: p / (1 - zero) for k, p in pmf.items()}, min_expected=5)["p_value"] > 1e-3
    assert abs((diff != 0).sum(axis=1).mean() - 75 * (1 - zero)) < 0.2


def test_regional_overlapping_patches_add_up():
    images = flat_images(128, 4000)
    out = perturb(images, "regional", {"patches": 2, "patch_size": 31, "amplitude": 25.0}, np.random.default_rng(14))
    # two 31x31 squares with centres in [15, 17) overlap almost everywhere: sums of two
    # uniforms reach beyond a single patch's +-25
    diff = out.astype(int) - 128
    assert np.abs(diff).max() > 25
    assert np.abs(diff).max() <= 50


def test_unknown_noise_and_bad_images_are_refused():
    with pytest.raises(ValueError, match="unknown noise"):
        perturb(random_images(2), "speckle", {}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8"):
        perturb(random_images(2).astype(np.float32), "gaussian", {"sigma": 1}, np.random.default_rng(0))


def zeroed_boxes(out: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(first row, last row + 1, first column, last column + 1) of each image's zeroed pixels."""
    boxes = []
    for image in out:
        rows, cols = np.nonzero((image == 0).all(axis=2))
        boxes.append((rows.min(), rows.max() + 1, cols.min(), cols.max() + 1))
    return boxes


def test_cutout_blanks_one_square_cut_off_at_the_border():
    images = flat_images(200, count=2000)
    out = perturb(images, "cutout", {"size": 16}, np.random.default_rng(21))
    for image, (top, bottom, left, right) in zip(out, zeroed_boxes(out), strict=True):
        assert (image[top:bottom, left:right] == 0).all()  # one solid rectangle...
        assert (image == 0).all(axis=2).sum() == (bottom - top) * (right - left)  # ...and nothing else
        assert (image[image != 0] == 200).all()
        # a 16 x 16 square whose centre is uniform over the image, cut off at the border
        assert 8 <= bottom - top <= 16 and 8 <= right - left <= 16
        assert top == 0 or bottom - top == 16 or bottom == 32
    # the square is whole when its centre is in [8, 24] on both axes: (17/32)^2 of the copies
    whole = sum(bottom - top == 16 and right - left == 16 for top, bottom, left, right in zeroed_boxes(out))
    assert stats.binomtest(whole, len(out), (17 / 32) ** 2).pvalue > 1e-3


@pytest.mark.parametrize("kind", list(noise.NOISES))
def test_unclipped_noise_is_the_clipped_noise_before_clipping(kind):
    images = random_images(300, seed=8)
    clipped = perturb_chunked(images, kind, DEFAULT_PARAMS[kind], np.random.SeedSequence(12))
    unclipped = perturb_chunked(images, kind, DEFAULT_PARAMS[kind], np.random.SeedSequence(12), clip=False)
    assert unclipped.dtype == np.int16
    assert np.array_equal(np.clip(unclipped, 0, 255), clipped)
    if kind not in ("cutout", "impulse"):  # they set values inside 0..255: nothing to clip
        assert (unclipped < 0).any() or (unclipped > 255).any()


def test_clipped_share_against_the_exact_law():
    # every value at 250: clipping changes exactly the values whose rounded noise exceeds +5
    values, probabilities = rounded_gaussian(20.0)
    expected = probabilities[values > 5].sum()
    share = noise.clipped_share(flat_images(250, count=400), "gaussian", {"sigma": 20.0}, seed=3)
    assert share["values"] == 400 * 32 * 32 * 3
    assert stats.binomtest(share["clipped"], share["values"], expected).pvalue > 1e-3
    assert noise.clipped_share(flat_images(128, count=10), "cutout", {"size": 16}, seed=3)["clipped"] == 0


def test_impulse_sets_a_share_amount_of_values_to_0_or_255_half_each():
    images = flat_images(128, 1000)  # 3,072,000 values
    out = perturb(images, "impulse", {"amount": 0.05}, np.random.default_rng(31))
    hit = out != 128
    assert set(np.unique(out[hit]).tolist()) == {0, 255}  # replaced, not shifted
    assert stats.binomtest(int(hit.sum()), hit.size, 0.05).pvalue > 1e-3
    assert stats.binomtest(int((out == 255).sum()), int(hit.sum()), 0.5).pvalue > 1e-3
    # every channel value on its own (CIFAR-10-C's skimage s&p): some pixels are hit in one channel only
    per_pixel = hit.sum(axis=-1)
    assert stats.binomtest(int((per_pixel == 1).sum()), per_pixel.size, 3 * 0.05 * 0.95**2).pvalue > 1e-3
