"""Small file helpers: atomic writes, checksums, .npy headers.

Every file the workflow produces is written to a temporary name in the same folder and
renamed into place only when complete, so that a crash, a kill or a full disk never
leaves a truncated file that a later run would mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from . import StudyError

# What a write fails with when the disk (or the user's quota on it) is full.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(StudyError):
    """A write failed for lack of space: one line that names the file and what to do."""


def disk_full_error(path: str | os.PathLike) -> DiskFullError:
    path = Path(path)
    try:
        stats = os.statvfs(path if path.is_dir() else path.parent)
        free = f"only {stats.f_bavail * stats.f_frsize / 1e6:.1f} MB free there"
    except OSError:
        free = "its folder no longer exists"
    return DiskFullError(
        f"no space left on the device while writing {path} ({free}); free some space on that disk, or "
        "run in a folder on a larger one, and run snakemake again: what is finished is kept"
    )


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; rename it onto ``dest`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``dest`` is left untouched. ``suffix`` is for writers that insist on an extension. ``dest``
    gets the mode of a normally created file (mkstemp makes its file 0600, readable by its owner
    alone; on a shared file system colleagues must be able to read the study).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A writer killed with SIGKILL cannot clean up; its leftovers for this file go now (Snakemake
    # runs one job per output at a time, so they cannot belong to a live writer).
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*{suffix}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync_file(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(error, OSError) and error.errno in DISK_FULL:  # after the unlink: its space is free
            raise disk_full_error(dest) from error
        raise


def _umask() -> int:
    """The process's umask: from /proc where there is one, since os.umask reads it only by setting
    it (for a moment, to the strictest value, in case another thread creates a file meanwhile)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def save_npy(dest: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as a C-ordered .npy file atomically (the bytes of ``np.save``, to a temp
    file, then renamed)."""
    array = np.require(array, requirements="C")
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, np.lib.format.header_data_from_array_1_0(array))
            # the file's own write, not numpy's tofile: that one reports a full disk without its errno
            handle.write(array.reshape(-1).view(np.uint8).data)


def write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text)


def write_json(dest: str | os.PathLike, data) -> None:
    write_text(dest, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def remove_empty_folders(root: str | os.PathLike) -> None:
    """Remove ``root`` and every folder below it that holds no file (deepest first)."""
    for folder, _, _ in os.walk(root, topdown=False):  # each folder after the folders inside it
        with contextlib.suppress(OSError):  # not empty, or gone already
            os.rmdir(folder)


def npy_layout(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype, int]:
    """Return (shape, dtype, data offset) of a C-ordered .npy file, checking it is complete.

    Raises ValueError for a file that is not a .npy file, is Fortran-ordered, or is
    shorter or longer than its header says (a truncated write).
    """
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(
            version
        )
        if read_header is None:
            raise ValueError(f"{path}: unsupported .npy format version {version}")
        shape, fortran_order, dtype = read_header(handle)
        offset = handle.tell()
    if fortran_order:
        raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        raise ValueError(f"{path}: file is {actual} bytes but its header promises {expected} (truncated?)")
    return tuple(shape), dtype, offset
