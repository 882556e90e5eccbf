"""Collecting the trials' metrics.json files into tables."""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from .cifar import CLASS_NAMES

NOTEBOOK_COLUMNS = ("val_loss", "val_accuracy", "train_loss", "train_accuracy")
_HEADER = "Trial |validation loss |validation accuracy |training loss |training accuracy\n-|-|-|-|-\n"


def load_metrics(paths: list[str | os.PathLike]) -> list[dict]:
    return [json.loads(open(p).read()) for p in paths]


def trials_table(metrics: list[dict]) -> pd.DataFrame:
    """One row per trial: every parameter, every result, per-class accuracies as columns."""
    rows = []
    for m in metrics:
        params = dict(m["params"])
        for key, value in params.pop("noise_params").items():
            params[f"noise_{key}"] = value
        row = {**params}
        row.update({key: m[key] for key in NOTEBOOK_COLUMNS})
        row.update({f"test_accuracy_{name}": m["per_class_accuracy"][name] for name in CLASS_NAMES})
        for key in ("epochs", "train_images", "test_images", "train_seconds", "eval_seconds",
                    "wall_seconds", "images_per_second", "resumed_from_epoch", "backend", "device",
                    "threads", "git_commit"):
            row[f"run_{key}" if key == "epochs" else key] = m.get(key)
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        table = table.sort_values(["experiment", "trial"], kind="stable").reset_index(drop=True)
    return table


def _fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def notebook_table(trials: pd.DataFrame, experiment: str) -> str:
    """The notebook's per-experiment Markdown table, with a Mean row."""
    rows = trials[trials["experiment"] == experiment].sort_values("trial")
    if rows.empty:
        raise ValueError(f"no trials of experiment {experiment!r}")
    first = rows.iloc[0]
    title = first["description"] or experiment
    noise = first["noise"] if first["noise"] == "none" else f"{first['noise']} x{first['enlarge']}"
    lines = [
        f"### {title}\n",
        f"`{experiment}`: {first['architecture']}, {first['train_size']} train / {first['test_images']} test "
        f"images, noise {noise}, {first['epochs']} epochs, batch {first['batch_size']}, "
        f"{len(rows)} trial{'s' if len(rows) != 1 else ''}\n",
        _HEADER.rstrip("\n"),
    ]
    for _, row in rows.iterrows():
        lines.append(f"{row['trial']}|" + "|".join(_fmt(row[c]) for c in NOTEBOOK_COLUMNS))
    lines.append("Mean|" + "|".join(_fmt(rows[c].mean()) for c in NOTEBOOK_COLUMNS))
    return "\n".join(lines) + "\n"
