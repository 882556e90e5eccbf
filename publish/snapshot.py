"""A committed snapshot of a study (results-cpu/, as publish.resume writes it), checked and quoted.

The snapshot holds what results/ would: each trial's small outputs under the same names, and once
every trial is there summary.md, tables/ and plots/; with config.yaml (the study's config) and
run.json (the sessions that made it). No splits, shards or models.

    python -m publish.snapshot check results-cpu      # the aggregate rules give back its tables
    python -m publish.snapshot readme results-cpu     # README.md's "The answer" section, rewritten

:func:`differences` runs the workflow's own aggregate rules again on a copy of the snapshot's trial
records and lists the files that come out otherwise than committed. :func:`answer_section` writes
the README's section from the snapshot alone, so that no number in it is typed by hand.
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from cifar_noise.summary import p_value, plain, signed, signed_interval

REPO = Path(__file__).resolve().parent.parent
# The rules that write the tables from the trial records, and what they write.
AGGREGATES = ("aggregate_trials", "summarize")
TABLES = ("summary.md", "tables/trials.csv", "tables/robustness.csv", "tables/comparisons.csv")
RUN = "run.json"
START, END = "<!-- answer:start -->", "<!-- answer:end -->"


def recompute(snapshot: Path, scratch: Path) -> Path:
    """The aggregate rules run again on a copy of ``snapshot`` in ``scratch``/results; return it."""
    results = Path(scratch) / "results"
    shutil.copytree(snapshot, results)
    config = yaml.safe_load((snapshot / "config.yaml").read_text())
    config["data"] = {}  # the data were read long ago: the aggregates do not depend on them
    (Path(scratch) / "recompute.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", *AGGREGATES, "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(scratch), "--configfile", str(Path(scratch) / "recompute.yaml"), "--cores", "1"]
    command += ["--workflow-profile", "none", "--forcerun", *AGGREGATES, "--allowed-rules", *AGGREGATES]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the aggregate rules failed on {snapshot}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return results


def differences(snapshot: Path) -> list[str]:
    """The snapshot's tables that the aggregate rules recompute otherwise (empty: they are the
    study's own output). A snapshot without its tables yet has none to differ."""
    snapshot = Path(snapshot)
    if not (snapshot / "summary.md").exists():
        return []
    with tempfile.TemporaryDirectory() as scratch:
        recomputed = recompute(snapshot, Path(scratch))
        names = [*TABLES, *(f"tables/{p.name}" for p in (snapshot / "tables").glob("*.md"))]
        return [name for name in names if not filecmp.cmp(recomputed / name, snapshot / name, shallow=False)]


def answer_section(snapshot: Path) -> str:
    """README.md's "The answer", from the snapshot: while trials are missing, how far it got."""
    snapshot = Path(snapshot)
    records = [json.loads(p.read_text()) for p in sorted(snapshot.glob("experiments/*/trial-*/metrics.json"))]
    config = yaml.safe_load((snapshot / "config.yaml").read_text())
    total = sum(experiment["trials"] for experiment in config["experiments"].values())
    where = f"`{snapshot.name}/`"
    if not (snapshot / "tables/comparisons.csv").exists():  # (no count: it would change with every trial)
        return (
            f"In progress: {where} holds the trials finished so far (`{snapshot.name}/{RUN}`: which, on "
            f"what machine); the numbers appear here once all {total} are there.\n"
        )
    comparisons = pd.read_csv(snapshot / "tables/comparisons.csv")
    lines = [_made_how(records, snapshot), "", *_clean_table(comparisons), "", *_severity_table(comparisons)]
    return "\n".join(lines).rstrip() + "\n"


def _machines(records: list[dict]) -> str:
    devices = sorted({f"{r['device']}, {r['threads']} thread(s) a trial" for r in records})
    return "; ".join(devices) or "none yet"


def _made_how(records: list[dict], snapshot: Path) -> str:
    first = records[0]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(first["versions"].items()))
    precision = sorted({r["params"]["precision"] for r in records})
    hours = sum(r["wall_seconds"] for r in records) / 3600
    sessions = len(json.loads((snapshot / RUN).read_text())["sessions"])
    return (
        f"All {len(records)} trials of `{snapshot.name}/` ({_machines(records)}; precision "
        f"{', '.join(precision)}; {versions}): {hours:.1f} h of trial jobs, in {sessions} sessions. "
        "Paired differences are condition − baseline on the trials both ran, with 95% intervals, "
        "Holm-adjusted p-values and the smallest difference the pairs detect with 80% power."
    )


def _clean_table(comparisons: pd.DataFrame) -> list[str]:
    lines = [
        "| noise | baseline | pairs | clean accuracy: difference | 95% CI | Holm p | detectable |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in comparisons[comparisons["metric"] == "clean"].iterrows():
        lines.append(f"| `{row['experiment']}` | `{row['baseline']}` | {row['n_paired']} | {_cells(row)} |")
    return lines


def _severity_table(comparisons: pd.DataFrame) -> list[str]:
    """The same at each corruption's highest severity (where the mean over severities hides it)."""
    rows = comparisons[comparisons["metric"] == "severity"]
    if rows.empty:
        return []
    highest = rows[rows["severity"] == rows.groupby("corruption")["severity"].transform("max")]
    lines = [
        "| noise | corruption, highest severity | pairs | accuracy: difference | 95% CI | Holm p | detectable |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in highest.iterrows():
        where = f"{row['corruption']}, {row['severity']:g}"
        lines.append(f"| `{row['experiment']}` | {where} | {row['n_paired']} | {_cells(row)} |")
    return lines


def _cells(row: pd.Series) -> str:
    return (
        f"{signed(row['paired_difference'])} | {signed_interval(row)} | {p_value(row['holm_p_value'])} "
        f"| {plain(row['min_detectable_difference'])}"
    )


def rewrite_readme(readme: Path, snapshot: Path) -> bool:
    """Put the snapshot's section between README's answer markers; return whether it changed."""
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {START} ... {END} markers")
    new = pattern.sub(lambda _: f"{START}\n{answer_section(snapshot)}{END}", text)
    readme.write_text(new)
    return new != text


def readme_section(readme: Path) -> str:
    """What README.md holds between its answer markers now."""
    text = readme.read_text()
    return text[text.index(START) + len(START) + 1 : text.index(END)]


if __name__ == "__main__":
    command, folder = (sys.argv[1:3] + [None, None])[:2]
    if command == "check" and folder:
        differing = differences(Path(folder))
        print(f"{folder}: " + (f"differs in {', '.join(differing)}" if differing else "recomputed identically"))
        sys.exit(1 if differing else 0)
    elif command == "readme" and folder:
        changed = rewrite_readme(REPO / "README.md", Path(folder))
        print(f"README.md: the answer section {'rewritten' if changed else 'unchanged'} from {folder}")
    else:
        sys.exit(__doc__)
