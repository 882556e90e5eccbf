"""GPU slots for training jobs on a workstation: several trials per GPU, each GPU used evenly.

Snakemake's ``gpu`` resource limits how many trials train on GPUs at once, but it does not tell a
job *which* GPU to use (it sets no ``CUDA_VISIBLE_DEVICES``). Each training job therefore claims a
slot itself: GPU g has ``trials_per_gpu`` slots, each an exclusive ``flock`` on its own lock file,
and the job narrows ``CUDA_VISIBLE_DEVICES`` to its GPU before the Keras backend starts. Slots are
tried in the order slot 0 of every GPU, then slot 1 of every GPU, ..., so trials spread over the
GPUs before they share one. The kernel drops a lock when its process ends, however it ends (a
SIGKILL too), so a crashed trial never keeps its slot. Under a scheduler that already chose the
job's GPUs (SLURM), nothing is changed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import StudyError

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


def asks_for_gpu(gpu=0, gres=None) -> bool:
    """Whether a job's resources ask for a GPU: ``gpu`` >= 1 (the GPU profile, or SLURM's --gpus),
    or a SLURM ``gres`` for a GPU or a share of one (``gpu:1``, ``shard:1``, ``mps:25``)."""
    kinds = {part.split(":")[0] for part in str(gres or "").split(",") if part}
    return int(gpu or 0) > 0 or bool(kinds & {"gpu", "shard", "mps"})


def default_lock_dir(env=os.environ) -> Path:
    """$CIFAR_NOISE_GPU_LOCKS, else a folder of this user's in the temporary directory (two users
    of one machine must not share lock files they cannot open)."""
    if env.get("CIFAR_NOISE_GPU_LOCKS"):
        return Path(env["CIFAR_NOISE_GPU_LOCKS"])
    return Path(tempfile.gettempdir()) / f"cifar-noise-gpu-locks-{os.getuid()}"


def slot_order(gpus: list[str], trials_per_gpu: int) -> list[tuple[str, int]]:
    """(GPU, slot) pairs in the order they are tried: the GPUs' first slots, then their second..."""
    return [(gpu, slot) for slot in range(trials_per_gpu) for gpu in gpus]


def claim_gpu(
    lock_dir: str | os.PathLike | None = None,
    env=os.environ,
    poll_seconds: float = 2.0,
    log: Callable[[str], None] = print,
    trials_per_gpu: int = 1,
) -> str | None:
    """Claim a free slot of a GPU for this process and set CUDA_VISIBLE_DEVICES to its GPU; return
    the GPU's id. Returns None (and changes nothing) when a scheduler already chose the GPUs. Waits
    while every slot is taken; raises StudyError when no GPU is visible at all."""
    if "SLURM_JOB_ID" in env and "CUDA_VISIBLE_DEVICES" in env:
        log(f"GPU(s) {env['CUDA_VISIBLE_DEVICES']} given by SLURM job {env['SLURM_JOB_ID']}")
        return None
    if trials_per_gpu < 1:
        raise StudyError(f"trials_per_gpu is {trials_per_gpu}; it must be at least 1")
    gpus = visible_gpus(env)
    if not gpus:
        smi = "nvidia-smi is not installed" if shutil.which("nvidia-smi") is None else "nvidia-smi -L lists none"
        raise StudyError(
            "this job asked for a GPU, but none is visible "
            f"(CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '<unset>')}, {smi}). Fix: run on a "
            "machine with a GPU and its driver, or train on the CPU by leaving out the GPU profile"
        )
    folder = Path(lock_dir) if lock_dir else default_lock_dir(env)
    folder.mkdir(parents=True, exist_ok=True)
    waited = 0.0
    while True:
        for gpu, slot in slot_order(gpus, trials_per_gpu):
            lock = folder / f"gpu-{gpu}.slot-{slot}.lock"
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _HELD.append(fd)
            env["CUDA_VISIBLE_DEVICES"] = gpu
            log(f"claimed slot {slot + 1} of {trials_per_gpu} on GPU {gpu} (lock {lock})")
            return gpu
        if waited % 60 < poll_seconds:
            log(
                f"all {len(gpus) * trials_per_gpu} GPU slots ({len(gpus)} GPUs x {trials_per_gpu}) are "
                "taken by other jobs; waiting"
            )
        time.sleep(poll_seconds)
        waited += poll_seconds


# Of its GPU's memory, the jobs sharing it take this much together (the rest: CUDA's own).
GPU_MEMORY_SHARED = 0.9


def claim_for_job(resources, log: Callable[[str], None] = print) -> float | None:
    """For a job whose resources (Snakemake's ``resources``: gpu, gres, trials_per_gpu, as the GPU and
    SLURM profiles set them) ask for a GPU: claim a slot before the backend starts and return this
    job's share of the GPU's memory. None when the job runs on the CPU."""
    if not asks_for_gpu(getattr(resources, "gpu", 0), getattr(resources, "gres", None)):
        return None
    trials_per_gpu = int(getattr(resources, "trials_per_gpu", 1))
    claim_gpu(log=log, trials_per_gpu=trials_per_gpu)
    return GPU_MEMORY_SHARED / trials_per_gpu
