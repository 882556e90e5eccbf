"""Collecting the trials' records into tables: every trial's parameters and results
(trials.csv), its accuracies on the corrupted test sets (robustness.csv), the notebook's table
per experiment, and each condition against its baselines (comparisons.csv).

The texts written from these tables are elsewhere: summary.md in :mod:`cifar_noise.summary`, the
report's first page in :mod:`cifar_noise.landing`."""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from .cifar import CLASS_NAMES
from .stats import holm, paired, welch

NOTEBOOK_COLUMNS = ("test_loss", "test_accuracy", "train_loss", "train_accuracy")
# The notebook's table, with its "validation" columns named for what they hold: the test set's numbers.
_HEADER = "Trial |test loss |test accuracy |training loss |training accuracy\n-|-|-|-|-\n"


def load_metrics(paths: list[str | os.PathLike]) -> list[dict]:
    return [json.loads(open(p).read()) for p in paths]


ROBUSTNESS_COLUMNS = ["experiment", "trial", "corruption", "noise", "severity", "value", "accuracy", "loss"]


def robustness_table(reports: list[dict]) -> pd.DataFrame:
    """One row per trial, corruption and severity (the trials' robustness.json files)."""
    rows = [
        {"experiment": report["experiment"], "trial": report["trial"], **result}
        for report in reports
        for result in report["corruptions"]
    ]
    table = pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)  # only these columns are kept
    return table.sort_values(["experiment", "trial", "corruption", "severity"], kind="stable").reset_index(drop=True)


def trials_table(
    metrics: list[dict], descriptions: dict[str, str] | None = None, robustness: list[dict] | None = None
) -> pd.DataFrame:
    """One row per trial: its experiment's description (from the config, not the trial), every
    parameter, every result, per-class accuracies as columns; with ``robustness`` (the trials'
    robustness.json), the mean corruption accuracy and each corruption's mean over its severities."""
    on_corrupted = {(r["experiment"], r["trial"]): r for r in robustness or []}
    rows = []
    for m in metrics:
        params = {"description": (descriptions or {}).get(m["params"]["experiment"]), **m["params"]}
        for key, value in params.pop("noise_params").items():
            params[f"noise_{key}"] = value
        row = {**params}
        row.update({key: m[key] for key in NOTEBOOK_COLUMNS})
        row.update({f"test_accuracy_{name}": m["per_class_accuracy"][name] for name in CLASS_NAMES})
        for key in (
            "epochs",
            "train_images",
            "test_images",
            "train_seconds",
            "eval_seconds",
            "wall_seconds",
            "images_per_second",
            "resumed_from_epoch",
            "backend",
            "device",
            "threads",
            "git_commit",
        ):
            row[f"run_{key}" if key == "epochs" else key] = m.get(key)
        report = on_corrupted.get((m["experiment"], m["trial"]))
        if report:
            row["mean_corruption_accuracy"] = report["mean_corruption_accuracy"]
            by_corruption: dict[str, list[float]] = {}
            for result in report["corruptions"]:
                by_corruption.setdefault(result["corruption"], []).append(result["accuracy"])
            for name, accuracies in by_corruption.items():
                row[f"corruption_accuracy_{name}"] = sum(accuracies) / len(accuracies)
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(["experiment", "trial"], kind="stable").reset_index(drop=True)
    return table


def _fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def notebook_table(trials: pd.DataFrame, experiment: str) -> str:
    """The notebook's per-experiment Markdown table, with a Mean row."""
    rows = trials[trials["experiment"] == experiment].sort_values("trial")
    if rows.empty:
        raise ValueError(f"no trials of experiment {experiment!r}")
    first = rows.iloc[0]
    title = first["description"] or experiment
    noise = first["noise"] if first["noise"] == "none" else f"{first['noise']} x{first['enlarge']}"
    lines = [
        f"### {title}\n",
        f"`{experiment}`: {first['architecture']}, {first['train_size']} train / {first['test_images']} test "
        f"images, noise {noise}, {first['epochs']} epochs, batch {first['batch_size']}, "
        f"{len(rows)} trial{'s' if len(rows) != 1 else ''}\n",
        _HEADER.rstrip("\n"),
    ]
    for _, row in rows.iterrows():
        lines.append(f"{row['trial']}|" + "|".join(_fmt(row[c]) for c in NOTEBOOK_COLUMNS))
    lines.append("Mean|" + "|".join(_fmt(rows[c].mean()) for c in NOTEBOOK_COLUMNS))
    return "\n".join(lines) + "\n"


# What a comparison compares: accuracy on the clean test set, and the mean accuracy over every
# corrupted test set and severity (where the study has corruptions).
METRICS = {"clean": "test_accuracy", "corruption": "mean_corruption_accuracy"}

COMPARISON_COLUMNS = [
    "experiment", "baseline", "kind", "metric", "corruption", "severity", "n", "n_baseline", "mean", "mean_baseline",
    "n_paired", "paired_difference", "paired_ci_low", "paired_ci_high", "paired_p_value", "holm_p_value",
    "sd_difference", "min_detectable_difference", "trials_for_1pp",
    "welch_difference", "welch_ci_low", "welch_ci_high", "welch_df", "welch_p_value", "flag",
]  # fmt: skip


def comparisons_table(
    trials: pd.DataFrame,
    comparisons: list[dict],
    level: float = 0.95,
    min_trials: int = 3,
    robustness: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each noisy condition against its baseline(s): the paired t-test on the trials both ran (the
    primary test; Holm-adjusted over the conditions compared with the same baseline), its power,
    and Welch's unpaired t-test as a second column. With ``robustness`` (robustness.csv) also one
    row per corruption and severity (metric "severity"): a mean over the severities can hide an
    effect that shows only at the highest."""
    rows = [
        _comparison(comparison, {"metric": metric}, trials, column, level, min_trials)
        for metric, column in METRICS.items()
        if column in trials
        for comparison in comparisons
    ]
    if robustness is not None:
        for (corruption, severity), results in robustness.groupby(["corruption", "severity"], sort=True):
            where = {"metric": "severity", "corruption": corruption, "severity": severity}
            rows += [_comparison(c, where, results, "accuracy", level, min_trials) for c in comparisons]
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS).astype({"severity": "Int64"})  # blank: not a severity row
    # several conditions against one baseline, per metric (and corruption and severity): one family
    # of tests each
    for _, family in table.groupby(["baseline", "metric", "corruption", "severity"], dropna=False):
        table.loc[family.index, "holm_p_value"] = holm(family["paired_p_value"])
    return table


def _comparison(comparison: dict, where: dict, table: pd.DataFrame, column: str, level: float, min_trials: int):
    """One row of comparisons.csv: ``column`` of the condition's trials against the baseline's."""
    sides = [table[table["experiment"] == comparison[key]] for key in ("experiment", "baseline")]
    sides = [side[side[column].notna()] for side in sides]
    by_trial = [dict(zip(side["trial"], side[column], strict=True)) for side in sides]
    unpaired = welch(sides[0][column], sides[1][column], level, min_trials)
    return {
        **comparison,
        **where,
        **{key: unpaired[key] for key in ("n", "n_baseline", "mean", "mean_baseline", "flag")},
        **paired(*by_trial, level),
        **{f"welch_{key}": unpaired[key] for key in ("difference", "ci_low", "ci_high", "df", "p_value")},
    }
