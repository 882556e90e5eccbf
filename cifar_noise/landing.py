"""The report's first page: the question, the design and the current answer, from the same
comparisons table and in the same number formats as summary.md."""

from __future__ import annotations

import math

import pandas as pd

from .stats import POWER
from .summary import p_value, plain, signed, signed_interval

LANDING_QUESTION = """\
Noise augmentation on CIFAR-10
==============================

**The question.** Does enlarging a small CIFAR-10 training set with noisy copies of its images
(regional, salt-and-pepper, Gaussian noise; Cutout for comparison) make a small CNN more accurate
on held-out images, and by how much?

**The design.** Every trial is one training run of its own. Trial t of every experiment with the
same train size and test set shares its split and its initial weights, so a condition and its
baseline are compared trial by trial (a paired t-test). Each noisy condition is compared with a
*step-matched* baseline: the original images trained for k·E epochs, as many optimizer steps as
the ×k enlarged set for E epochs.
"""


def report_landing(comparisons: pd.DataFrame, level: float = 0.95) -> str:
    """The report's first page (reStructuredText): the question, the design and the current answer
    with its uncertainty, from the same comparisons table as summary.md."""
    pct = f"{level:.0%}"
    lines = [LANDING_QUESTION]
    for metric, title in (
        ("clean", "**The answer so far** (paired differences in test accuracy, condition − baseline):"),
        ("corruption", "**And on corrupted test images** (paired differences in mean corruption accuracy):"),
    ):
        rows = comparisons[comparisons["metric"] == metric]
        if metric == "clean" or not rows.empty:
            lines += [title, ""] + _landing_lines(rows, pct) + [""]
    lines += ["The tables, every trial and every figure follow (Summary: summary.md and comparisons.csv).", ""]
    return "\n".join(lines)


def _landing_lines(comparisons: pd.DataFrame, pct: str) -> list[str]:
    lines = []
    if comparisons.empty:
        lines.append("No comparison in this study.")
    for _, row in comparisons.iterrows():
        if math.isnan(row["paired_ci_low"]):
            verdict = f"{signed(row['paired_difference'])} on {row['n_paired']} pair(s): no interval (too few trials)"
        else:
            verdict = (
                f"{row['paired_difference']:+.4f}, {pct} CI {signed_interval(row)}, "
                f"p {p_value(row['paired_p_value'])} (Holm {p_value(row['holm_p_value'])}), {row['n_paired']} pairs; "
                f"detectable with {POWER:.0%} power: {plain(row['min_detectable_difference'])}"
            )
        lines.append(f"- ``{row['experiment']}`` vs ``{row['baseline']}`` ({row['kind']}): {verdict}")
    return lines
