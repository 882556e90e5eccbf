"""Running the real workflow (snakemake as a subprocess) on small configs, for the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

TINY_EXPERIMENT = {"train_size": 200, "test_set": "official", "architecture": "seed_a", "epochs": 1,
                   "batch_size": 50, "trials": 2}


def tiny_config(url: str | None = None, md5: str | None = None, **extra) -> dict:
    """All four conditions, two trials each, on the tiny archive (about a minute on 2 cores)."""
    config = {
        "seed": 7,
        "data": {"url": url or "file:///nonexistent", "md5": md5},
        "shards": {"size": 150, "threads": 1},
        "training": {"threads": 1, "eval_batch_size": 50},
        "experiments": {
            "baseline": {**TINY_EXPERIMENT, "noise": "none"},
            "regional": {**TINY_EXPERIMENT, "noise": "regional", "enlarge": 2},
            "salt_pepper": {**TINY_EXPERIMENT, "noise": "salt_pepper", "enlarge": 2},
            "gaussian": {**TINY_EXPERIMENT, "noise": "gaussian", "enlarge": 2, "test_set": "rest"},
        },
    }
    config.update(extra)
    return config


def write_config(folder: Path, config: dict, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, config: Path | None = None, timeout: float = 900,
              check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    if config is not None:
        command += ["--configfile", str(config)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def files_with_mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
