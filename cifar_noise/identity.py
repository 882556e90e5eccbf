"""What a split or a shard is, recorded beside it by the job that makes it and checked by the job
that trains on it.

A .npy file cannot say which trial it belongs to: another trial's split file, or another shard of
the same size, reads just as well and trains to wrong numbers without a word. So split_dataset
writes ``split.json`` (the split's parameters and the sha256 of its four files) and make_shard
writes ``shard-NNNN.json`` beside ``shard-NNNN.npy`` (the shard's parameters and index, its sha256
and that of the originals it was made from). Training computes every input's sha256 anyway (for
metrics.json), compares them with these records and the records' parameters with its own, and
refuses a mismatch before it trains.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import StudyError
from .fileio import write_json

SPLIT_FILES = ("train_images", "train_labels", "test_images", "test_labels")


def shard_record(shard_params: dict, shard: int) -> dict:
    """The parameters a shard's record holds: its trial's shard parameters and its own index."""
    return {**shard_params, "shard": int(shard)}


def shard_sha256(shard: str, train_images: str) -> dict[str, str]:
    """The files a shard's record vouches for: the shard and the originals it was made from."""
    return {"shard": shard, "train_images": train_images}


def write_identity(path: str | os.PathLike, params: dict, sha256: dict[str, str]) -> None:
    write_json(path, {"params": params, "sha256": sha256})


def _plain(value):
    """``value`` as it comes back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value))


def check_identity(path: str | os.PathLike, params: dict, sha256: dict[str, str], what: str, fix: str) -> None:
    """StudyError unless the record at ``path`` holds ``params`` and, for every file, its ``sha256``."""
    try:
        record = json.loads(Path(path).read_text())
        recorded_params, recorded_sha256 = record["params"], record["sha256"]
        if not isinstance(recorded_params, dict) or not isinstance(recorded_sha256, dict):
            raise TypeError("params and sha256 must be JSON objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudyError(f"{path}, the record of {what}, cannot be read ({exc}); {fix}") from None
    if recorded_params != _plain(params):
        differ = sorted(k for k in {*params, *recorded_params} if recorded_params.get(k) != _plain(params.get(k)))
        raise StudyError(f"{what} was made for other parameters ({', '.join(differ)} differ, says {path}); {fix}")
    for name, digest in sha256.items():
        if recorded_sha256.get(name) != digest:
            raise StudyError(
                f"{what} does not match its record {path}: the sha256 of {name} differs (a file replaced "
                f"or modified); {fix}"
            )


def check_trial_inputs(inputs: dict, digests: dict[str, str], identities: dict) -> None:
    """Check a trial's split and shards against their records (``identities``: the ``split`` record's
    path, the ``split_params`` and ``shard_params`` the trial expects, and the ``shards``' records)."""
    split_folder = Path(identities["split"]).parent
    check_identity(
        identities["split"],
        identities["split_params"],
        {name: digests[name] for name in SPLIT_FILES},
        f"split {split_folder.name}",
        f"delete {split_folder} and run snakemake again to rebuild it",
    )
    for index, (shard, record) in enumerate(zip(inputs["shards"], identities["shards"], strict=True)):
        check_identity(
            record,
            shard_record(identities["shard_params"], index),
            shard_sha256(digests[Path(shard).name], digests["train_images"]),
            f"shard {shard}",
            f"delete {shard} and run snakemake again to rebuild it",
        )
