import math

import numpy as np
import pytest
from scipy import stats

from cifar_noise.stats import (
    goodness_of_fit,
    holm,
    mean_ci,
    min_detectable_difference,
    paired,
    paired_power,
    trials_needed,
    welch,
)


def test_mean_ci_against_scipy():
    values = [0.41, 0.39, 0.44, 0.40, 0.38]
    mean, low, high = mean_ci(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert mean == pytest.approx(0.404)
    assert (low, high) == pytest.approx(expected)


def test_mean_ci_of_one_value_has_no_interval():
    mean, low, high = mean_ci([0.4])
    assert mean == 0.4 and math.isnan(low) and math.isnan(high)


def test_welch_matches_scipy():
    a = [0.42, 0.45, 0.40, 0.44]
    b = [0.38, 0.37, 0.41, 0.36, 0.39]
    result = welch(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False)
    ci = reference.confidence_interval(0.95)
    assert result["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert result["p_value"] == pytest.approx(reference.pvalue)
    assert result["df"] == pytest.approx(reference.df)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert result["flag"] == ""


def test_welch_textbook_example():
    # Welch (1947)-style hand computation: means 20 and 15, variances 4 and 9, n = 5 and 10
    a = [18, 19, 20, 21, 22]  # mean 20, var 2.5
    b = [10, 12, 14, 15, 15, 16, 16, 17, 17, 18]  # mean 15, var 6.0
    result = welch(a, b)
    se = math.sqrt(2.5 / 5 + 6.0 / 10)
    df = (2.5 / 5 + 6.0 / 10) ** 2 / ((2.5 / 5) ** 2 / 4 + (6.0 / 10) ** 2 / 9)
    assert result["difference"] == pytest.approx(5.0)
    assert result["df"] == pytest.approx(df)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(5.0 / se, df))
    assert result["ci_low"] == pytest.approx(5.0 - stats.t.ppf(0.975, df) * se)


def test_welch_flags_too_few_trials():
    two = welch([0.4, 0.42], [0.38, 0.37, 0.39])
    assert "too few trials" in two["flag"] and not math.isnan(two["p_value"])
    one = welch([0.4], [0.38, 0.37, 0.39])
    assert "too few trials" in one["flag"] and math.isnan(one["p_value"]) and math.isnan(one["ci_low"])
    assert one["difference"] == pytest.approx(0.4 - 0.38)


def test_welch_identical_constant_samples():
    result = welch([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    assert result["difference"] == 0 and math.isnan(result["p_value"]) and result["flag"]


def test_goodness_of_fit_pools_rare_values_and_matches_scipy():
    pmf = {0: 0.5, 1: 0.3, 2: 0.15, 3: 0.04, 4: 0.01}
    samples = [0] * 52 + [1] * 27 + [2] * 16 + [3] * 4 + [4] * 1  # 100 samples
    result = goodness_of_fit(samples, pmf, min_expected=5)
    # 3 and 4 are expected 4 and 1 times: pooled into one cell (5 observed, 5 expected)
    reference = stats.chisquare([52, 27, 16, 5], [50, 30, 15, 5])
    assert result["cells"] == 4
    assert result["chi2"] == pytest.approx(reference.statistic)
    assert result["p_value"] == pytest.approx(reference.pvalue)


def test_goodness_of_fit_refuses_values_outside_the_support():
    with pytest.raises(ValueError, match=r"outside the support: \[7\]"):
        goodness_of_fit([0, 1, 7], {0: 0.5, 1: 0.5})


def test_paired_matches_scipy_on_the_common_trials():
    condition = {1: 0.42, 2: 0.45, 3: 0.40, 4: 0.44, 5: 0.43}
    baseline = {1: 0.40, 2: 0.41, 3: 0.39, 4: 0.40}  # trial 5 has no partner
    result = paired(condition, baseline, level=0.9)
    reference = stats.ttest_rel([0.42, 0.45, 0.40, 0.44], [0.40, 0.41, 0.39, 0.40])
    assert result["n_paired"] == 4
    assert result["paired_difference"] == pytest.approx(0.0275)
    assert result["paired_p_value"] == pytest.approx(reference.pvalue)
    ci = reference.confidence_interval(0.9)
    assert (result["paired_ci_low"], result["paired_ci_high"]) == pytest.approx((ci.low, ci.high))
    assert result["sd_difference"] == pytest.approx(np.std([0.02, 0.04, 0.01, 0.04], ddof=1))


def test_holm_against_a_worked_example():
    # p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1, then running max
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.01, math.nan])
    assert adjusted[0] == pytest.approx(0.01) and math.isnan(adjusted[1])


def test_power_against_a_simulation():
    sd, n, alpha = 0.02, 5, 0.05
    effect = min_detectable_difference(sd, n, alpha)
    assert paired_power(effect, sd, n, alpha) == pytest.approx(0.8)
    differences = np.random.default_rng(3).normal(effect, sd, size=(40_000, n))
    rejected = stats.ttest_1samp(differences, 0.0, axis=1).pvalue < alpha
    assert rejected.mean() == pytest.approx(0.8, abs=0.01)  # 40,000 runs: standard error 0.002
    assert paired_power(0.0, sd, n, alpha) == pytest.approx(alpha)


def test_trials_needed_is_the_first_count_with_enough_power():
    sd, alpha = 0.02, 0.05
    n = trials_needed(sd, 0.01, alpha)
    assert paired_power(0.01, sd, int(n), alpha) >= 0.8 > paired_power(0.01, sd, int(n) - 1, alpha)
    assert math.isnan(trials_needed(0.0, 0.01, alpha))
