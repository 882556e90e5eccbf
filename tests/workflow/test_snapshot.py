"""A committed snapshot (results-cpu/) is the study's own output: the workflow's aggregate rules, run
again on its committed trial records, give its committed summary and tables."""

import json
import shutil

import pytest
from workflow_runner import REPO

from cifar_noise.schema import validate_config
from cifar_noise.study import Study
from publish.resume import copy_study_outputs, copy_trial
from publish.snapshot import TABLES, differences

pytestmark = pytest.mark.slow

COMMITTED = sorted(path.parent for path in REPO.glob("results-*/run.json"))


@pytest.fixture(scope="module")
def snapshot(tiny_study, tmp_path_factory):
    """The tiny study's snapshot as publish.resume leaves it once the study is complete."""
    import yaml

    workdir, config = tiny_study
    dest = tmp_path_factory.mktemp("snapshot")
    study = Study(validate_config(yaml.safe_load(config.read_text())))
    for trial in study.trials():
        copy_trial(workdir / "results", dest, trial)
    copy_study_outputs(workdir / "results", dest)
    shutil.copy2(config, dest / "config.yaml")
    (dest / "run.json").write_text(json.dumps({"sessions": []}))
    return dest


def test_the_aggregate_rules_give_back_the_snapshots_tables(snapshot):
    assert differences(snapshot) == []


def test_a_changed_number_in_a_trial_record_is_caught(snapshot, tmp_path):
    changed = shutil.copytree(snapshot, tmp_path / "changed")
    record = changed / "experiments/gaussian/trial-01/metrics.json"
    metrics = json.loads(record.read_text())
    metrics["test_accuracy"] += 0.01
    record.write_text(json.dumps(metrics))
    differing = differences(changed)
    assert {"summary.md", "tables/comparisons.csv", "tables/trials.csv"} <= set(differing)
    assert set(differing) <= {*TABLES, "tables/gaussian.md"}, differing


def test_a_changed_corrupted_accuracy_is_caught(snapshot, tmp_path):
    changed = shutil.copytree(snapshot, tmp_path / "changed")
    record = changed / "experiments/gaussian/trial-01/robustness.json"
    report = json.loads(record.read_text())
    report["corruptions"][-1]["accuracy"] += 0.01
    record.write_text(json.dumps(report))
    assert {"tables/robustness.csv", "tables/comparisons.csv"} <= set(differences(changed))


@pytest.mark.parametrize("folder", COMMITTED, ids=[p.name for p in COMMITTED])
def test_a_committed_snapshot_is_the_studys_own_output(folder):
    assert differences(folder) == []  # (none to differ while the study is in progress)
