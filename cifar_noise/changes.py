"""What a run would redo because the config changed since the results were made: said in one line
before any job runs, so that hours of recomputation are never a surprise."""

from __future__ import annotations

import json
from pathlib import Path

from .config import Study

# Trial parameters that come from the config's global sections rather than from an experiment.
GLOBAL_SETTINGS = {
    "seed": "seed",
    "shard_size": "shards.size",
    "evaluate_every_epoch": "training.evaluate_every_epoch",
}


def notes(study: Study) -> list[str]:
    """One line per reason that finished results would be redone or kept against the config."""
    return [line for line in (_archive_note(study), _trials_note(study)) if line]


def _archive_note(study: Study) -> str | None:
    fetched, data = study.fetched_archive_md5(), study.config["data"]
    if fetched is None:
        return None
    wanted = study.archive_md5()
    finished = sum(Path(t.folder, "metrics.json").exists() for t in study.trials())
    if data["archive"] and wanted != fetched:
        return (
            f"all {finished} finished trials would be redone: data.archive {data['archive']} (md5 {wanted}) is not "
            f"the archive the results were made from ({study.archive}, md5 {fetched})"
        )
    if not data["archive"] and data["md5"] and data["md5"].lower() != fetched:
        return (
            f"{study.archive} (md5 {fetched}) is kept as the archive of these results, though data.md5 is "
            f"{data['md5']}: delete it to download data.url again, or set data.archive"
        )
    return None


def _trials_note(study: Study) -> str | None:
    """How many finished trials' recorded parameters differ from the config's, and in which settings."""
    redone, settings = 0, {}
    for trial in study.trials():
        recorded = _recorded_params(Path(trial.folder, "metrics.json"))
        if recorded is None:
            continue
        current = json.loads(json.dumps(study.trial_params(trial.experiment, trial.trial)))
        keys = [key for key in current if current[key] != recorded.get(key)]
        if "seed" in keys:  # the derived seeds change with it
            keys = [key for key in keys if not key.endswith("_seed")]
        redone += bool(keys)
        for key in keys:
            where = GLOBAL_SETTINGS.get(key)
            settings.setdefault(where or key, set()).update([] if where else [trial.experiment])
    if not redone:
        return None
    changed = "; ".join(
        f"{setting} ({', '.join(sorted(experiments))})" if experiments else setting
        for setting, experiments in settings.items()
    )
    return f"{redone} finished trial{'s' if redone != 1 else ''} would be redone because the config changed: {changed}"


def _recorded_params(metrics: Path) -> dict | None:
    try:
        params = json.loads(metrics.read_text())["params"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return params if isinstance(params, dict) else None
