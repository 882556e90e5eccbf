"""Fetching the CIFAR-10 archive: streamed, checksummed, renamed into place only when good.

Why not Snakemake's HTTP storage plugin (snakemake-storage-plugin-http, read at its 0.3 source):
it checks no checksum, prints no progress, copies the response straight into the final path (a
broken transfer leaves a partial file there), takes http(s) URLs only (the tests download from
file://), and reports a failure as its own exception rather than one line that says what to do
(set data.archive when offline, fix data.md5 when the file differs). This module does all of it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from . import StudyError
from .fileio import DISK_FULL, atomic_path, file_digest

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_MD5 = "c58f30108f718f92721af3b95e74349a"
_CHUNK = 1 << 20


class Progress:
    """Prints "downloaded X of Y MiB (Z%)" lines at most every ``interval`` seconds."""

    def __init__(self, total: int | None, stream: TextIO | None = None, interval: float = 2.0):
        self.total, self.stream, self.interval = total, stream or sys.stderr, interval
        self.done = 0
        self._last = 0.0
        self._reported = -1

    def update(self, nbytes: int, final: bool = False) -> None:
        self.done += nbytes
        now = time.monotonic()
        if (now - self._last < self.interval) if not final else (self._reported == self.done):
            return
        self._last, self._reported = now, self.done
        mib = self.done / 2**20
        if self.total:
            msg = f"downloaded {mib:.1f} of {self.total / 2**20:.1f} MiB ({100 * self.done / self.total:.0f}%)"
        else:
            msg = f"downloaded {mib:.1f} MiB"
        print(msg, file=self.stream, flush=True)


def download(
    url: str,
    dest: str | os.PathLike,
    md5: str | None,
    progress_stream: TextIO | None = None,
    opener: Callable = urllib.request.urlopen,
    timeout: float = 60.0,
) -> None:
    """Stream ``url`` to ``dest``, verifying ``md5`` (if given) before renaming into place.

    Any failure (no network, HTTP error, short read, wrong checksum) raises StudyError and
    leaves neither ``dest`` nor a temporary file behind.
    """
    advice = "check your network, or download it yourself and set data.archive to its path"
    digest = hashlib.md5()
    with atomic_path(dest) as tmp:
        try:
            with opener(url, timeout=timeout) as response, open(tmp, "wb") as out:
                length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
                total = int(length) if length else None
                progress = Progress(total, progress_stream)
                while block := response.read(_CHUNK):
                    out.write(block)
                    digest.update(block)
                    progress.update(len(block))
                progress.update(0, final=True)
        except urllib.error.HTTPError as exc:
            raise StudyError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; {advice}") from None
        except urllib.error.URLError as exc:
            raise StudyError(f"could not reach {url}: {exc.reason}; {advice}") from None
        except (OSError, ValueError) as exc:  # connection reset, timeout, unknown URL type...
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:
                raise  # not the network's fault: atomic_path says so
            raise StudyError(f"download of {url} failed: {exc}; {advice}") from None
        if total is not None and progress.done != total:
            raise StudyError(
                f"download of {url} stopped after {progress.done} of {total} bytes; try again, or {advice}"
            )
        if md5 and digest.hexdigest() != md5.lower():
            raise StudyError(
                f"{url} has md5 {digest.hexdigest()}, expected {md5}; the file is corrupt or not the "
                "CIFAR-10 archive: try again, or fix data.md5 if you meant a different file"
            )


def verify_local_archive(path: str | os.PathLike, md5: str | None, known_md5: str | None = None) -> None:
    """Check a user-supplied archive exists, is readable and (optionally) has the given md5
    (``known_md5``: the file's, where the caller has read it already: 163 MB are read once)."""
    path = Path(path)
    if not path.exists():
        raise StudyError(f"data.archive {path} does not exist; fix the path or remove data.archive to download")
    if path.is_dir() or not os.access(path, os.R_OK):
        raise StudyError(f"data.archive {path} is not a readable file; check the path and its permissions")
    if md5:
        actual = known_md5 or file_digest(path, "md5")
        if actual != md5.lower():
            raise StudyError(
                f"data.archive {path} has md5 {actual}, expected {md5} (data.archive_md5); "
                "the copy is corrupt or a different file"
            )


def copy_archive(src: str | os.PathLike, dest: str | os.PathLike, md5: str | None, content_md5: str) -> None:
    """Copy a local archive to ``dest`` atomically: ``md5`` is the user's optional check
    (data.archive_md5), ``content_md5`` what the workflow saw when it planned the run."""
    verify_local_archive(src, md5, content_md5)  # (a change since then is caught on the copy)
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        copied = file_digest(tmp, "md5")
        if copied != content_md5:
            raise StudyError(
                f"data.archive {src} changed while it was copied (md5 {copied}, planned with "
                f"{content_md5}); run snakemake again"
            )
