"""A published snapshot (results-h200/) is the study's own output: the workflow's aggregate rules,
run again on its committed trial records, give its committed summary, comparisons and trials table."""

import json

import pytest
from workflow_runner import REPO

from cifar_noise.snapshot import differences, write_snapshot

pytestmark = pytest.mark.slow

COMMITTED = sorted(path.parent for path in REPO.glob("results-*/run.json"))
# What the aggregate rules write from the trial records.
TABLES = ("summary.md", "tables/comparisons.csv", "tables/trials.csv")


@pytest.fixture(scope="module")
def snapshot(tiny_study, tmp_path_factory):
    workdir, _ = tiny_study
    dest = tmp_path_factory.mktemp("snapshot")
    files = write_snapshot(workdir / "results/study-archive.zip", dest, {"device": "CPU (the tiny study of the tests)"})
    return dest, files


def test_a_snapshot_holds_the_small_outputs_and_no_data(snapshot):
    dest, files = snapshot
    assert {"config.yaml", "run.json", *(f"results/{name}" for name in TABLES)} <= set(files)
    assert "results/experiments/gaussian/trial-01/metrics.json" in files
    assert "results/experiments/gaussian/trial-01/robustness.json" in files
    assert any(name.startswith("results/tables/clipping/") for name in files)
    assert any(name.startswith("results/plots/") and name.endswith(".png") for name in files)
    assert not [name for name in files if name.endswith((".npy", ".keras")) or "/shards/" in name]


def test_the_aggregate_rules_give_back_the_snapshots_tables(snapshot):
    assert differences(snapshot[0]) == []


def test_a_changed_number_in_a_trial_record_is_caught(snapshot, tmp_path):
    import shutil

    changed = shutil.copytree(snapshot[0], tmp_path / "changed")
    record = changed / "results/experiments/gaussian/trial-01/metrics.json"
    metrics = json.loads(record.read_text())
    metrics["test_accuracy"] += 0.01
    record.write_text(json.dumps(metrics))
    differing = differences(changed)
    assert {f"results/{name}" for name in TABLES} <= set(differing)
    assert all(name.startswith(("results/tables/", "results/summary.md")) for name in differing), differing


@pytest.mark.parametrize("folder", COMMITTED, ids=[p.name for p in COMMITTED])
def test_a_committed_snapshot_is_the_studys_own_output(folder):
    assert differences(folder) == []
