"""Running a Snakemake ``script:`` job: its output goes to the job's log, user errors to one line.

Scripts call :func:`run` with the ``snakemake`` object and a function of it. Everything the job
prints (TensorFlow's C++ logging too) goes to the rule's ``log:`` file. A :class:`StudyError`
becomes a single ``Error in rule ...`` line on the terminal and a non-zero exit; any other
exception leaves its traceback in the log and a one-line pointer on the terminal. A full disk is
a user error too, wherever the write failed (the log itself included). Ctrl-C is one line as well,
saying what a rerun does: where Python happened to be is of no use to anyone.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import Callable

from . import StudyError
from .fileio import DISK_FULL, disk_full_error


def attempt_log(log_path: str, attempt: int) -> str:
    """Where attempt ``attempt`` of a job keeps its log: ``trial-01.log`` -> ``trial-01.attempt-2.log``."""
    stem, ext = os.path.splitext(log_path)
    return f"{stem}.attempt-{attempt}{ext}"


def _redirect_to(log_path: str, attempt: int | None = None) -> int:
    """Point file descriptors 1 and 2 at ``log_path`` (appended to, under a header); return a copy
    of the original stderr.

    Snakemake deletes a job's log before every attempt, so a retry would lose the log of the
    attempt that failed (a preempted or killed one included, which can write nothing at its end).
    So each attempt's log is also hard-linked as ``<log>.attempt-<N>``: the link survives the
    deletion and keeps every line the attempt wrote, to its last. An attempt that finishes removes
    its link (its log is the job's log), so only failed attempts leave one.
    """
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    terminal = os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if attempt is not None:
        kept = attempt_log(log_path, attempt)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(kept)  # an earlier run's attempt of the same number
        with contextlib.suppress(OSError):  # a file system without hard links keeps the plain log only
            os.link(log_path, kept)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    with contextlib.suppress(OSError):  # a full disk: the job's own writes will say so
        os.write(log, f"=== {started}, host {platform.node()}, process {os.getpid()} ===\n".encode())
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    return terminal


# The terminal's standard output while run() sends the job's own to its log (see tell).
_terminal_out: int | None = None


def log(message: str) -> None:
    print(message, flush=True)


def tell(message: str) -> None:
    """``message`` in the job's log and on the terminal: for a job whose output is for the user
    to read there (the plan)."""
    log(message)
    if _terminal_out is not None:
        os.write(_terminal_out, (message.rstrip() + "\n").encode())


def run(snakemake, main: Callable, interrupted: Callable[[], str] | None = None) -> None:
    """Run ``main(snakemake)``; ``interrupted()`` says what Ctrl-C left behind (a trial: its last
    checkpoint), in place of the default line."""
    rule = getattr(snakemake, "rule", "?")
    log_path = snakemake.log[0] if len(snakemake.log) else None
    # a rule that is retried declares its attempt as a resource (see rule train_trial)
    attempt = getattr(getattr(snakemake, "resources", None), "attempt", None)
    global _terminal_out
    _terminal_out = os.dup(1) if log_path else None
    terminal = _redirect_to(log_path, attempt) if log_path else os.dup(2)

    def tell_terminal(text: str) -> None:
        os.write(terminal, (text.rstrip() + "\n").encode())

    try:
        main(snakemake)
        if log_path and attempt is not None:  # a finished attempt's log is the job's log itself
            with contextlib.suppress(OSError):
                os.unlink(attempt_log(log_path, attempt))
    except BaseException as error:  # KeyboardInterrupt too
        if isinstance(error, OSError) and error.errno in DISK_FULL:  # a write outside atomic_path, e.g. the log
            error = disk_full_error(error.filename or log_path or ".")
        if isinstance(error, KeyboardInterrupt):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the one line short
            error = StudyError(_interruption(interrupted))
        # on a full disk the log may take no more lines: the terminal's line must come regardless
        if isinstance(error, StudyError):
            with contextlib.suppress(OSError):
                print(f"ERROR: {error}", flush=True)
            tell_terminal(f"Error in rule {rule}: {error}")
        else:  # say where the details are
            with contextlib.suppress(OSError):
                traceback.print_exc()
                sys.stderr.flush()
            where = f"; see {log_path}" if log_path else ""
            tell_terminal(f"Error in rule {rule}: {type(error).__name__}: {error}{where}")
        sys.exit(1)


def _interruption(describe: Callable[[], str] | None) -> str:
    default = "interrupted (Ctrl-C); a rerun does this job again"
    try:
        return describe() if describe else default
    except Exception:  # the job's own account of what it left: never worth a traceback here
        return default
