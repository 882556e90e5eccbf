"""README.md's "The answer" is written from the committed snapshot, never by hand."""

import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

from cifar_noise.aggregate import comparisons_table, trials_table
from cifar_noise.cifar import CLASS_NAMES
from publish.snapshot import answer_section, readme_section, rewrite_readme

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_quotes_the_committed_snapshot():
    assert readme_section(REPO / "README.md") == answer_section(REPO / "results-cpu"), (
        "README.md's answer is not results-cpu's: python -m publish.snapshot readme results-cpu"
    )


def fake_record(experiment, trial, accuracy):
    params = {"experiment": experiment, "trial": trial, "noise": "none", "noise_params": {}, "precision": "float32"}
    return {
        "experiment": experiment, "trial": trial, "params": params, "test_accuracy": accuracy,
        "test_loss": 1.0, "train_loss": 1.0, "train_accuracy": 0.5,
        "per_class_accuracy": {name: accuracy for name in CLASS_NAMES},
        "device": "CPU: test", "threads": 1, "wall_seconds": 1800.0, "versions": {"keras": "3"},
    }  # fmt: skip


def snapshot_of(tmp_path, complete):
    """A snapshot of 2 experiments x 3 trials: all of them and the comparisons table (``complete``),
    or only the first 2 trials."""
    accuracy = {"base": [0.40, 0.42, 0.38], "noisy": [0.45, 0.47, 0.44]}
    config = {"experiments": {name: {"trials": 3} for name in accuracy}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "run.json").write_text(json.dumps({"sessions": [{}, {}]}))
    records = [fake_record(e, t, a) for e in accuracy for t, a in enumerate(accuracy[e], 1)]
    for record in records[: len(records) if complete else 2]:
        folder = tmp_path / f"experiments/{record['experiment']}/trial-{record['trial']:02d}"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(record))
    if complete:
        robustness = pd.DataFrame(
            [{"experiment": r["experiment"], "trial": r["trial"], "corruption": "gaussian", "severity": s,
              "accuracy": r["test_accuracy"] - s / 20} for r in records for s in (1, 5)]
        )  # fmt: skip
        trials = trials_table(records)
        table = comparisons_table(
            trials, [{"experiment": "noisy", "baseline": "base", "kind": "configured"}], 0.95, 3, robustness
        )
        (tmp_path / "tables").mkdir()
        table.to_csv(tmp_path / "tables/comparisons.csv", index=False)
        return table
    return None


def test_an_unfinished_study_says_so_and_shows_no_number(tmp_path):
    (tmp_path / "snap").mkdir()
    snapshot_of(tmp_path / "snap", complete=False)
    text = answer_section(tmp_path / "snap")
    assert text.startswith("In progress: `snap/` holds") and "all 6 are there" in text
    assert not any(ch.isdigit() for ch in text.replace("all 6", "")), text


def test_a_complete_study_quotes_its_paired_differences_clean_and_at_the_highest_severity(tmp_path):
    table = snapshot_of(tmp_path, complete=True)
    text = answer_section(tmp_path)
    clean = table[table["metric"] == "clean"].iloc[0]
    top = table[(table["metric"] == "severity") & (table["severity"] == 5)].iloc[0]
    lines = text.splitlines()
    assert (
        "All 6 trials" in lines[0]
        and "precision float32" in lines[0]
        and "3.0 h of trial jobs, in 2 sessions" in lines[0]
    )
    row = next(line for line in lines if line.startswith("| `noisy` | `base` |"))
    assert (
        f"| 3 | {clean['paired_difference']:+.4f} | [{clean['paired_ci_low']:+.4f}, {clean['paired_ci_high']:+.4f}] |"
        in row
    )
    row = next(line for line in lines if line.startswith("| `noisy` | gaussian, 5 |"))
    assert f"| {top['paired_difference']:+.4f} |" in row and f"{top['min_detectable_difference']:.4f}" in row
    assert not [line for line in lines if "gaussian, 1 |" in line]  # the highest severity only


def test_the_readme_section_is_rewritten_between_its_markers_only(tmp_path):
    (tmp_path / "snap").mkdir()
    snapshot_of(tmp_path / "snap", complete=False)
    readme = tmp_path / "README.md"
    shutil.copy2(REPO / "README.md", readme)
    before = readme.read_text()
    rewrite_readme(readme, tmp_path / "snap")
    assert readme_section(readme) == answer_section(tmp_path / "snap")
    outside = before.split("<!-- answer:start -->")[0], before.split("<!-- answer:end -->")[1]
    assert readme.read_text().startswith(outside[0]) and readme.read_text().endswith(outside[1])
