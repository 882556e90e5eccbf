import pandas as pd
import pytest
from scipy import stats

from cifar_noise.aggregate import comparisons_table, notebook_table, trials_table
from cifar_noise.cifar import CLASS_NAMES
from cifar_noise.schema import validate_config
from cifar_noise.study import Study
from cifar_noise.summary import summary_markdown


def fake_metrics(experiment, trial, accuracy, noise="none", **params):
    base = {
        "experiment": experiment,
        "trial": trial,
        "train_size": 100,
        "test_set": "official",
        "test_size": None,
        "architecture": "seed_a",
        "noise": noise,
        "noise_params": {"sigma": 20.0} if noise == "gaussian" else {},
        "enlarge": 1 if noise == "none" else 3,
        "epochs": 2,
        "batch_size": 10,
        "shuffle": "paired",
    }
    base.update(params)
    return {
        "experiment": experiment,
        "trial": trial,
        "params": base,
        "test_loss": 2.0 - accuracy,
        "test_accuracy": accuracy,
        "train_loss": 1.5,
        "train_accuracy": accuracy + 0.1,
        "per_class_accuracy": {name: accuracy for name in CLASS_NAMES},
        "epochs": 2,
        "train_images": 100,
        "test_images": 50,
        "train_seconds": 1.0,
        "eval_seconds": 0.1,
        "wall_seconds": 2.0,
        "images_per_second": 100.0,
        "resumed_from_epoch": 0,
        "backend": "tensorflow",
        "device": "CPU: x",
        "threads": 1,
        "git_commit": None,
    }


@pytest.fixture
def trials():
    metrics = [fake_metrics("base", t, a) for t, a in enumerate([0.40, 0.42, 0.38], 1)]
    metrics += [fake_metrics("noisy", t, a, noise="gaussian") for t, a in enumerate([0.45, 0.47, 0.44], 1)]
    return trials_table(metrics[::-1], {"base": "base description", "noisy": "noisy description"})  # any order


def test_trials_table_has_every_parameter_and_result(trials):
    assert list(trials["experiment"]) == ["base"] * 3 + ["noisy"] * 3
    assert list(trials["trial"]) == [1, 2, 3, 1, 2, 3]
    for column in (
        "train_size",
        "noise",
        "noise_sigma",
        "enlarge",
        "epochs",
        "batch_size",
        "shuffle",
        "test_loss",
        "test_accuracy",
        "train_loss",
        "train_accuracy",
        "test_accuracy_truck",
        "images_per_second",
        "backend",
        "device",
    ):
        assert column in trials.columns, column


def test_notebook_table_format(trials):
    table = notebook_table(trials, "base")
    lines = table.splitlines()
    assert lines[0] == "### base description"
    assert "Trial |test loss |test accuracy |training loss |training accuracy" in lines
    start = lines.index("-|-|-|-|-")
    assert lines[start + 1] == "1|1.6000|0.4000|1.5000|0.5000"
    assert lines[start + 3] == "3|1.6200|0.3800|1.5000|0.4800"
    assert lines[start + 4] == "Mean|1.6000|0.4000|1.5000|0.5000"


def test_comparisons_pair_trials_and_keep_welch(trials):
    extra = trials_table([fake_metrics("other", t, a, noise="gaussian") for t, a in enumerate([0.41, 0.44], 1)])
    everything = pd.concat([trials, extra], ignore_index=True)
    table = comparisons_table(
        everything,
        [
            {"experiment": "noisy", "baseline": "base", "kind": "configured"},
            {"experiment": "other", "baseline": "base", "kind": "configured"},
        ],
    )
    noisy, other = table.iloc[0], table.iloc[1]
    condition, baseline = [0.45, 0.47, 0.44], [0.40, 0.42, 0.38]
    reference = stats.ttest_rel(condition, baseline)
    assert noisy["n_paired"] == 3 and noisy["paired_difference"] == pytest.approx(0.16 / 3)
    assert noisy["paired_p_value"] == pytest.approx(reference.pvalue)
    assert (noisy["paired_ci_low"], noisy["paired_ci_high"]) == pytest.approx(tuple(reference.confidence_interval()))
    welch = stats.ttest_ind(condition, baseline, equal_var=False)
    assert noisy["welch_p_value"] == pytest.approx(welch.pvalue)
    assert (noisy["welch_ci_low"], noisy["welch_ci_high"]) == pytest.approx(tuple(welch.confidence_interval()))
    # "other" ran trials 1 and 2 only: paired on those two; Welch uses every trial of both sides
    assert other["n_paired"] == 2 and other["n"] == 2 and other["n_baseline"] == 3
    assert other["paired_p_value"] == pytest.approx(stats.ttest_rel([0.41, 0.44], [0.40, 0.42]).pvalue)
    assert "too few trials" in other["flag"]
    # Holm over the two conditions compared with "base"
    low, high = sorted([noisy["paired_p_value"], other["paired_p_value"]])
    expected = {low: min(1.0, 2 * low), high: min(1.0, max(2 * low, high))}
    assert noisy["holm_p_value"] == pytest.approx(expected[noisy["paired_p_value"]])
    assert other["holm_p_value"] == pytest.approx(expected[other["paired_p_value"]])
    assert noisy["min_detectable_difference"] > 0 and noisy["trials_for_1pp"] >= 2


def test_summary_lists_experiments_comparisons_sweeps_and_the_notebook_failure():
    base = {
        "train_size": 100,
        "test_set": "official",
        "architecture": "seed_a",
        "noise": "none",
        "epochs": 2,
        "batch_size": 10,
        "trials": 2,
    }
    noisy = {**base, "noise": "gaussian", "enlarge": 3}
    config = {
        "matched_baselines": False,
        "experiments": {
            "base": base,
            "broken": {**base, "shuffle": "unpaired"},
            "noisy": {**noisy, "baseline": "base"},
        },
        "sweeps": {"s": {"vary": "sigma", "values": [20, 40], "experiment": noisy}},
    }
    study = Study(validate_config(config))
    metrics = [fake_metrics("base", t, a) for t, a in [(1, 0.40), (2, 0.42)]]
    metrics += [fake_metrics("broken", t, a, shuffle="unpaired") for t, a in [(1, 0.10), (2, 0.09)]]
    metrics += [fake_metrics("noisy", t, a, noise="gaussian") for t, a in [(1, 0.45), (2, 0.47)]]
    metrics += [fake_metrics("s-sigma40", t, a, noise="gaussian") for t, a in [(1, 0.30), (2, 0.33)]]
    trials = trials_table(metrics)
    comparisons = comparisons_table(trials, study.comparisons)
    text = summary_markdown(trials, comparisons, study.experiments, study.sweeps)
    # both trials improve by exactly 0.05: no spread, so no paired interval, p or power
    assert "| `noisy` | `base` | configured | 2 | +0.0500 | n/a | n/a | n/a | n/a | n/a | +0.0500 |" in text
    assert "the primary test is the paired t-test" in text
    assert "too few trials" in text
    assert "| 40 | `s-sigma40` | 2 | 0.3150 |" in text and "| 20 | `noisy` | 2 | 0.4600 |" in text
    assert "`broken` shuffles images and labels independently" in text and "against 0.4100 for `base`" in text
    assert "Why the notebook saw 0.10" in text
    assert "none (labels unpaired)" in text


@pytest.mark.parametrize("level, label", [(0.95, "mean, 95% CI"), (0.9, "mean, 90% CI")])
def test_accuracy_plot_names_the_configured_confidence(trials, tmp_path, monkeypatch, level, label):
    from cifar_noise import plots

    shown = {}
    monkeypatch.setattr(
        plots,
        "_save",
        lambda fig, path: shown.update(labels=[t.get_text() for t in fig.axes[0].get_legend().get_texts()]),
    )
    plots.accuracy_plot(trials, tmp_path / "accuracy.png", level=level)
    assert label in shown["labels"]


def test_train_size_sweep_plot_and_summary_show_both_curves(tmp_path):
    metrics = []
    for size in (300, 1000):
        for kind in ("noisy", "plain"):
            noise = "gaussian" if kind == "noisy" else "none"
            metrics += [fake_metrics(f"{kind}{size}", t, 0.3 + size / 1e4 + t / 100, noise=noise) for t in (1, 2)]
    trials = trials_table(metrics)
    sweep = {
        "vary": "train_size",
        "values": [300, 1000],
        "description": "size",
        "experiments": ["noisy300", "noisy1000"],
        "baselines": ["plain300", "plain1000"],
        "baseline_kind": "step-matched",
    }
    from cifar_noise.plots import sweep_plot

    sweep_plot(trials, sweep, tmp_path / "size.png")
    assert (tmp_path / "size.png").stat().st_size > 10_000
    experiments = {
        name: {
            "description": "",
            "architecture": "seed_a",
            "train_size": 1,
            "noise": "none",
            "enlarge": 1,
            "epochs": 1,
            "shuffle": "paired",
        }
        for name in trials["experiment"].unique()
    }
    text = summary_markdown(trials, comparisons_table(trials, []), experiments, {"size": sweep})
    assert "Without noise (step-matched baselines)" in text and "| 1000 | `plain1000` | 2 | 0.4150 |" in text


def test_comparison_curves_put_condition_and_baseline_on_images_seen(tmp_path, monkeypatch):
    from cifar_noise import plots

    def history(epochs, images, accuracy):
        return pd.DataFrame(
            {
                "epoch": range(1, epochs + 1),
                "images": [images] * epochs,
                "loss": [1.0 / e for e in range(1, epochs + 1)],
                "accuracy": accuracy,
            }
        )

    histories = {
        "noisy": [history(2, 300, [0.3, 0.5]), history(2, 300, [0.32, 0.52])],  # x3 for 2 epochs
        "base": [history(6, 100, [0.1, 0.2, 0.3, 0.4, 0.45, 0.5])] * 2,
    }  # 6 epochs of 100
    drawn = {}
    monkeypatch.setattr(
        plots,
        "_save",
        lambda fig, path: drawn.update(
            lines={line.get_label(): list(line.get_xdata()) for line in fig.axes[1].get_lines()}
        ),
    )
    plots.comparison_curves(histories, [{"experiment": "noisy", "baseline": "base", "kind": "step-matched"}], tmp_path)
    assert drawn["lines"] == {"noisy (2 trials)": [300, 600], "base (2 trials)": [100, 200, 300, 400, 500, 600]}


@pytest.mark.parametrize(
    "kind, baselines, shown",
    [
        ("sigma=0", [None, "s0", "s0"], "reference: sigma=0, mean"),
        ("step-matched", ["plain5", "plain10", "plain20"], "without noise (step-matched): mean of the trials (dots)"),
    ],
)
def test_sweep_plots_show_their_reference(tmp_path, monkeypatch, kind, baselines, shown):
    from cifar_noise import plots

    metrics = [fake_metrics(f"s{v}", t, 0.4 - v / 100 + t / 100, noise="gaussian") for v in (0, 10, 20) for t in (1, 2)]
    metrics += [fake_metrics(f"plain{v}", t, 0.35 + t / 100) for v in (5, 10, 20) for t in (1, 2)]
    sweep = {
        "vary": "sigma",
        "values": [0, 10, 20],
        "description": "sigma",
        "experiments": ["s0", "s10", "s20"],
        "baselines": baselines,
        "baseline_kind": kind,
    }
    drawn = {}
    monkeypatch.setattr(
        plots,
        "_save",
        lambda fig, path: drawn.update(labels=[t.get_text() for t in fig.axes[0].get_legend().get_texts()]),
    )
    plots.sweep_plot(trials_table(metrics), sweep, tmp_path / "sweep.png")
    assert any(label.startswith(shown) for label in drawn["labels"]), drawn["labels"]


def test_accuracy_plot_legend_covers_no_point(tmp_path, monkeypatch):
    """The last experiment's trials sit low on the right, where a legend inside the axes would be."""
    from cifar_noise import plots

    metrics = [fake_metrics(f"e{i}", t, 0.5 + t / 100) for i in range(4) for t in (1, 2, 3)]
    metrics += [fake_metrics("last", t, a) for t, a in enumerate([0.10, 0.12, 0.15], 1)]
    drawn = {}

    def capture(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        legend = ax.get_legend().get_window_extent()
        points = [p for c in ax.collections for p in c.get_offset_transform().transform(c.get_offsets())]
        drawn.update(covered=[p for p in points if legend.contains(*p)], points=len(points))

    monkeypatch.setattr(plots, "_save", capture)
    plots.accuracy_plot(trials_table(metrics), tmp_path / "accuracy.png")
    assert drawn["points"] >= 15 and not drawn["covered"]


def test_intervals_of_too_few_trials_say_so():
    """Two trials give a t-interval so wide that it leaves 0..1; it is shown as computed, and said to
    rest on too few trials (statistics.min_trials), not clipped."""
    metrics = [fake_metrics("base", t, a) for t, a in enumerate([0.40, 0.42, 0.38], 1)]
    metrics += [fake_metrics("pair", t, a) for t, a in [(1, 0.05), (2, 0.25)]]
    trials = trials_table(metrics)
    experiments = {
        name: {"description": "", "architecture": "seed_a", "train_size": 100, "noise": "none", "enlarge": 1,
               "epochs": 2, "shuffle": "paired"}
        for name in ("base", "pair")
    }  # fmt: skip
    text = summary_markdown(trials, comparisons_table(trials, []), experiments, {}, min_trials=3)
    row = next(line for line in text.splitlines() if line.startswith("| `pair`"))
    low = stats.ttest_1samp([0.05, 0.25], 0).confidence_interval(0.95).low
    assert f"[{low:.4f}, " in row and low < 0 and "2 trials: too few" in row
    assert "too few" not in next(line for line in text.splitlines() if line.startswith("| `base`"))


def test_the_robustness_section_marks_intervals_of_too_few_trials_too():
    metrics = [fake_metrics("base", t, a) for t, a in enumerate([0.40, 0.42, 0.38], 1)]
    metrics += [fake_metrics("noisy", t, a, noise="gaussian") for t, a in [(1, 0.45), (2, 0.47)]]
    robustness = [
        {"experiment": m["experiment"], "trial": m["trial"], "mean_corruption_accuracy": m["test_accuracy"] - 0.1,
         "corruptions": [{"corruption": "gaussian", "accuracy": m["test_accuracy"] - 0.1}]}
        for m in metrics
    ]  # fmt: skip
    trials = trials_table(metrics, robustness=robustness)
    comparisons = comparisons_table(trials, [{"experiment": "noisy", "baseline": "base", "kind": "configured"}])
    experiments = {
        name: {"description": "", "architecture": "seed_a", "train_size": 100, "noise": "none", "enlarge": 1,
               "epochs": 2, "shuffle": "paired"}
        for name in ("base", "noisy")
    }  # fmt: skip
    corruptions = {"gaussian": {"description": "Gaussian", "vary": "sigma", "severities": [10]}}
    text = summary_markdown(trials, comparisons, experiments, {}, corruptions=corruptions, min_trials=3)
    section = text.split("## Robustness")[1]
    assert "| `noisy` | 2 | 0.4600 | 0.3600 | [" in section and "2 trials: too few" in section
    assert "**The answer on two axes.**" in section


def test_each_corruption_and_severity_is_compared_pair_by_pair_and_shown_in_the_summary():
    """A noise that helps only at the highest severity: the mean over severities dilutes it, the
    severity rows show it, with the paired t-test's interval and Holm over the conditions."""
    accuracy = {"base": [0.40, 0.42, 0.38], "noisy": [0.45, 0.47, 0.44], "other": [0.41, 0.43, 0.37]}
    metrics = [fake_metrics(e, t, a, noise="none" if e == "base" else "gaussian") for e in accuracy
               for t, a in enumerate(accuracy[e], 1)]  # fmt: skip
    at_5 = {"base": [0.20, 0.22, 0.19], "noisy": [0.30, 0.29, 0.33], "other": [0.21, 0.20, 0.22]}
    robustness = pd.DataFrame(
        [{"experiment": e, "trial": t, "corruption": "gaussian", "severity": s, "accuracy": a}
         for e in accuracy for t in (1, 2, 3)
         for s, a in ((1, accuracy[e][t - 1] - 0.01), (5, at_5[e][t - 1]))]
    )  # fmt: skip
    trials = trials_table(metrics)
    pairs = [{"experiment": e, "baseline": "base", "kind": "configured"} for e in ("noisy", "other")]
    table = comparisons_table(trials, pairs, robustness=robustness)
    rows = table[table["metric"] == "severity"].set_index(["experiment", "severity"])
    assert len(rows) == 4 and set(table["metric"]) == {"clean", "severity"}
    noisy_5 = rows.loc[("noisy", 5)]
    reference = stats.ttest_rel(at_5["noisy"], at_5["base"])
    assert noisy_5["corruption"] == "gaussian" and noisy_5["n_paired"] == 3
    assert noisy_5["paired_difference"] == pytest.approx(sum(at_5["noisy"]) / 3 - sum(at_5["base"]) / 3)
    assert (noisy_5["paired_ci_low"], noisy_5["paired_ci_high"]) == pytest.approx(
        tuple(reference.confidence_interval())
    )
    # Holm's family at severity 5: the two conditions against base, not the clean axis's
    other_p = stats.ttest_rel(at_5["other"], at_5["base"]).pvalue
    low = min(reference.pvalue, other_p)
    assert noisy_5["holm_p_value"] == pytest.approx(min(1.0, 2 * low) if reference.pvalue == low else reference.pvalue)

    experiments = {
        name: {"description": "", "architecture": "seed_a", "train_size": 100, "noise": "none", "enlarge": 1,
               "epochs": 2, "shuffle": "paired"}
        for name in accuracy
    }  # fmt: skip
    reports = [
        {"experiment": e, "trial": t, "mean_corruption_accuracy": 0.3,
         "corruptions": [{"corruption": "gaussian", "accuracy": 0.3}]}
        for e in accuracy for t in (1, 2, 3)
    ]  # fmt: skip
    text = summary_markdown(
        trials_table(metrics, robustness=reports),
        table,
        experiments,
        {},
        corruptions={"gaussian": {"description": "Gaussian", "vary": "sigma", "severities": [10, 50]}},
    )
    row = next(line for line in text.splitlines() if line.startswith("| `noisy` | `base` | gaussian |"))
    expected = f"| {noisy_5['paired_difference']:+.4f} | [{noisy_5['paired_ci_low']:+.4f}, "
    assert "| 3 | " in row and expected in row, row
    assert "| severity 1 | severity 5 | severity 5: 95% CI | Holm p |" in text
