"""The perturbations of the study, on uint8 images (N, 32, 32, 3), 0-255 scale: the notebook's
three, Cutout to compare them with, and CIFAR-10-C's impulse noise. Each is one function registered in NOISES.

The notebook's, as it wrote them:

- regional: ``patches`` random ``patch_size`` x ``patch_size`` squares per image, centre row and
  column uniform in [patch_size//2, 32 - patch_size//2) (the notebook's ``randrange(2, 30)``);
  every channel value inside a square gets ``+= U(-amplitude, amplitude)``; overlapping squares add up.
- salt_pepper: each pixel independently with probability ``probability``; each of its channel values
  gets ``+= U(-amplitude, amplitude)``.
- gaussian: every channel value gets ``+= N(0, sigma^2)``.

Cutout (DeVries & Taylor 2017), the augmentation researchers usually compare against: one
``size`` x ``size`` square per image, its centre uniform over the image and cut off at the border,
set to 0.

Impulse noise as CIFAR-10-C defines it (scikit-image's ``random_noise(mode="s&p")``): each channel
value independently with probability ``amount`` becomes 0 or 255 (half each). It corrupts test sets
(cifar_noise.corruptions); unlike the notebook's salt-and-pepper it adds nothing, it replaces.

Deviation from the notebook, which added the noise to unclipped float64 arrays: we store uint8, so
the perturbed value is rounded to the nearest integer once (after all noise of an image is added)
and clipped to 0..255. Since pixels are integers, ``round(x + n) == x + round(n)``: for the
Gaussian we therefore draw ``round(n)`` directly from its exact discrete distribution
(P(k) = Phi((k + 1/2)/sigma) - Phi((k - 1/2)/sigma)) through a 32-bit inverse-CDF table, which is
far faster than drawing float normals and identical in distribution up to 2**-32 per value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NoiseType:
    """One kind of noise: ``apply(images, out, rng, **params)`` writes perturbed copies of uint8
    ``images`` into ``out``; ``params`` holds each parameter's JSON schema, with its default."""

    apply: Callable[..., None]
    params: dict[str, dict]
    description: str

    @property
    def defaults(self) -> dict:
        return {name: spec["default"] for name, spec in self.params.items()}


# The one registry of noises: the config schema's noise enums, parameters and defaults are made
# from it (cifar_noise.schema), and every noise gets its example plot. Adding a noise is one
# function with @register, plus its tests.
NOISES: dict[str, NoiseType] = {}


def register(name: str, description: str, **params: dict):
    def add(apply):
        NOISES[name] = NoiseType(apply, params, description)
        return apply

    return add


def noise_types() -> tuple[str, ...]:
    return ("none", *NOISES)


def default_params(noise: str) -> dict:
    return {} if noise == "none" else NOISES[noise].defaults


# Images are perturbed in blocks this small so that the temporaries stay in the CPU cache.
_BLOCK = 64
# A shard is cut into chunks of this many images, each with its own random stream, so that the
# result does not depend on how many threads share the work.
CHUNK = 512


def condition_label(noise: str, params: dict) -> str:
    if noise == "none":
        return "no noise"
    return f"{noise} (" + ", ".join(f"{k}={v:g}" for k, v in sorted(params.items())) + ")"


def condition_slug(noise: str, params: dict) -> str:
    """A file-name-safe name of a noise condition, e.g. ``gaussian-sigma20``."""
    parts = [noise] + [f"{k}{v:g}" for k, v in sorted(params.items())]
    return "-".join(parts).replace("_", "")


class DiscreteSampler:
    """Draws integers with given probabilities by a 32-bit inverse CDF.

    A 65,536-entry table indexed by the top 16 bits of a uniform 32-bit word answers directly
    for every bucket that holds no CDF threshold (all but a few hundred); the rare words in the
    other buckets fall back to a binary search. Each value's probability is exact to 2**-32.
    """

    _AMBIGUOUS = np.iinfo(np.int16).min

    def __init__(self, values: np.ndarray, probabilities: np.ndarray):
        values = np.asarray(values, dtype=np.int16)
        cdf = np.cumsum(np.asarray(probabilities, dtype=np.float64))
        cdf /= cdf[-1]
        # u < thresholds[j] (and >= thresholds[j-1]) selects values[j]
        self.thresholds = np.round(cdf[:-1] * 2.0**32).astype(np.uint64)
        self.values = values
        bucket_lo = np.arange(1 << 16, dtype=np.uint64) << np.uint64(16)
        first = np.searchsorted(self.thresholds, bucket_lo, side="right")
        last = np.searchsorted(self.thresholds, bucket_lo + np.uint64(0xFFFF), side="right")
        self.table = np.where(first == last, values[first], self._AMBIGUOUS).astype(np.int16)

    @property
    def probabilities(self) -> np.ndarray:
        """The probabilities this sampler actually realises (multiples of 2**-32)."""
        edges = np.concatenate([[0], self.thresholds, [2**32]]).astype(np.float64)
        return np.diff(edges) / 2.0**32

    def sample(self, words: np.ndarray) -> np.ndarray:
        """Map uniform uint32 words to values (int16), one per word."""
        out = self.table[words >> np.uint32(16)]
        ambiguous = np.flatnonzero(out == self._AMBIGUOUS)
        if ambiguous.size:
            idx = np.searchsorted(self.thresholds, words[ambiguous].astype(np.uint64), side="right")
            out[ambiguous] = self.values[idx]
        return out


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in z])


def rounded_gaussian(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Support and probabilities of round(N(0, sigma^2)); tails beyond 8 sigma are folded in."""
    reach = int(math.ceil(8 * sigma)) + 1
    values = np.arange(-reach, reach + 1)
    upper = _normal_cdf((values + 0.5) / sigma)
    lower = _normal_cdf((values - 0.5) / sigma)
    probabilities = upper - lower
    probabilities[0] += lower[0]
    probabilities[-1] += 1.0 - upper[-1]
    return values, probabilities


_SAMPLERS: dict[float, DiscreteSampler] = {}


def gaussian_sampler(sigma: float) -> DiscreteSampler:
    if sigma not in _SAMPLERS:
        _SAMPLERS[sigma] = DiscreteSampler(*rounded_gaussian(sigma))
    return _SAMPLERS[sigma]


def _uint32_words(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.bit_generator.random_raw((n + 1) // 2)
    return raw.view(np.uint32)[:n]


# Where perturbed values are stored: uint8 (clipped to 0..255, the default) or int16 (the
# notebook's unclipped values, which the schema's bounds on every amplitude keep far inside int16).
STORAGE = {True: np.uint8, False: np.int16}


def _bounds(out: np.ndarray) -> tuple[int, int]:
    """0..255 for uint8 storage; the int16 range (never reached) for unclipped storage."""
    info = np.iinfo(out.dtype)
    return (0, 255) if out.dtype == np.uint8 else (info.min, info.max)


def _round_clip(values: np.ndarray, out: np.ndarray) -> None:
    np.rint(values, out=values)
    np.clip(values, *_bounds(out), out=values)
    out[...] = values


@register(
    "gaussian",
    "every channel value += N(0, sigma^2)",
    sigma={"type": "number", "minimum": 0, "maximum": 1000, "default": 20},
)
def _gaussian(images, out, rng, sigma):
    if sigma == 0:
        out[...] = images
        return
    sampler = gaussian_sampler(float(sigma))
    flat_in = images.reshape(len(images), -1)
    flat_out = out.reshape(len(out), -1)
    for start in range(0, len(images), _BLOCK):
        block = flat_in[start : start + _BLOCK]
        noise = sampler.sample(_uint32_words(rng, block.size)).reshape(block.shape)
        noise += block
        np.clip(noise, *_bounds(out), out=noise)
        flat_out[start : start + _BLOCK] = noise


@register(
    "salt_pepper",
    "each pixel with probability p: every channel value += U(-amplitude, amplitude)",
    probability={"type": "number", "minimum": 0, "maximum": 1, "default": 0.1},
    amplitude={"type": "number", "minimum": 0, "maximum": 1000, "default": 50},
)
def _salt_pepper(images, out, rng, probability, amplitude):
    out[...] = images
    n = len(images)
    # P(word < threshold) = threshold / 2**32, within 2**-32 of ``probability``
    threshold = np.uint32(min(round(probability * 2**32), 2**32 - 1))
    hit = _uint32_words(rng, n * 32 * 32).reshape(n, 32, 32) < threshold
    picked = images[hit].astype(np.float64)
    picked += amplitude * (2.0 * rng.random(picked.shape) - 1.0)
    stored = np.empty(picked.shape, dtype=out.dtype)
    _round_clip(picked, stored)
    out[hit] = stored


@register(
    "regional",
    "random patch_size x patch_size squares: every channel value inside += U(-amplitude, amplitude)",
    patches={"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
    patch_size={"type": "integer", "minimum": 1, "maximum": 31, "default": 5, "description": "odd number of pixels"},
    amplitude={"type": "number", "minimum": 0, "maximum": 1000, "default": 25},
)
def _regional(images, out, rng, patches, patch_size, amplitude):
    half = patch_size // 2
    offsets = np.arange(patch_size) - half
    for start in range(0, len(images), _BLOCK):
        block = images[start : start + _BLOCK]
        n = len(block)
        field = np.zeros(block.shape, dtype=np.float64)
        centres = rng.integers(half, 32 - half, size=(n, patches, 2))
        noise = amplitude * (2.0 * rng.random((n, patches, patch_size, patch_size, 3)) - 1.0)
        rows = centres[:, :, 0, None, None] + offsets[None, None, :, None]  # (n, patches, size, 1)
        cols = centres[:, :, 1, None, None] + offsets[None, None, None, :]  # (n, patches, 1, size)
        image = np.arange(n)[:, None, None, None]
        for p in range(patches):  # one patch at a time, so that overlapping patches add up
            field[image[:, 0], rows[:, p], cols[:, p]] += noise[:, p]
        field += block
        _round_clip(field, out[start : start + n])


@register(
    "cutout",
    "Cutout (DeVries & Taylor 2017): one size x size square per image, centre uniform over the image "
    "(the square is cut off at the border), set to 0 in every channel",
    size={"type": "integer", "minimum": 1, "maximum": 32, "default": 16},
)
def _cutout(images, out, rng, size):
    out[...] = images
    n = len(images)
    centres = rng.integers(0, 32, size=(n, 2))
    low = np.clip(centres - size // 2, 0, 32)
    high = np.clip(centres - size // 2 + size, 0, 32)
    grid = np.arange(32)
    rows = (grid[None, :] >= low[:, :1]) & (grid[None, :] < high[:, :1])  # (n, 32)
    cols = (grid[None, :] >= low[:, 1:]) & (grid[None, :] < high[:, 1:])
    out[rows[:, :, None] & cols[:, None, :]] = 0


@register(
    "impulse",
    "impulse noise as in CIFAR-10-C: a share `amount` of the channel values set to 0 or 255 (half each)",
    amount={"type": "number", "minimum": 0, "maximum": 1, "default": 0.03},
)
def _impulse(images, out, rng, amount):
    out[...] = images
    # P(word < threshold) = threshold / 2**32, within 2**-32 of ``amount``
    threshold = np.uint32(min(round(amount * 2**32), 2**32 - 1))
    hit = _uint32_words(rng, images.size).reshape(images.shape) < threshold
    salt = rng.random(int(hit.sum())) < 0.5
    out[hit] = np.where(salt, 255, 0).astype(out.dtype)


def perturb_into(images: np.ndarray, out: np.ndarray, noise: str, params: dict, rng: np.random.Generator) -> None:
    """Write a perturbed copy of ``images`` (uint8, N x 32 x 32 x 3) into ``out``."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected uint8 images of shape (N, 32, 32, 3), got {images.dtype} {images.shape}")
    if noise == "none":
        out[...] = images
    elif noise in NOISES:
        NOISES[noise].apply(images, out, rng, **params)
    else:
        raise ValueError(f"unknown noise {noise!r}; expected one of {', '.join(noise_types())}")


def clipped_share(images: np.ndarray, noise: str, params: dict, seed: int) -> dict:
    """How much clipping to 0..255 changes this noise on ``images``: the share of values that the
    notebook's unclipped noise puts below 0 or above 255 (those are the values clipping changes)."""
    unclipped = perturb_chunked(images, noise, params, np.random.SeedSequence(seed), clip=False)
    outside = int(((unclipped < 0) | (unclipped > 255)).sum())
    return {"values": int(unclipped.size), "clipped": outside, "share": outside / max(unclipped.size, 1)}


def perturb(images: np.ndarray, noise: str, params: dict, rng: np.random.Generator) -> np.ndarray:
    out = np.empty_like(images)
    perturb_into(images, out, noise, params, rng)
    return out


def perturb_chunked(
    images: np.ndarray,
    noise: str,
    params: dict,
    seed: np.random.SeedSequence,
    threads: int = 1,
    out: np.ndarray | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Perturb ``images`` in chunks of CHUNK images, chunk i drawing from ``seed.spawn``'s i-th child.

    The result depends only on ``seed`` and the images, not on ``threads``. ``clip=False`` keeps the
    notebook's unclipped values (int16); the random draws, and so every unclipped value, are the same.
    """
    if out is None:
        out = np.empty(images.shape, dtype=STORAGE[clip])
    starts = range(0, len(images), CHUNK)
    children = seed.spawn(len(starts))

    def work(i):
        s = slice(starts[i], starts[i] + CHUNK)
        perturb_into(images[s], out[s], noise, params, np.random.default_rng(children[i]))

    if threads <= 1 or len(starts) == 1:
        for i in range(len(starts)):
            work(i)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(len(starts))))
    return out


# Every noise type's default parameters ("none": none), for callers that want them all at once.
DEFAULT_PARAMS = {name: default_params(name) for name in noise_types()}
