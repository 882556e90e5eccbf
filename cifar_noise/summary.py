"""results/summary.md: the study's tables as a reader can paste them into a paper, written from
trials.csv and comparisons.csv (:mod:`cifar_noise.aggregate`); and the number formats it shares
with the report's first page (:mod:`cifar_noise.landing`)."""

from __future__ import annotations

import math

import pandas as pd

from .design import DEFINITION_FIELDS, step_matched_points
from .stats import POWER, mean_ci

# ---- number formats (the public ones are the report's first page's too) ----------------------
# A statistic that could not be computed (NaN: too few trials, no spread) reads "n/a".


def interval(low: float, high: float, sign: str = "") -> str:
    return "n/a" if math.isnan(low) else f"[{low:{sign}.4f}, {high:{sign}.4f}]"


def signed_interval(comparison: pd.Series, test: str = "paired") -> str:
    """A comparison's interval of the difference (condition − baseline), from its ``test``: paired or welch."""
    return interval(comparison[f"{test}_ci_low"], comparison[f"{test}_ci_high"], sign="+")


def signed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.4f}"


def plain(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def p_value(value: float) -> str:
    return "n/a" if math.isnan(value) else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else ("more than 10⁶" if math.isinf(value) else f"{value:,.0f}")


def _mean_ci(values: pd.Series, level: float, min_trials: int) -> str:
    """The interval of a mean, as computed; one of fewer than ``min_trials`` trials says so (an accuracy
    interval of 2 trials can reach below 0: it is not clipped, it is too wide to mean anything)."""
    _, low, high = mean_ci(values, level)
    if math.isnan(low) or len(values) >= min_trials:
        return interval(low, high)
    return f"{interval(low, high)} ({len(values)} trials: too few to mean much)"


def summary_markdown(
    trials: pd.DataFrame,
    comparisons: pd.DataFrame,
    experiments: dict,
    sweeps: dict,
    level: float = 0.95,
    clipping: list[dict] | None = None,
    corruptions: dict | None = None,
    min_trials: int = 3,
) -> str:
    """results/summary.md: what a reader can paste into a paper. ``min_trials``: intervals of fewer
    trials are marked as too few to mean much (statistics.min_trials)."""
    # comparisons.csv holds both axes: clean test accuracy, and mean corruption accuracy where the
    # trials were evaluated on corrupted test sets. The comparisons and sweeps show the clean axis,
    # the robustness section both.
    clean = comparisons[comparisons["metric"] == "clean"]
    corrupted = comparisons[comparisons["metric"] == "corruption"]
    severities = comparisons[comparisons["metric"] == "severity"]
    lines = _experiments_section(trials, experiments, level, min_trials)
    if not clean.empty:
        lines += _comparisons_section(clean, level)
    if "mean_corruption_accuracy" in trials:
        lines += _robustness_section(trials, experiments, clean, corrupted, level, corruptions or {}, min_trials)
        lines += _severity_table(severities, level)
    if sweeps:
        lines += _sweeps_section(trials, sweeps, clean, level, min_trials)
    if clipping:
        lines += _clipping_section(clipping)
    lines += _notebook_failure_section(trials, experiments)
    # the sections end in blank lines to keep them apart; the file ends in one newline
    return "\n".join(lines).rstrip() + "\n"


def _experiments_section(trials: pd.DataFrame, experiments: dict, level: float, min_trials: int) -> list[str]:
    """The title, how the intervals were computed, and one row per experiment with trials."""
    pct = f"{level:.0%}"
    lines = [
        "# Results summary",
        "",
        f"{len(trials)} trials of {trials['experiment'].nunique()} experiments. Test accuracy is "
        "measured once after training on the held-out test set; intervals are Student-t "
        f"{pct} confidence intervals over trials, shown as computed: one of fewer than {min_trials} trials "
        "is marked as too few to mean much (it can even reach below 0).",
        "",
        f"| experiment | description | model | train | noise | epochs | trials | mean test accuracy | {pct} CI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, exp in experiments.items():
        acc = trials.loc[trials["experiment"] == name, "test_accuracy"]
        if acc.empty:  # in the config, but none of its trials in the table
            continue
        lines.append(
            f"| `{name}` | {exp['description']} | {exp['architecture']} | {exp['train_size']} | {_noise(exp)} "
            f"| {exp['epochs']} | {len(acc)} | {acc.mean():.4f} | {_mean_ci(acc, level, min_trials)} |"
        )
    return lines


def _noise(exp: dict) -> str:
    """An experiment's noise and enlargement, and whether its labels were shuffled apart from its images."""
    noise = "none" if exp["noise"] == "none" else f"{exp['noise']} ×{exp['enlarge']}"
    if exp["shuffle"] == "unpaired":
        noise += " (labels unpaired)"
    return noise


def _comparisons_section(clean: pd.DataFrame, level: float) -> list[str]:
    """Each condition against its baselines in clean test accuracy: the paired test first, Welch's last."""
    pct = f"{level:.0%}"
    lines = [
        "",
        "## Conditions against their baselines",
        "",
        "Difference in mean test accuracy (condition − baseline). Trial t of a condition and of its "
        "baseline share their split and their initial weights, so the primary test is the paired "
        "t-test on the trials both ran: the pairing removes the variation between splits and "
        "initialisations, which Welch's unpaired t-test (last columns) leaves in. The p-values are "
        "Holm-adjusted over the conditions compared with the same baseline. *Detectable*: the "
        f"smallest true difference these pairs detect with {POWER:.0%} power at the {pct} level, from "
        "the spread of the differences; *trials for 1 pt*: the pairs needed to detect 1 percentage "
        "point. A *step-matched* baseline trains on the original images for k·E epochs, i.e. as "
        "many optimizer steps as the ×k condition trained for E epochs; the notebook compared "
        "unequal budgets.",
        "",
        f"| condition | baseline | comparison | pairs | difference (paired) | {pct} CI | p | Holm p "
        f"| detectable | trials for 1 pt | difference (Welch) | {pct} CI (Welch) | p (Welch) | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_comparison_row(row) for _, row in clean.iterrows()]
    lines.append("")
    return lines


def _comparison_row(row: pd.Series) -> str:
    return (
        f"| `{row['experiment']}` | `{row['baseline']}` | {row['kind']} | {row['n_paired']} "
        f"| {signed(row['paired_difference'])} | {signed_interval(row)} "
        f"| {p_value(row['paired_p_value'])} | {p_value(row['holm_p_value'])} "
        f"| {plain(row['min_detectable_difference'])} | {_count(row['trials_for_1pp'])} "
        f"| {signed(row['welch_difference'])} | {signed_interval(row, 'welch')} "
        f"| {p_value(row['welch_p_value'])} | {row['flag']} |"
    )


def _robustness_section(
    trials: pd.DataFrame,
    experiments: dict,
    clean: pd.DataFrame,
    corrupted: pd.DataFrame,
    level: float,
    corruptions: dict,
    min_trials: int,
) -> list[str]:
    """Clean accuracy and accuracy on the corrupted test sets, per experiment and per comparison."""
    # the config's corruptions that the trials were evaluated on, in the config's order
    names = [n for n in corruptions if f"corruption_accuracy_{n}" in trials]
    lines = _robustness_intro(corruptions, names)
    lines += _robustness_table(trials, experiments, names, level, min_trials)
    if not clean.empty and not corrupted.empty:
        lines += _two_axes_table(clean, corrupted, level)
    lines.append("")
    return lines


def _robustness_intro(corruptions: dict, names: list[str]) -> list[str]:
    """The heading, what the accuracies are means of, and each corruption with its severities."""
    listed = "; ".join(
        f"`{n}`: {corruptions[n]['description']} ({corruptions[n]['vary']} = "
        + ", ".join(f"{v:g}" for v in corruptions[n]["severities"])
        + ")"
        for n in names
    )
    return [
        "",
        "## Robustness: accuracy on corrupted test sets",
        "",
        "Every trained trial is also evaluated on corrupted copies of its split's test images (the same "
        "images for every trial with that split, so the comparisons stay paired). *Mean corruption "
        "accuracy*: the mean over every corruption and severity; the last columns give each corruption's "
        "mean over its severities. Corruptions: " + listed + ".",
        "",
    ]


def _robustness_table(
    trials: pd.DataFrame, experiments: dict, names: list[str], level: float, min_trials: int
) -> list[str]:
    """One row per experiment evaluated on the corrupted test sets: clean accuracy, mean corruption
    accuracy with its interval, and each corruption's mean."""
    pct = f"{level:.0%}"
    lines = [
        f"| experiment | trials | clean accuracy | mean corruption accuracy | {pct} CI | " + " | ".join(names) + " |",
        "|---|---|---|---|---|" + "---|" * len(names),
    ]
    for name in experiments:
        rows = trials[(trials["experiment"] == name) & trials["mean_corruption_accuracy"].notna()]
        if rows.empty:  # not evaluated (sweep points, unpaired labels: Study.robustness_experiments)
            continue
        scores = rows["mean_corruption_accuracy"]
        per = " | ".join(f"{rows[f'corruption_accuracy_{n}'].mean():.4f}" for n in names)
        lines.append(
            f"| `{name}` | {len(rows)} | {rows['test_accuracy'].mean():.4f} | {scores.mean():.4f} "
            f"| {_mean_ci(scores, level, min_trials)} | {per} |"
        )
    return lines


def _two_axes_table(clean: pd.DataFrame, corrupted: pd.DataFrame, level: float) -> list[str]:
    """Each comparison on both axes side by side: clean test accuracy and mean corruption accuracy."""
    pct = f"{level:.0%}"
    lines = [
        "",
        "**The answer on two axes.** Each condition against its baselines, in clean test accuracy and in "
        "mean corruption accuracy: paired differences (condition − baseline) with their "
        f"{pct} intervals and Holm-adjusted p-values (the same statistics as above, one family per baseline "
        f"and axis), and the smallest difference each axis detects with {POWER:.0%} power.",
        "",
        f"| condition | baseline | comparison | pairs | clean: difference | {pct} CI | Holm p | detectable "
        f"| corrupted: difference | {pct} CI | Holm p | detectable |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keyed = corrupted.set_index(["experiment", "baseline", "kind"])
    for _, row in clean.iterrows():
        key = (row["experiment"], row["baseline"], row["kind"])
        if key not in keyed.index:  # a comparison with no row on the corrupted axis is left out
            continue
        lines.append(_two_axes_row(row, keyed.loc[key]))
    return lines


def _severity_table(severities: pd.DataFrame, level: float) -> list[str]:
    """Where a noise acts: each comparison's paired difference on each corruption at each severity,
    and at the highest severity also its interval and Holm p (every interval is in comparisons.csv)."""
    if severities.empty:
        return []
    levels = sorted(severities["severity"].unique())
    pct, top = f"{level:.0%}", levels[-1]
    lines = [
        "**Where it acts: each corruption and severity.** Paired differences in accuracy on each "
        "corrupted test set (condition − baseline), by severity; at the highest severity with their "
        f"{pct} interval and Holm-adjusted p-value (one family per baseline, corruption and severity). "
        "The mean over the severities above can hide an effect that shows only at the highest.",
        "",
        "| condition | baseline | corruption | pairs | "
        + " | ".join(f"severity {v:g}" for v in levels)
        + f" | severity {top:g}: {pct} CI | Holm p |",
        "|---|---|---|---|" + "---|" * len(levels) + "---|---|",
    ]
    for (experiment, baseline, corruption), rows in severities.groupby(
        ["experiment", "baseline", "corruption"], sort=False
    ):
        by_level = rows.set_index("severity")
        cells = " | ".join(
            signed(by_level.loc[v, "paired_difference"]) if v in by_level.index else "n/a" for v in levels
        )
        highest = by_level.loc[top] if top in by_level.index else None
        tail = "n/a | n/a" if highest is None else f"{signed_interval(highest)} | {p_value(highest['holm_p_value'])}"
        pairs = int(rows["n_paired"].min())
        lines.append(f"| `{experiment}` | `{baseline}` | {corruption} | {pairs} | {cells} | {tail} |")
    return [*lines, ""]


def _two_axes_row(clean: pd.Series, corrupted: pd.Series) -> str:
    """One comparison's row: the same four cells for the clean axis, then for the corrupted one."""
    cells = "".join(
        f"| {signed(r['paired_difference'])} | {signed_interval(r)} "
        f"| {p_value(r['holm_p_value'])} | {plain(r['min_detectable_difference'])} "
        for r in (clean, corrupted)
    )
    return f"| `{clean['experiment']}` | `{clean['baseline']}` | {clean['kind']} | {clean['n_paired']} " + cells + "|"


def _sweeps_section(
    trials: pd.DataFrame, sweeps: dict, clean: pd.DataFrame, level: float, min_trials: int
) -> list[str]:
    """Per sweep, a row per point with its paired difference from its reference; a step-matched
    sweep's references are experiments of their own, and get a table of their own."""
    lines = ["", "## Sweeps", ""]
    for name, sweep in sweeps.items():
        reference = (
            "its step-matched no-noise baseline"
            if sweep["baseline_kind"] == "step-matched"
            else f"the sweep's {sweep['baseline_kind']}"
        )
        lines += [
            f"**{sweep['description']}** (`{name}`, varying {sweep['vary']}; each point against {reference}, "
            "paired, Holm-adjusted with the other conditions of that baseline)",
            "",
        ]
        lines += _sweep_table(trials, sweep, sweep["experiments"], level, min_trials, clean)
        if step_matched_points(sweep):
            lines += ["", "Without noise (step-matched baselines):", ""]
            lines += _sweep_table(trials, sweep, sweep["baselines"], level, min_trials)
        lines.append("")
    return lines


def _sweep_table(
    trials: pd.DataFrame,
    sweep: dict,
    names: list,
    level: float,
    min_trials: int,
    comparisons: pd.DataFrame | None = None,
) -> list[str]:
    """One row per swept value: its experiment, trials, mean test accuracy and interval; with
    ``comparisons``, also the paired difference from the point's reference."""
    pct = f"{level:.0%}"
    header = f"| {sweep['vary']} | experiment | trials | mean test accuracy | {pct} CI |"
    if comparisons is not None:
        header += f" against | difference (paired) | {pct} CI | Holm p |"
    lines = [header, "|---" * header.count(" |") + "|"]
    for value, name, baseline in zip(sweep["values"], names, sweep["baselines"], strict=True):
        if name is None:  # a point that is its own reference has no baseline row
            continue
        acc = trials.loc[trials["experiment"] == name, "test_accuracy"]
        row = f"| {value:g} | `{name}` | {len(acc)} | {acc.mean():.4f} | {_mean_ci(acc, level, min_trials)} |"
        if comparisons is not None:
            pair = comparisons[(comparisons["experiment"] == name) & (comparisons["baseline"] == baseline)]
            if baseline is None or pair.empty:
                row += " (the reference) | | | |"
            else:
                r = pair.iloc[0]
                row += (
                    f" `{baseline}` | {signed(r['paired_difference'])} "
                    f"| {signed_interval(r)} | {p_value(r['holm_p_value'])} |"
                )
        lines.append(row)
    return lines


def _clipping_section(clipping: list[dict]) -> list[str]:
    """The share of the values that clipping to 0..255 changes, per noise condition measured."""
    lines = [
        "## What clipping changes",
        "",
        "We round every noisy value and clip it to 0–255 (uint8 shards); the notebook kept unclipped "
        "floats (`clip: false` keeps them, as int16 shards). Share of the values that clipping changes, "
        "measured on the first training images of the dataset:",
        "",
        "| noise | parameters | images | values clipped | share |",
        "|---|---|---|---|---|",
    ]
    for row in clipping:
        parameters = ", ".join(f"{k}={v:g}" for k, v in sorted(row["noise_params"].items()))
        lines.append(f"| {row['noise']} | {parameters} | {row['images']:,} | {row['clipped']:,} | {row['share']:.2%} |")
    lines.append("")
    return lines


NOTEBOOK_FAILURE = (
    "Why the notebook saw 0.10: it shuffled the training images with `np.random.shuffle(x)` and "
    "the labels with a second, separate `np.random.shuffle(y)`. Two calls draw two different "
    "permutations, so after them image i carried the label of some other, random image: labels "
    "became independent of the pixels. Nothing learnable was left, so no model can beat guessing "
    "on held-out images, and on CIFAR-10's ten balanced classes guessing scores 0.10. The "
    "training accuracy still rose (0.34 after 12 epochs, 0.82 after 40 in the notebook) because "
    "the network memorised the random labels of its own training images, which says nothing "
    "about new ones."
)


def _notebook_failure_section(trials: pd.DataFrame, experiments: dict) -> list[str]:
    """The experiments that shuffle their labels apart from their images, as the notebook did, against
    their twins that keep them paired, and why they score 0.10; nothing where none of them ran."""
    present = set(trials["experiment"])
    unpaired = [n for n, e in experiments.items() if e["shuffle"] == "unpaired" and n in present]
    if not unpaired:
        return []
    lines = ["", "## The notebook's failure, reproduced", ""]
    for name in unpaired:
        lines += [_unpaired_against_twin(trials, name, experiments) + ".", ""]
    lines += [NOTEBOOK_FAILURE, ""]
    return lines


def _unpaired_against_twin(trials: pd.DataFrame, name: str, experiments: dict) -> str:
    """The mean accuracy of an unpaired-label experiment, and its paired twin's where that ran."""
    acc = trials.loc[trials["experiment"] == name, "test_accuracy"]
    text = (
        f"`{name}` shuffles images and labels independently, as the notebook did: mean test accuracy {acc.mean():.4f}"
    )
    twin = _paired_twin(name, experiments)
    if twin and twin in set(trials["experiment"]):
        twin_acc = trials.loc[trials["experiment"] == twin, "test_accuracy"].mean()
        text += f", against {twin_acc:.4f} for `{twin}`, the same experiment with one shared permutation"
    return text


def _paired_twin(name: str, experiments: dict) -> str | None:
    """The experiment identical to ``name`` except that its shuffle keeps images and labels paired."""
    exp = experiments[name]
    keys = [field for field in DEFINITION_FIELDS if field != "shuffle"]
    for other, candidate in experiments.items():
        if candidate["shuffle"] == "paired" and all(candidate[k] == exp[k] for k in keys):
            return other
    return None
