"""A published snapshot of a study's results, and the check that it is the study's own output.

A snapshot is a study's archive (``study-archive.zip``: summary, tables, comparisons, clipping
shares, plots, every trial's ``metrics.json``, ``history.csv`` and ``robustness.json``, and the
config as the archive records it) unpacked as it is into a folder of the repository
(results-h200/), with ``run.json``: where, when and how long the run took. No splits, shards or
models.

:func:`recompute` copies a snapshot into a scratch folder and runs the workflow's own aggregate
rules there again (``aggregate_trials`` and ``summarize``, nothing upstream of them);
:func:`differences` lists the files that came out otherwise than committed.

    python -m cifar_noise.snapshot write results/study-archive.zip results-h200/ run.json
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
# The rules whose outputs the check recomputes: what they read is in every snapshot.
AGGREGATES = ("aggregate_trials", "summarize")
# What a snapshot holds besides the study's archive.
RUN = "run.json"


def write_snapshot(archive: Path, dest: Path, run: dict) -> list[str]:
    """Unpack a finished study's archive (its study-archive.zip) into ``dest`` with ``run`` as
    run.json; return the files written, relative to ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(dest)
    (dest / RUN).write_text(json.dumps(run, indent=2) + "\n")
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())


def recompute(snapshot: Path, scratch: Path) -> Path:
    """Run the aggregate rules again on a copy of ``snapshot`` in ``scratch``; return ``scratch``."""
    scratch = Path(scratch)
    shutil.copytree(snapshot, scratch, dirs_exist_ok=True)
    config = yaml.safe_load((scratch / "config.yaml").read_text())
    config["data"] = {}  # the data were read long ago: the aggregates do not depend on them
    (scratch / "recompute.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", *AGGREGATES, "--snakefile", str(REPO / "Snakefile")]
    command += ["--directory", str(scratch), "--configfile", str(scratch / "recompute.yaml"), "--cores", "1"]
    command += ["--workflow-profile", "none", "--forcerun", *AGGREGATES, "--allowed-rules", *AGGREGATES]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the aggregate rules failed on {snapshot}:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
    return scratch


def differences(snapshot: Path) -> list[str]:
    """The snapshot's files that the aggregate rules recompute otherwise (empty: the snapshot is the
    study's output). The files they do not write are copies, and equal."""
    snapshot = Path(snapshot)
    files = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as scratch:
        recomputed = recompute(snapshot, Path(scratch))
        return [name for name in files if not filecmp.cmp(recomputed / name, snapshot / name, shallow=False)]


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
