import os
from pathlib import Path

import pytest
from fixtures import write_tiny_archive

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tiny_archive(tmp_path_factory) -> tuple[Path, str]:
    """A 300 + 100 image CIFAR-format archive (labels written into the pixels) and its md5."""
    path = tmp_path_factory.mktemp("data") / "cifar-10-python.tar.gz"
    md5 = write_tiny_archive(path)
    return path, md5


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory, tiny_archive):
    """The tiny study (every noise, 2 trials each, every trial also evaluated on two corrupted test
    sets), run once from download (file:// + md5) to plots, under umask 022 as a typical shell has it."""
    from workflow_runner import TINY_CORRUPTIONS, snakemake, tiny_config, write_config

    archive, md5 = tiny_archive
    workdir = tmp_path_factory.mktemp("study")
    config = write_config(workdir, tiny_config(url=archive.as_uri(), md5=md5, corruptions=TINY_CORRUPTIONS))
    snakemake(workdir, config=config, umask=0o022)
    return workdir, config
