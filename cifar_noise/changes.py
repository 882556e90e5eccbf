"""What a run would redo because the config changed since the results were made: said in one line
before any job runs, so that hours of recomputation are never a surprise. Snakemake's dry run says
"params changed" per job and --list-changes lists the files; these notes say which config setting
changed and how many finished trials it redoes, and whether the archive on disk is the config's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .study import GLOBAL_SETTINGS, Study, Trial


def notes(
    study: Study, metrics: Mapping[Trial, str], archive: str, fetched: str | None, wanted: str | None
) -> list[str]:
    """One line per reason that finished results would be redone or kept against the config.
    ``metrics``: each trial's metrics.json; ``archive``: where the study's CIFAR-10 archive is
    fetched to, ``fetched`` its md5 (None: not there) and ``wanted`` the md5 the config asks for."""
    finished = sum(Path(path).exists() for path in metrics.values())
    lines = [_archive_note(study, archive, fetched, wanted, finished), _trials_note(study, metrics)]
    return [line for line in lines if line]


def _archive_note(study: Study, archive: str, fetched: str | None, wanted: str | None, finished: int) -> str | None:
    if fetched is None:
        return None
    data = study.config["data"]
    if data["archive"] and wanted != fetched:
        return (
            f"all {finished} finished trials would be redone: data.archive {data['archive']} (md5 {wanted}) is not "
            f"the archive the results were made from ({archive}, md5 {fetched})"
        )
    if not data["archive"] and data["md5"] and data["md5"].lower() != fetched:
        return (
            f"{archive} (md5 {fetched}) is kept as the archive of these results, though data.md5 is "
            f"{data['md5']}: delete it to download data.url again, or set data.archive"
        )
    return None


def _trials_note(study: Study, metrics: Mapping[Trial, str]) -> str | None:
    """How many finished trials' recorded parameters differ from the config's, and in which settings."""
    redone, settings, finished = 0, {}, set()
    for trial, path in metrics.items():
        recorded = _recorded_params(Path(path))
        if recorded is None:
            continue
        finished.add(trial.experiment)
        current = json.loads(json.dumps(study.trial_params(trial.experiment, trial.trial).asdict()))
        keys = [key for key in current if current[key] != recorded.get(key)]
        if "seed" in keys:  # the derived seeds change with it
            keys = [key for key in keys if not key.endswith("_seed")]
        redone += bool(keys)
        for key in keys:
            where = GLOBAL_SETTINGS.get(key)
            settings.setdefault(where or key, set()).update([] if where else [trial.experiment])
    if not redone:
        return None
    # An experiment's setting that training's sets for all (scale_inputs, precision), changed in
    # every experiment with a finished trial: training's changed.
    for key in [key for key, experiments in settings.items() if experiments == finished]:
        if key in study.config["training"]:
            del settings[key]
            settings[f"training.{key}"] = set()
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
