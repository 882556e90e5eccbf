"""Per-epoch checkpoints of one trial: what a killed or preempted trial resumes from.

After every epoch the model, its optimizer state and the history so far are saved outside the
rule's outputs. A rerun resumes from the last finished epoch and, because each epoch's order
depends only on (seed, epoch), ends with the numbers of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .fileio import atomic_path, file_digest, write_json


class Checkpoints:
    """Per-epoch checkpoints of one trial, valid only for the exact same parameters, inputs and Keras.

    ``state.json`` names the model file of the last finished epoch and records its sha256, so a
    truncated, torn or replaced model file is noticed before Keras reads it. A checkpoint that
    cannot be trusted is not resumed: the log says why and the trial starts from epoch 1 (only the
    last finished epoch is kept, so there is no older good one to fall back to).
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str, log: Callable[[str], None] = print):
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.state_file = self.folder / "state.json"
        self.log = log

    @staticmethod
    def versions() -> dict:
        """What wrote a checkpoint: another Keras or backend may read it differently (or not at all)."""
        import keras

        return {"keras": keras.__version__, "backend": keras.backend.backend()}

    def _discard(self, why: str) -> None:
        self.log(f"not resuming from the checkpoint in {self.folder}: {why}; starting from epoch 1")

    def load(self):
        """(model, state) of the last finished epoch, or None: nothing to resume, or a checkpoint
        that cannot be trusted (said in the log)."""
        import keras

        if not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
            name, digest = state["model_file"], state["model_sha256"]
            if Path(name).name != name or len(state["history"]) != state["epoch"]:
                raise ValueError("inconsistent fields")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return self._discard(f"state.json cannot be read ({exc})")
        if state.get("fingerprint") != self.fingerprint:
            return self._discard("it was written for other parameters or inputs")
        if state.get("versions") != self.versions():
            return self._discard(f"it was written by {state.get('versions')}, this is {self.versions()}")
        model_file = self.folder / name
        try:
            actual = file_digest(model_file)
        except OSError as exc:
            return self._discard(f"its model file cannot be read ({exc.strerror or exc})")
        if actual != digest:
            return self._discard(f"{name} is not the file state.json recorded (truncated, torn or replaced)")
        try:
            model = keras.saving.load_model(model_file)
        except Exception as exc:  # whatever Keras makes of a file it cannot read: start afresh
            first_line = (str(exc).splitlines() or [""])[0][:200]
            return self._discard(f"Keras cannot load {name} ({type(exc).__name__}: {first_line})")
        return model, state

    def save(self, model, state: dict) -> None:
        model_file = self.folder / f"epoch-{state['epoch']:04d}.keras"
        with atomic_path(model_file, suffix=".keras") as tmp:
            model.save(tmp)
        write_json(
            self.state_file,
            {
                **state,
                "fingerprint": self.fingerprint,
                "versions": self.versions(),
                "model_file": model_file.name,
                "model_sha256": file_digest(model_file),
            },
        )
        for old in self.folder.glob("epoch-*.keras"):  # only after the state names the new file
            if old.name != model_file.name:
                old.unlink(missing_ok=True)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def fingerprint(params: dict, digests: dict) -> str:
    """What a checkpoint is valid for: the trial's parameters and the sha256 of its inputs."""
    blob = json.dumps({"params": params, "inputs": digests}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def checkpointed_epoch(folder: str | os.PathLike) -> int:
    """The last finished epoch that ``folder`` holds a checkpoint of, as its state.json says (0: none)."""
    try:
        return int(json.loads((Path(folder) / "state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
