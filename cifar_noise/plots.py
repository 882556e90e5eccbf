"""Figures: example images per noise condition, test accuracy per experiment, training curves."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .cifar import CLASS_NAMES  # noqa: E402
from .design import step_matched_points  # noqa: E402
from .fileio import atomic_path  # noqa: E402
from .noise import condition_label, perturb  # noqa: E402
from .stats import mean_ci  # noqa: E402


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def noise_examples(images: np.ndarray, noise: str, params: dict, seed: int, path, copies: int = 2) -> None:
    """Originals in the top row, ``copies`` independently perturbed versions below."""
    rng = np.random.default_rng(seed)
    rows = [images] + [perturb(images, noise, params, rng) for _ in range(copies)]
    fig, axes = plt.subplots(len(rows), len(images), figsize=(1.2 * len(images), 1.3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel("original" if r == 0 else f"copy {r}", fontsize=8)
    fig.suptitle(condition_label(noise, params), fontsize=10)
    _save(fig, path)


def accuracy_plot(
    trials: pd.DataFrame, path, experiments: list[str] | None = None, level: float = 0.95, min_trials: int = 3
) -> None:
    """Test accuracy of every trial per experiment (in the given order), with the mean and its
    t-interval at confidence ``level``; an interval of fewer than ``min_trials`` trials is drawn in
    grey and labelled as too few to mean much (shown as computed, below 0 too, never clipped)."""
    experiments = experiments or list(dict.fromkeys(trials["experiment"]))
    bottom, top = 0.0, float(trials["test_accuracy"].max())
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(experiments) + 2), 4.2))
    labelled = set()

    def once(label: str) -> str | None:  # each kind of mark in the legend once
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for i, name in enumerate(experiments):
        acc = trials.loc[trials["experiment"] == name, "test_accuracy"].to_numpy()
        jitter = np.linspace(-0.12, 0.12, len(acc)) if len(acc) > 1 else np.zeros(1)
        ax.scatter(i + jitter, acc, s=18, color="tab:blue", alpha=0.7, zorder=3, label=once("trial"))
        mean, low, high = mean_ci(acc, level)
        if math.isnan(low):
            ax.scatter([i], [mean], marker="_", s=400, color="black", zorder=4, label=once("mean"))
            continue
        bottom, top = min(bottom, low), max(top, high)
        few = len(acc) < min_trials
        ax.errorbar(
            [i],
            [mean],
            yerr=[[mean - low], [high - mean]],
            fmt="_",
            markersize=20,
            color="grey" if few else "black",
            capsize=6,
            zorder=4,
            label=once(f"mean, {level:.0%} CI of < {min_trials} trials: too few to mean much" if few else
                       f"mean, {level:.0%} CI"),
        )  # fmt: skip
    ax.axhline(0.1, color="grey", linestyle=":", linewidth=1, label="chance (0.10)")
    ax.set_xticks(range(len(experiments)), experiments, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(bottom - 0.02 if bottom < 0 else 0, min(1.0, max(0.5, top + 0.05)) if top <= 1 else top + 0.02)
    ax.grid(axis="y", alpha=0.3)
    # beside the axes, not on them: no trial hides behind it, whatever the accuracies
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Test accuracy per experiment")
    _save(fig, path)


def training_curves(histories: dict[str, list[pd.DataFrame]], path) -> None:
    """Training loss and accuracy per epoch, one panel pair per experiment, one line per trial."""
    names = list(histories)
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 2.4 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for t, history in enumerate(histories[name], start=1):
            for c, column in enumerate(("loss", "accuracy")):
                axes[r][c].plot(
                    history["epoch"], history[column], marker="o", markersize=3, linewidth=1, label=f"trial {t}"
                )
                if f"test_{column}" in history:
                    axes[r][c].plot(
                        history["epoch"],
                        history[f"test_{column}"],
                        linestyle="--",
                        linewidth=1,
                        label=f"trial {t} (test)",
                    )
        axes[r][0].set_ylabel(name, fontsize=8)
        for c, column in enumerate(("training loss", "training accuracy")):
            axes[r][c].set_title(column if r == 0 else "", fontsize=9)
            axes[r][c].grid(alpha=0.3)
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[-1][0].set_xlabel("epoch")
    axes[-1][1].set_xlabel("epoch")
    handles, labels = axes[0][1].get_legend_handles_labels()
    if len(handles) <= 12:
        axes[0][1].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def per_class_heatmap(trials: pd.DataFrame, experiments: list[str], path) -> None:
    """Mean test accuracy per class (columns) and experiment (rows)."""
    rows = [
        trials.loc[trials["experiment"] == name, [f"test_accuracy_{c}" for c in CLASS_NAMES]].mean()
        for name in experiments
    ]
    matrix = np.array([r.to_numpy() for r in rows])
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(experiments) + 1.6))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (r, c), value in np.ndenumerate(matrix):
        ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=35, ha="right")
    ax.set_yticks(range(len(experiments)), experiments)
    fig.colorbar(image, ax=ax, label="test accuracy")
    ax.set_title("Test accuracy per class (mean over trials)")
    _save(fig, path)


def confusion_matrices(matrices: dict[str, np.ndarray], path) -> None:
    """Row-normalised confusion matrices (true class in rows), one panel per labelled matrix."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices), 4.8), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
        for (r, c), value in np.ndenumerate(normalised):
            if value >= 0.005:
                ax.text(
                    c,
                    r,
                    f"{value:.2f}"[1:] if value < 1 else "1",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if value > 0.5 else "black",
                )
        ax.set_xticks(range(10), CLASS_NAMES, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(10), CLASS_NAMES, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def _mean_band(histories: list[pd.DataFrame], column: str, level: float):
    """Images seen (cumulative), and the mean over trials of ``column`` with its t-interval, per epoch."""
    epochs = min(len(h) for h in histories)
    seen = np.cumsum(histories[0]["images"].to_numpy()[:epochs])
    rows = [mean_ci([h[column].iloc[e] for h in histories], level) for e in range(epochs)]
    means, lows, highs = (np.array(v, dtype=float) for v in zip(*rows, strict=True))
    return seen, means, lows, highs


def comparison_curves(histories: dict[str, list[pd.DataFrame]], comparisons: list[dict], path, level=0.95) -> None:
    """Each comparison's condition and baseline on one axis of images seen (so a x10, 2-epoch run and a
    20-epoch baseline line up): mean over trials with its confidence band, for the training loss and
    accuracy, and for the test accuracy where it was evaluated after every epoch."""
    shown = [c for c in comparisons if c["experiment"] in histories and c["baseline"] in histories]
    columns = ["loss", "accuracy"]
    if any("test_accuracy" in h for c in shown for h in histories[c["experiment"]]):
        columns.append("test_accuracy")
    titles = {"loss": "training loss", "accuracy": "training accuracy", "test_accuracy": "test accuracy"}
    fig, axes = plt.subplots(
        max(1, len(shown)), len(columns), figsize=(4.2 * len(columns), 2.6 * max(1, len(shown))), squeeze=False
    )
    if not shown:
        axes[0][0].text(0.5, 0.5, "no comparisons in this study", ha="center", va="center")
    for r, comparison in enumerate(shown):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            for role, colour in (("experiment", "tab:blue"), ("baseline", "tab:orange")):
                name = comparison[role]
                runs = [h for h in histories[name] if column in h]
                if not runs:
                    continue
                seen, means, lows, highs = _mean_band(runs, column, level)
                ax.plot(
                    seen,
                    means,
                    color=colour,
                    marker="o",
                    markersize=3,
                    linewidth=1,
                    label=f"{name} ({len(runs)} trials)",
                )
                ax.fill_between(seen, lows, highs, color=colour, alpha=0.2)
            ax.set_title(f"{titles[column]}" if r == 0 else "", fontsize=9)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel(f"{comparison['kind']}", fontsize=8)
                ax.legend(fontsize=7)
        axes[r][0].xaxis.get_major_formatter().set_scientific(False)
    for ax in axes[-1]:
        ax.set_xlabel("images seen")
    fig.suptitle(f"Conditions and their baselines: mean over trials, {level:.0%} CI band", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def sweep_plot(trials: pd.DataFrame, sweep: dict, path, level: float = 0.95) -> None:
    """Test accuracy against the swept value: every trial, the mean and its confidence band, and the
    reference each point is compared with: the step-matched no-noise baseline of every point, or
    the sweep's own point without noise (sigma=0, say) as a band across the plot."""
    fig, ax = plt.subplots(figsize=(6, 4))
    reference = [name for name in sweep["baselines"] if name]
    step_matched = step_matched_points(sweep)
    curves = [("with noise" if step_matched else "mean", sweep["values"], sweep["experiments"], "tab:blue")]
    if step_matched:
        points = [(v, name) for v, name in zip(sweep["values"], sweep["baselines"], strict=True) if name]
        curves.append(("without noise (step-matched)", *zip(*points, strict=True), "tab:orange"))
    for label, values, names, colour in curves:
        xs, means, lows, highs = [], [], [], []
        for value, name in zip(values, names, strict=True):
            acc = trials.loc[trials["experiment"] == name, "test_accuracy"].to_numpy()
            ax.scatter(np.full(len(acc), value), acc, s=16, color=colour, alpha=0.6, zorder=3)
            mean, low, high = mean_ci(acc, level)
            xs.append(value)
            means.append(mean)
            lows.append(low)
            highs.append(high)
        ax.plot(xs, means, color=colour, marker="o", markersize=4, label=f"{label}: mean of the trials (dots)")
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, label=f"{label}: {level:.0%} CI")
    if reference and not step_matched:  # every point against one of them: draw it across
        acc = trials.loc[trials["experiment"] == reference[0], "test_accuracy"]
        mean, low, high = mean_ci(acc, level)
        ax.axhline(mean, color="tab:orange", linestyle="--", label=f"reference: {sweep['baseline_kind']}, mean")
        if not math.isnan(low):
            ax.axhspan(low, high, color="tab:orange", alpha=0.15, label=f"reference: {level:.0%} CI")
    if sweep["vary"] == "train_size":
        ax.set_xscale("log")
    ax.set_xlabel(sweep["vary"])
    ax.set_ylabel("test accuracy")
    ax.set_title(sweep["description"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    _save(fig, path)


def runtime_plot(benchmarks: dict[str, list[float]], path) -> None:
    """Wall time of every job (one dot each), grouped by rule, from Snakemake's benchmark files."""
    rules = sorted(benchmarks, key=lambda r: -max(benchmarks[r]))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rules) + 1.5))
    for i, rule in enumerate(rules):
        seconds = np.asarray(benchmarks[rule])
        jitter = np.linspace(-0.15, 0.15, len(seconds)) if len(seconds) > 1 else np.zeros(1)
        ax.scatter(np.maximum(seconds, 1e-2), i + jitter, s=14, alpha=0.7)
        ax.text(
            1.02,
            i,
            f"{len(seconds)} jobs, {seconds.sum():.0f} s",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_yticks(range(len(rules)), rules)
    ax.set_xlabel("wall time per job (s)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Runtime of every job")
    _save(fig, path)


def corruption_curves(robustness: pd.DataFrame, corruptions: dict, experiments: list[str], path, level=0.95) -> None:
    """Accuracy against severity, one panel per corruption, the conditions overlaid: the mean over
    trials with its confidence band (``robustness``: one row per trial, corruption and severity)."""
    names = [n for n in corruptions if n in set(robustness["corruption"])]
    columns = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.3 * columns, 3.3 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, names, strict=False):
        for i, experiment in enumerate(experiments):
            part = robustness[(robustness["corruption"] == name) & (robustness["experiment"] == experiment)]
            if part.empty:
                continue
            values, means, lows, highs = [], [], [], []
            for value, group in part.groupby("value"):
                mean, low, high = mean_ci(group["accuracy"], level)
                values.append(value)
                means.append(mean)
                lows.append(low)
                highs.append(high)
            colour = colours[i % len(colours)]
            ax.plot(values, means, marker="o", markersize=3, color=colour, label=experiment)
            ax.fill_between(values, lows, highs, color=colour, alpha=0.15)
        ax.set_title(f"{name}", fontsize=9)
        ax.set_xlabel(corruptions[name]["vary"])
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    if not names:
        axes[0][0].text(0.5, 0.5, "no corruptions in this study", ha="center", va="center")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7, bbox_to_anchor=(0.5, -0.02)
        )
    fig.suptitle(f"Accuracy on corrupted test sets: mean over trials, {level:.0%} CI band", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * math.ceil(len(labels) / 4), 1, 1))
    _save(fig, path)


def robustness_tradeoff(trials: pd.DataFrame, experiments: list[str], path, level=0.95) -> None:
    """Clean test accuracy against mean corruption accuracy, one point per condition with the
    confidence intervals of both means as error bars."""
    fig, ax = plt.subplots(figsize=(6.2, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(experiments):
        rows = trials[(trials["experiment"] == name) & trials["mean_corruption_accuracy"].notna()]
        if rows.empty:
            continue
        x, x_low, x_high = mean_ci(rows["test_accuracy"], level)
        y, y_low, y_high = mean_ci(rows["mean_corruption_accuracy"], level)
        xerr = None if math.isnan(x_low) else [[x - x_low], [x_high - x]]
        yerr = None if math.isnan(y_low) else [[y - y_low], [y_high - y]]
        ax.errorbar(
            [x], [y], xerr=xerr, yerr=yerr, fmt="o", color=colours[i % len(colours)], capsize=3,
            label=f"{name} ({len(rows)} trials)",
        )  # fmt: skip
    ax.set_xlabel("clean test accuracy")
    ax.set_ylabel("mean corruption accuracy")
    ax.set_title(f"Accuracy and robustness per condition (mean, {level:.0%} CI)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
