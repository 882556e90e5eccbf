"""Corrupted test sets, and every trial evaluated on them by a job of its own."""

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from workflow_runner import (
    TINY_CORRUPTIONS,
    TINY_EXPERIMENT,
    kill_when,
    sha256_of,
    snakemake,
    start_snakemake,
    tiny_config,
    write_config,
)

from cifar_noise.schema import validate_config
from cifar_noise.study import Study

# ---------------------------------------------------------------------------------------------
# the workflow (the tiny study evaluates every trial on TINY_CORRUPTIONS)

pytest_slow = pytest.mark.slow


@pytest_slow
def test_every_trial_is_evaluated_on_every_corrupted_set(tiny_study):
    workdir, config = tiny_study
    trials = sorted((workdir / "results" / "experiments").glob("*/trial-*"))
    assert trials
    severities = sum(len(c["severities"]) for c in TINY_CORRUPTIONS["sets"].values())
    for folder in trials:
        report = json.loads((folder / "robustness.json").read_text())
        assert len(report["corruptions"]) == severities
        assert report["test_images"] == TINY_CORRUPTIONS["test_size"]
        accuracies = [r["accuracy"] for r in report["corruptions"]]
        assert report["mean_corruption_accuracy"] == pytest.approx(np.mean(accuracies))
        assert all(0 <= a <= 1 for a in accuracies)
    table = pd.read_csv(workdir / "results" / "tables" / "robustness.csv")
    assert len(table) == len(trials) * severities
    trials_csv = pd.read_csv(workdir / "results" / "tables" / "trials.csv")
    assert trials_csv["mean_corruption_accuracy"].notna().all()
    assert {"corruption_accuracy_gaussian", "corruption_accuracy_impulse"} <= set(trials_csv)


@pytest_slow
def test_corruption_hurts_the_tiny_models(tiny_study):
    """On the tiny archive the label is written into the pixels: noise hides it, so the strongest
    Gaussian corruption must score below the clean test set, averaged over every trial."""
    workdir, _ = tiny_study
    robustness = pd.read_csv(workdir / "results" / "tables" / "robustness.csv")
    trials = pd.read_csv(workdir / "results" / "tables" / "trials.csv")
    paired = trials[trials["shuffle"] == "paired"]
    strongest = robustness[(robustness["corruption"] == "gaussian") & (robustness["severity"] == 2)]
    assert strongest["accuracy"].mean() < paired["test_accuracy"].mean()


@pytest_slow
def test_the_answer_on_two_axes(tiny_study):
    workdir, _ = tiny_study
    comparisons = pd.read_csv(workdir / "results" / "tables" / "comparisons.csv")
    assert set(comparisons["metric"]) == {"clean", "corruption", "severity"}
    clean = comparisons[comparisons["metric"] == "clean"].set_index(["experiment", "baseline", "kind"])
    corrupted = comparisons[comparisons["metric"] == "corruption"].set_index(["experiment", "baseline", "kind"])
    assert list(clean.index) == list(corrupted.index)
    trials = pd.read_csv(workdir / "results" / "tables" / "trials.csv").set_index(["experiment", "trial"])
    for (experiment, baseline, _), row in corrupted.iterrows():
        a = trials.loc[experiment, "mean_corruption_accuracy"]
        b = trials.loc[baseline, "mean_corruption_accuracy"]
        common = sorted(set(a.index) & set(b.index))
        assert row["n_paired"] == len(common)
        assert row["paired_difference"] == pytest.approx((a[common] - b[common]).mean())
        if len(common) >= 2 and (a[common] - b[common]).std() > 0:
            assert row["paired_p_value"] == pytest.approx(stats.ttest_rel(a[common], b[common]).pvalue)
    # each corruption at each severity, paired on the same trials (robustness.csv)
    by_severity = comparisons[comparisons["metric"] == "severity"]
    table = pd.read_csv(workdir / "results" / "tables" / "robustness.csv")
    assert len(by_severity) == len(clean) * len(table.groupby(["corruption", "severity"]))
    for _, row in by_severity.iterrows():
        at = table[(table["corruption"] == row["corruption"]) & (table["severity"] == row["severity"])]
        by_trial = at.set_index(["experiment", "trial"])["accuracy"]
        sides = [by_trial.loc[row["experiment"]], by_trial.loc[row["baseline"]]]
        common = sorted(set(sides[0].index) & set(sides[1].index))
        assert row["paired_difference"] == pytest.approx((sides[0][common] - sides[1][common]).mean())
    summary = (workdir / "results" / "summary.md").read_text()
    assert "**Where it acts: each corruption and severity.**" in summary
    assert "## Robustness: accuracy on corrupted test sets" in summary
    assert "**The answer on two axes.**" in summary
    assert "| `gaussian` | `baseline` |" in summary.split("**The answer on two axes.**")[1]
    for name in ("corruption_accuracy.png", "robustness_tradeoff.png"):
        assert (workdir / "results" / "plots" / name).stat().st_size > 10_000


@pytest_slow
def test_corrupted_sets_are_byte_identical_in_a_second_run(tiny_study, tmp_path, tiny_archive):
    workdir, config = tiny_study
    first = sha256_of(workdir / "results", "corrupted/**/*.npy")
    assert len(first) == 4 * len(TINY_CORRUPTIONS["sets"])  # 4 splits (3 paired + 1 unpaired... of 2 trials)
    again = write_config(tmp_path, yaml.safe_load(config.read_text()))
    snakemake(tmp_path, *(f"results/{name}" for name in first), config=again)
    assert sha256_of(tmp_path / "results", "corrupted/**/*.npy") == first


def planned_jobs(workdir, config) -> dict[str, int]:
    output = snakemake(workdir, "--dry-run", config=config).stdout
    table = output.split("Job stats:")[1].split("\n\n")[0] if "Job stats:" in output else ""
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M) if rule != "total"}


@pytest_slow
def test_a_new_corruption_reruns_evaluations_never_training(tiny_study, tmp_path):
    workdir, config = tiny_study
    assert planned_jobs(workdir, config) == {}
    changed = yaml.safe_load(config.read_text())
    changed["corruptions"]["sets"]["regional"] = {"noise": "regional", "vary": "amplitude", "severities": [50]}
    jobs = planned_jobs(workdir, write_config(tmp_path, changed))
    trials = len(list((workdir / "results" / "experiments").glob("*/trial-*")))
    assert jobs["corrupt_test_set"] == 4  # the new set, for each split
    assert jobs["evaluate_trial"] == trials
    assert not {"train_trial", "make_shard", "split_dataset", "extract_dataset"} & set(jobs), jobs
    # a smaller corrupted subset: new sets and evaluations, still no training
    changed = yaml.safe_load(config.read_text())
    changed["corruptions"]["test_size"] = 30
    jobs = planned_jobs(workdir, write_config(tmp_path, changed, "smaller.yaml"))
    assert jobs["evaluate_trial"] == trials and "train_trial" not in jobs, jobs


@pytest_slow
@pytest.mark.fault(kind="kill", real=True)
def test_a_killed_evaluation_leaves_no_partial_output(tmp_path, tiny_archive):
    archive, md5 = tiny_archive
    config = write_config(
        tmp_path,
        tiny_config(
            url=archive.as_uri(),
            md5=md5,
            sweeps={},
            matched_baselines=False,
            experiments={"baseline": {**TINY_EXPERIMENT, "noise": "none", "trials": 1}},
            # many severities, so that the evaluation runs long enough to be killed in the middle
            corruptions={
                "test_size": 100,
                "sets": {"gaussian": {"noise": "gaussian", "vary": "sigma", "severities": [5] * 40}},
            },
        ),
    )
    trial = tmp_path / "results" / "experiments" / "baseline" / "trial-01"
    snakemake(tmp_path, str(trial.relative_to(tmp_path) / "model.keras"), config=config)
    target = trial / "robustness.json"
    log = tmp_path / "results" / "logs" / "evaluate_trial" / "baseline" / "trial-01.log"
    process = start_snakemake(tmp_path, str(target.relative_to(tmp_path)), config=config)
    kill_when(process, lambda: log.exists() and "severity 3 " in log.read_text())
    time.sleep(0.2)
    assert not target.exists()
    assert not [p.name for p in trial.iterdir() if p.name.startswith(".")]  # no temp file either
    snakemake(tmp_path, "--unlock", config=config)
    snakemake(tmp_path, str(target.relative_to(tmp_path)), config=config)
    report = json.loads(target.read_text())
    assert len(report["corruptions"]) == 40


@pytest_slow
def test_the_demo_evaluates_every_trial_on_every_corrupted_set(tmp_path):
    from workflow_runner import REPO

    jobs = planned_jobs(tmp_path, REPO / "config" / "demo.yaml")
    study = Study(validate_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text())))
    assert jobs["evaluate_trial"] == jobs["train_trial"] == len(study.trials())
    assert jobs["corrupt_test_set"] == len(study.split_ids()) * len(study.corruptions) == 5 * 4
    assert jobs["plot_robustness"] == 1
