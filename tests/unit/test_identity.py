"""The records of what a split or a shard is (cifar_noise.identity), unit by unit; the workflow
cases (a split or a shard replaced by another trial's) are in test_reliability.py."""

import json

import pytest

from cifar_noise import StudyError
from cifar_noise.identity import check_identity, write_identity

PARAMS = {"train_size": 200, "test_set": "official", "test_size": None, "shuffle": "paired", "seed": 7}
SHA256 = {"train_images": "a" * 64, "train_labels": "b" * 64}


def check(path, params=PARAMS, sha256=SHA256):
    check_identity(path, params, sha256, "split s", "delete s and rerun")


def test_a_record_that_matches_passes(tmp_path):
    write_identity(tmp_path / "split.json", PARAMS, SHA256)
    check(tmp_path / "split.json")


@pytest.mark.parametrize(
    "params, sha256, message",
    [
        ({**PARAMS, "seed": 8}, SHA256, r"split s was made for other parameters \(seed differ, says .*\); delete s"),
        ({**PARAMS, "train_size": 100, "seed": 8}, SHA256, r"\(seed, train_size differ"),
        (PARAMS, {**SHA256, "train_labels": "c" * 64}, r"does not match its record .*: the sha256 of train_labels"),
    ],
)
@pytest.mark.fault(kind="tampered input", real=True)
def test_a_record_of_other_parameters_or_files_is_refused(tmp_path, params, sha256, message):
    write_identity(tmp_path / "split.json", PARAMS, SHA256)
    with pytest.raises(StudyError, match=message):
        check(tmp_path / "split.json", params, sha256)


@pytest.mark.parametrize("text", ["", "{not json", "[1, 2]", '{"params": [], "sha256": {}}', '{"params": {}}'])
@pytest.mark.fault(kind="tampered input", real=True)
def test_a_missing_or_broken_record_is_one_clear_error(tmp_path, text):
    path = tmp_path / "split.json"
    if text:
        path.write_text(text)
    with pytest.raises(StudyError, match=r"split\.json, the record of split s, cannot be read .*; delete s and rerun"):
        check(path)


def test_parameters_compare_as_json_reads_them_back(tmp_path):
    params = {**PARAMS, "noise_params": {"sigma": 20.0}, "sizes": (1, 2)}  # a tuple comes back a list
    write_identity(tmp_path / "shard.json", params, SHA256)
    assert json.loads((tmp_path / "shard.json").read_text())["params"]["sizes"] == [1, 2]
    check(tmp_path / "shard.json", params)
