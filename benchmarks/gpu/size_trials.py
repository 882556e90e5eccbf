"""Trial counts from a study's own power: how many trials each primary comparison needs.

    python benchmarks/gpu/size_trials.py results-cpu/ [--wall-seconds 540] [--budget 600]

Reads a finished study's ``tables/comparisons.csv`` (its results/ folder, also in a snapshot). The primary
comparisons are each noise at ``--enlarge`` x against its step-matched baseline at ``--train-size``
images, on both axes (clean and mean corruption accuracy). For each, the spread of the paired
differences gives the pairs needed to detect 1 percentage point with 80% power (the column
trials_for_1pp, from cifar_noise.stats). Prints the trial count of each experiment (condition and
baseline alike) as config lines with the SDs they come from, and the study's training time with
those counts, scaled from this run's training images (and, given ``--wall-seconds``, the study's wall
time, e.g. of ``time snakemake --workflow-profile profiles/gpu``, scaled likewise).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def primary(comparisons: pd.DataFrame, trials: pd.DataFrame, train_size: int, enlarge: int) -> pd.DataFrame:
    """The rows of the primary comparisons, both axes (not the per-severity rows)."""
    experiments = trials.drop_duplicates("experiment").set_index("experiment")
    axes = comparisons["metric"].isin(["clean", "corruption"])
    chosen = (
        axes
        & comparisons["kind"].str.contains("step-matched")
        & comparisons["experiment"].map(
            lambda name: (
                experiments.loc[name, "train_size"] == train_size and experiments.loc[name, "enlarge"] == enlarge
            )
        )
    )
    return comparisons[chosen]


def proposal(rows: pd.DataFrame, most: int) -> dict[str, dict]:
    """Per experiment: the trials its comparisons need (the largest over metrics and comparisons)."""
    counts: dict[str, dict] = {}
    for _, row in rows.iterrows():
        needed = row["trials_for_1pp"]
        for name in (row["experiment"], row["baseline"]):
            entry = counts.setdefault(name, {"trials": 0, "sd": {}})
            entry["trials"] = max(entry["trials"], min(most, needed) if math.isfinite(needed) else most)
            entry["sd"][f"{row['experiment']} {row['metric']}"] = row["sd_difference"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="a study's results/ folder (or a snapshot of one: results-cpu/)")
    parser.add_argument("--train-size", type=int, default=15_000)
    parser.add_argument("--enlarge", type=int, default=10)
    parser.add_argument("--most", type=int, default=50, help="no experiment gets more trials than this")
    parser.add_argument("--wall-seconds", type=float, help="how long this study took, from the archive to the report")
    parser.add_argument("--budget", type=float, default=600, help="seconds the study may take")
    args = parser.parse_args()
    study = Path(args.study)
    comparisons = pd.read_csv(study / "tables/comparisons.csv")
    trials = pd.read_csv(study / "tables/trials.csv")
    rows = primary(comparisons, trials, args.train_size, args.enlarge)
    if rows.empty:
        raise SystemExit(f"no step-matched comparison at train_size {args.train_size} and x{args.enlarge} in {study}")
    counts = proposal(rows, args.most)
    for name, entry in counts.items():
        sds = ", ".join(f"{key} {value:.4f}" for key, value in entry["sd"].items())
        print(f"{name}: trials: {int(entry['trials'])}  # SD of paired differences: {sds}")

    images = trials.assign(images=trials["train_images"] * trials["epochs"]).groupby("experiment")["images"].first()
    now = trials.groupby("experiment").size()
    planned = now.copy()
    for name, entry in counts.items():
        planned[name] = max(now.get(name, 0), entry["trials"])
    ratio = float((images * planned).sum() / (images * now).sum())
    line = f"training images x{ratio:.2f} of this run's"
    if args.wall_seconds:
        line += f"; at this run's pace, about {args.wall_seconds * ratio:.0f} s (budget {args.budget:.0f} s)"
    print(line)


if __name__ == "__main__":
    main()
