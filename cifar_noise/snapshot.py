"""A published snapshot of a study's results, and the check that it is the study's own output.

A snapshot is the small part of a finished study, in a folder of the repository (results-h200/):
the contents of ``study-archive.zip`` (summary, tables, comparisons, plots, every trial's
``metrics.json``, ``history.csv`` and ``robustness.json``, and the config as the archive records
it), the clipping shares that ``summary.md`` quotes, and ``run.json``: where, when and how long the
run took. No splits, shards or models.

:func:`recompute` lays the snapshot's trial records out as a ``results/`` folder and runs the
workflow's own aggregate rules (``aggregate_trials`` and ``summarize``, nothing upstream of them)
on them; :func:`differences` lists the files that came out otherwise than committed.

    python -m cifar_noise.snapshot write results/ results-h200/ run.json
    python -m cifar_noise.snapshot check results-h200/
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# What the aggregate rules read (besides the config) and what the check recomputes.
INPUTS = ("experiments/*/trial-*/metrics.json", "experiments/*/trial-*/robustness.json", "tables/clipping/*.json")
RECOMPUTED = ("summary.md", "tables/comparisons.csv", "tables/trials.csv")


def write_snapshot(results: Path, dest: Path, run: dict) -> list[str]:
    """Copy a finished study's small outputs from ``results`` (a workflow's results/ folder) into
    ``dest``; return the files written, relative to ``dest``."""
    results, dest = Path(results), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(results / "study-archive.zip") as archive:
        for name in archive.namelist():
            target = dest / Path(name).relative_to("results") if name.startswith("results/") else dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    for path in results.glob("tables/clipping/*.json"):
        (dest / path.relative_to(results)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / path.relative_to(results))
    (dest / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def recompute(snapshot: Path, scratch: Path) -> Path:
    """Run the aggregate rules on the snapshot's trial records in ``scratch``; its results/ folder."""
    snapshot, scratch = Path(snapshot), Path(scratch)
    for pattern in INPUTS:
        for path in snapshot.glob(pattern):
            target = scratch / "results" / path.relative_to(snapshot)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    config = yaml.safe_load((snapshot / "config.yaml").read_text())
    config["data"] = {}  # the data were read long ago: the aggregates do not depend on them
    (scratch / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(scratch)]
    command += ["--configfile", str(scratch / "config.yaml"), "--cores", "1", "--workflow-profile", "none"]
    command += [f"results/{name}" for name in RECOMPUTED]
    command += ["--quiet", "rules", "--allowed-rules", "aggregate_trials", "summarize"]  # last: they take every word
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the aggregate rules failed on {snapshot}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return scratch / "results"


def differences(snapshot: Path) -> list[str]:
    """The recomputed files that differ from the snapshot's (empty: the snapshot is the study's output)."""
    with tempfile.TemporaryDirectory() as scratch:
        recomputed = recompute(snapshot, Path(scratch))
        return [name for name in RECOMPUTED if not filecmp.cmp(recomputed / name, Path(snapshot) / name, shallow=False)]


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"]:
        print(
            "\n".join(write_snapshot(Path(sys.argv[2]), Path(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text())))
        )
    elif sys.argv[1:2] == ["check"]:
        differing = differences(Path(sys.argv[2]))
        print(f"{sys.argv[2]}: " + (f"differs in {', '.join(differing)}" if differing else "recomputed identically"))
        sys.exit(1 if differing else 0)
    else:
        sys.exit(__doc__)
