"""What a trial records so that it can be reproduced: versions, device, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata


def package_versions(names=("numpy", "keras", "tensorflow", "torch", "jax", "snakemake")) -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def git_commit(folder: str | os.PathLike) -> str | None:
    """The workflow's commit, with "-dirty" when tracked files were modified; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.split(":")[0].strip() == field), None)
    except OSError:
        return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def cpu_flags() -> dict:
    """Whether the CPU has the instructions that bfloat16 arithmetic needs (and AVX-512, AVX2)."""
    flags = set((_cpuinfo("flags") or "").split())
    return {flag: flag in flags for flag in ("avx512_bf16", "amx_bf16", "avx512f", "avx2")}
