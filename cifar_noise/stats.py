"""The statistics of the study: means with t-intervals, and Welch's t for condition vs baseline."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its two-sided Student-t confidence interval; (mean, nan, nan) for fewer than 2 values."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2:
        return mean, math.nan, math.nan
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
