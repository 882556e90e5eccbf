"""Atomic writes give a file the mode a normally created one gets under the user's umask."""

import os
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cifar_noise.download import copy_archive
from cifar_noise.fileio import atomic_path, file_digest, save_npy, write_json, write_text


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_atomic_writes_follow_the_umask(tmp_path, umask_027):
    source = tmp_path / "source.bin"
    source.write_bytes(b"archive")
    writers = {
        "text.md": lambda path: write_text(path, "x"),
        "data.json": lambda path: write_json(path, {"a": 1}),
        "array.npy": lambda path: save_npy(path, np.zeros(3)),
        "copy.tar.gz": lambda path: copy_archive(source, path, None, file_digest(source, "md5")),
    }
    for name, write in writers.items():
        write(tmp_path / name)
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


@pytest.mark.fault(kind="kill", real=False)  # a killed writer's leftovers, made by hand
def test_leftovers_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".shard-0000.npy.abc123.part").write_bytes(b"half a shard")
    (tmp_path / ".other.npy.xyz.part").write_bytes(b"not ours")
    save_npy(tmp_path / "shard-0000.npy", np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npy.xyz.part", "shard-0000.npy"]


def test_git_ignores_what_a_write_cut_short_leaves(tmp_path):
    # A run killed mid-copy (publish.resume) leaves atomic_path's temporary in the snapshot folder,
    # which is committed as it stands: git must not pick the temporary up.
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "metrics.json") as partial:
        name = partial.name
        raise KeyboardInterrupt
    left = f"results-cpu/experiments/e/trial-01/{name}"
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", left], cwd=repo)
    assert ignored.returncode == 0, f"{left} is not in .gitignore"
