"""Torn, truncated, garbage and foreign checkpoints: the next run says so in its log, starts the trial
from epoch 1 (or resumes the last good checkpoint) and ends with the numbers of an uninterrupted run.

run_trial is called directly on a tiny split (2 epochs of 2 steps): the workflow adds nothing here
that the kill tests of test_reliability.py do not already cover."""

import json
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from fixtures import labelled_images, trial_params
from workflow_runner import REPO, RESULT_KEYS

from cifar_noise.fileio import file_digest, save_npy
from cifar_noise.train import Runtime, run_trial

pytestmark = pytest.mark.slow

PARAMS = trial_params(experiment="tiny", train_size=100, noise="none", epochs=2, batch_size=50, shard_size=100, seed=11)


class Interrupted(Exception):
    pass


def inputs_in(folder):
    images, labels = labelled_images(100, seed=3)
    test_images, test_labels = labelled_images(50, seed=4, offset=100)
    arrays = {"train_images": images, "train_labels": labels, "test_images": test_images, "test_labels": test_labels}
    for name, array in arrays.items():
        save_npy(folder / f"{name}.npy", array)
    return {name: str(folder / f"{name}.npy") for name in arrays} | {"shards": []}


def outputs_in(folder):
    files = {"model": "model.keras", "history": "history.csv", "metrics": "metrics.json"}
    return {key: str(folder / "out" / name) for key, name in files.items()}


def numbers(metrics):
    return {key: metrics[key] for key in RESULT_KEYS}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    return inputs_in(folder)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("reference")
    return numbers(run_trial(PARAMS, data, outputs_in(folder), folder / "checkpoints", Runtime(log=lambda _: None)))


@pytest.fixture(scope="module")
def after_epoch_one(tmp_path_factory, data):
    """The checkpoint folder of a run stopped after epoch 1 (a template; tests work on copies)."""
    folder = tmp_path_factory.mktemp("interrupted")

    def stop_in_epoch_two(line):
        if line.startswith("epoch 2/"):  # logged before epoch 2 is checkpointed
            raise Interrupted

    with pytest.raises(Interrupted):
        run_trial(PARAMS, data, outputs_in(folder), folder / "checkpoints", Runtime(log=stop_in_epoch_two))
    assert json.loads((folder / "checkpoints/state.json").read_text())["epoch"] == 1
    return folder / "checkpoints"


def rerun(tmp_path, data, checkpoints):
    lines = []
    metrics = run_trial(PARAMS, data, outputs_in(tmp_path), checkpoints, Runtime(log=lines.append))
    return metrics, "\n".join(lines)


def test_an_intact_checkpoint_is_resumed(tmp_path, data, reference, after_epoch_one):
    checkpoints = shutil.copytree(after_epoch_one, tmp_path / "checkpoints")
    metrics, log = rerun(tmp_path, data, checkpoints)
    assert "resuming from the checkpoint after epoch 1" in log
    assert metrics["resumed_from_epoch"] == 1
    assert numbers(metrics) == reference


def _truncate(folder):
    model = folder / "epoch-0001.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def _garbage_model(folder):
    (folder / "epoch-0001.keras").write_bytes(b"\x00garbage" * 1000)


def _garbage_state(folder):
    (folder / "state.json").write_text('{"epoch": 1, "histo')


def _state_not_an_object(folder):
    (folder / "state.json").write_text("[1, 2, 3]")


def _model_missing(folder):
    (folder / "epoch-0001.keras").unlink()


def _zip_of_another_keras(folder):
    """metadata.json inside the .keras zip says another Keras wrote it."""
    model = folder / "epoch-0001.keras"
    with zipfile.ZipFile(model) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    metadata = json.loads(members["metadata.json"])
    members["metadata.json"] = json.dumps({**metadata, "keras_version": "2.15.0"}).encode()
    with zipfile.ZipFile(model, "w") as target:
        for name, payload in members.items():
            target.writestr(name, payload)


def _state_of_another_keras(folder):
    """A checkpoint written by another Keras: state and model file agree with each other."""
    _zip_of_another_keras(folder)
    state = json.loads((folder / "state.json").read_text())
    state["versions"]["keras"] = "2.15.0"
    state["model_sha256"] = file_digest(folder / "epoch-0001.keras")
    (folder / "state.json").write_text(json.dumps(state))


def _bad_model_with_matching_digest(folder):
    """Garbage that state.json vouches for (a checkpoint copied in by hand): Keras itself refuses it."""
    _garbage_model(folder)
    state = json.loads((folder / "state.json").read_text())
    state["model_sha256"] = file_digest(folder / "epoch-0001.keras")
    (folder / "state.json").write_text(json.dumps(state))


# Real damage to real files (the bytes a kill, a bad copy or another Keras would leave).
TORN = pytest.mark.fault(kind="torn checkpoint", real=True)
FOREIGN = pytest.mark.fault(kind="foreign checkpoint", real=True)


@pytest.mark.parametrize(
    "damage, said",
    [
        pytest.param(_truncate, "not the file state.json recorded", marks=TORN),
        pytest.param(_garbage_model, "not the file state.json recorded", marks=TORN),
        pytest.param(_garbage_state, "state.json cannot be read", marks=TORN),
        pytest.param(_state_not_an_object, "state.json cannot be read", marks=TORN),
        pytest.param(_model_missing, "model file cannot be read", marks=TORN),
        pytest.param(_zip_of_another_keras, "not the file state.json recorded", marks=FOREIGN),
        pytest.param(_state_of_another_keras, "written by .*2.15.0", marks=FOREIGN),
        pytest.param(_bad_model_with_matching_digest, "Keras cannot load epoch-0001.keras", marks=FOREIGN),
    ],
)
def test_a_damaged_checkpoint_is_noticed_and_the_trial_starts_afresh(
    tmp_path, data, reference, after_epoch_one, damage, said
):
    checkpoints = shutil.copytree(after_epoch_one, tmp_path / "checkpoints")
    damage(checkpoints)
    metrics, log = rerun(tmp_path, data, checkpoints)
    assert re.search(f"not resuming from the checkpoint in .*: .*{said}.*; starting from epoch 1", log), log
    assert metrics["resumed_from_epoch"] == 0
    assert numbers(metrics) == reference
    assert not checkpoints.exists()


# A child that trains PARAMS and is SIGKILLed by itself halfway through writing epoch 2's model file.
KILLED_WHILE_SAVING = """
import json, os, signal, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests", sys.argv[1] + "/tests/unit"]
import keras
from test_checkpoints import PARAMS
from cifar_noise.train import Runtime, run_trial
args = json.loads(sys.argv[2])
real_save = keras.Model.save
def save(model, path, *a, **k):
    real_save(model, path, *a, **k)
    if os.path.basename(path).startswith(".epoch-0002"):
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)  # half of it on disk when the kill comes
        os.kill(os.getpid(), signal.SIGKILL)
keras.Model.save = save
run_trial(PARAMS, args["inputs"], args["outputs"], args["checkpoints"], Runtime(log=lambda _: None))
"""


@pytest.mark.fault(kind="torn checkpoint", real=True)  # a real SIGKILL; only its moment is arranged
def test_killed_while_writing_a_checkpoint_resumes_the_last_good_one(tmp_path, data, reference):
    checkpoints = tmp_path / "checkpoints"
    args = {"inputs": data, "outputs": outputs_in(tmp_path / "killed"), "checkpoints": str(checkpoints)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_SAVING, str(REPO), json.dumps(args)], capture_output=True, text=True
    )
    assert child.returncode == -9, child.stderr[-3000:]
    assert [p.name for p in checkpoints.glob(".epoch-0002*")], "no half-written checkpoint was left"
    metrics, log = rerun(tmp_path, data, checkpoints)
    assert "resuming from the checkpoint after epoch 1" in log
    assert metrics["resumed_from_epoch"] == 1
    assert numbers(metrics) == reference
