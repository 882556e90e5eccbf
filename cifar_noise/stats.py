"""The statistics of the study: means with t-intervals; for condition vs baseline the paired t-test
on matched trials (the primary test), Welch's t as a second opinion, Holm's adjustment for several
conditions against one baseline, and the power of the paired test."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

POWER = 0.8  # the power at which the minimum detectable difference and the trials needed are given


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its two-sided Student-t confidence interval; (mean, nan, nan) for fewer than 2 values."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2:
        return mean, math.nan, math.nan
    if values.std() == 0:  # identical values: an interval of width 0 (scipy would warn)
        return mean, mean, mean
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(level)
    return mean, float(interval.low), float(interval.high)


def welch(condition, baseline, level: float = 0.95, min_trials: int = 3) -> dict:
    """Difference of means (condition - baseline) with Welch's t: confidence interval on the
    Welch-Satterthwaite degrees of freedom and a two-sided p-value.

    ``flag`` says when the numbers cannot carry a conclusion: fewer than ``min_trials`` trials on
    either side (with a single trial no interval exists at all).
    """
    a = np.asarray(condition, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    result = {
        "n": a.size,
        "n_baseline": b.size,
        "mean": float(a.mean()) if a.size else math.nan,
        "mean_baseline": float(b.mean()) if b.size else math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "p_value": math.nan,
        "df": math.nan,
        "flag": "",
    }
    result["difference"] = result["mean"] - result["mean_baseline"]
    if min(a.size, b.size) < min_trials:
        result["flag"] = f"too few trials (need >= {min_trials} per side)"
    if min(a.size, b.size) < 2:
        return result
    if a.var() == 0 and b.var() == 0:
        result["flag"] = result["flag"] or "no variation between trials"
        return result
    test = stats.ttest_ind(a, b, equal_var=False)
    interval = test.confidence_interval(level)
    result.update(
        ci_low=float(interval.low), ci_high=float(interval.high), df=float(test.df), p_value=float(test.pvalue)
    )
    return result


def paired_power(effect: float, sd: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` with ``n`` pairs whose differences
    have standard deviation ``sd``, when the true mean difference is ``effect`` (noncentral t)."""
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = effect / sd * math.sqrt(n)
    # the far tail (a significant result of the wrong sign) is tiny; scipy returns NaN for it
    # with few degrees of freedom and a large shift
    far = stats.nct.cdf(-critical, df, abs(shift))
    return float(stats.nct.sf(critical, df, abs(shift)) + (far if math.isfinite(far) else 0.0))


def min_detectable_difference(sd: float, n: int, alpha: float, power: float = POWER) -> float:
    """The smallest true mean difference that ``n`` pairs detect with probability ``power``."""
    if n < 2 or not sd > 0:
        return math.nan
    high = sd
    while paired_power(high, sd, n, alpha) < power:  # bracket the root (power grows with the effect)
        high *= 2
    return float(optimize.brentq(lambda e: paired_power(e, sd, n, alpha) - power, 0.0, high, xtol=1e-12 * sd))


def trials_needed(sd: float, effect: float, alpha: float, power: float = POWER, most: int = 1_000_000) -> float:
    """The fewest pairs (>= 2) whose paired t-test detects ``effect`` with probability ``power``."""
    if not sd > 0:
        return math.nan
    low, high = 1, 2
    while paired_power(effect, sd, high, alpha) < power:  # double, then bisect
        low, high = high, high * 2
        if high > most:
            return math.inf
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if paired_power(effect, sd, middle, alpha) < power else (low, middle)
    return float(high)


def paired(condition: dict[int, float], baseline: dict[int, float], level: float = 0.95) -> dict:
    """Condition - baseline on the trials both ran (trial t of both shares its split and initial
    weights): mean difference, paired-t interval and p-value, the spread of the differences, the
    smallest difference these trials detect with 80% power and the trials needed for 1 point."""
    common = sorted(set(condition) & set(baseline))
    a = np.array([condition[t] for t in common], dtype=np.float64)
    b = np.array([baseline[t] for t in common], dtype=np.float64)
    differences = a - b
    result = {
        "n_paired": len(common),
        "paired_difference": float(differences.mean()) if common else math.nan,
        "paired_ci_low": math.nan,
        "paired_ci_high": math.nan,
        "paired_p_value": math.nan,
        "sd_difference": math.nan,
        "min_detectable_difference": math.nan,
        "trials_for_1pp": math.nan,
    }
    if len(common) < 2:
        return result
    sd = float(differences.std(ddof=1))
    alpha = 1 - level
    result.update(
        sd_difference=sd,
        min_detectable_difference=min_detectable_difference(sd, len(common), alpha),
        trials_for_1pp=trials_needed(sd, 0.01, alpha),
    )
    if sd > 0:
        test = stats.ttest_rel(a, b)
        interval = test.confidence_interval(level)
        result.update(
            paired_ci_low=float(interval.low), paired_ci_high=float(interval.high), paired_p_value=float(test.pvalue)
        )
    return result


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    steps = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted[order] = np.minimum(steps, 1.0)
    return adjusted.tolist()


def goodness_of_fit(samples, pmf: dict[int, float], min_expected: float = 20.0) -> dict:
    """Pearson's chi-square test of integer samples against a discrete law ``{value: probability}``.

    Values expected fewer than ``min_expected`` times are pooled into one cell, so that the test's
    chi-square approximation holds; a sample outside the law's support is an error, not a cell.
    """
    values = np.fromiter(pmf, dtype=np.int64)
    probabilities = np.fromiter(pmf.values(), dtype=np.float64)
    samples = np.asarray(samples, dtype=np.int64).ravel()
    outside = samples[~np.isin(samples, values)]
    if outside.size:
        raise ValueError(f"values outside the support: {np.unique(outside)[:5].tolist()}")
    low = values.min()
    counts = np.bincount(samples - low, minlength=values.max() - low + 1)[values - low]
    expected = probabilities * samples.size
    keep = expected >= min_expected
    observed, expected = counts[keep], expected[keep]
    if not keep.all():
        observed = np.append(observed, counts[~keep].sum())
        expected = np.append(expected, probabilities[~keep].sum() * samples.size)
    test = stats.chisquare(observed, expected)
    return {"chi2": float(test.statistic), "cells": int(observed.size), "p_value": float(test.pvalue)}
