"""One GPU per training job on a multi-GPU workstation.

Snakemake's ``gpu`` resource limits how many trials ask for a GPU at once, but it does not tell a
job *which* GPU to use (it sets no ``CUDA_VISIBLE_DEVICES``). Each training job therefore claims a
GPU itself: it takes an exclusive ``flock`` on a per-GPU lock file and narrows
``CUDA_VISIBLE_DEVICES`` to that GPU before the Keras backend starts. The kernel drops the lock
when the process ends, however it ends (a SIGKILL too), so a crashed trial never keeps its GPU.
Under a scheduler that already gives each job its own GPUs (SLURM), nothing is changed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

_HELD: list[int] = []  # lock file descriptors, kept open for the life of the process


def visible_gpus(env=os.environ) -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    if "CUDA_VISIBLE_DEVICES" in env:
        return [g.strip() for g in env["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def default_lock_dir() -> Path:
    return Path(os.environ.get("CIFAR_NOISE_GPU_LOCKS", Path(tempfile.gettempdir()) / "cifar-noise-gpu-locks"))


def claim_gpu(lock_dir: str | os.PathLike | None = None, env=os.environ, poll_seconds: float = 2.0,
              log: Callable[[str], None] = print) -> str | None:
    """Claim one free GPU for this process and set CUDA_VISIBLE_DEVICES to it; return its id.

    Returns None (and changes nothing) when a scheduler already chose the GPUs or when there is
    no GPU at all; waits while every GPU is claimed by another job.
    """
    if "SLURM_JOB_ID" in env and "CUDA_VISIBLE_DEVICES" in env:
        log(f"GPU(s) {env['CUDA_VISIBLE_DEVICES']} given by SLURM job {env['SLURM_JOB_ID']}")
        return None
    gpus = visible_gpus(env)
    if not gpus:
        log("WARNING: this job asked for a GPU but none is visible; training on the CPU")
        return None
    folder = Path(lock_dir) if lock_dir else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    waited = 0.0
    while True:
        for gpu in gpus:
            fd = os.open(folder / f"gpu-{gpu}.lock", os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _HELD.append(fd)
            env["CUDA_VISIBLE_DEVICES"] = gpu
            log(f"claimed GPU {gpu} (lock {folder}/gpu-{gpu}.lock)")
            return gpu
        if waited % 60 < poll_seconds:
            log(f"all {len(gpus)} GPUs are claimed by other jobs; waiting")
        time.sleep(poll_seconds)
        waited += poll_seconds
