"""Measurements in child processes, for both benchmarks.

Each measurement runs in a fresh interpreter (``python SCRIPT --child JSON``), so that a backend,
its threads, its GPU memory and its compiled programs cannot leak from one into the next. The child
prints its result as one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


class ChildFailed(RuntimeError):
    """A measurement's process failed or ran past its time; the message ends with its output."""


def start(script: str | Path, spec: dict, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def collect(process: subprocess.Popen, timeout: float, what: str) -> dict:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise ChildFailed(f"{what}: still running after {timeout:.0f} s\n{err[-3000:]}") from None
    if process.returncode != 0:
        raise ChildFailed(f"{what}: failed ({process.returncode})\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_children(script: str | Path, specs: list[dict], timeout: float, env: dict | None = None) -> list[dict]:
    """Start every spec at once, each in its own process; their results in the same order."""
    started = time.monotonic()
    processes = [start(script, spec, env) for spec in specs]
    results = [
        collect(p, max(1.0, timeout - (time.monotonic() - started)), json.dumps(s)[:200])
        for p, s in zip(processes, specs, strict=True)
    ]
    print(f"  {len(specs)} child(ren): {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def run_child(script: str | Path, spec: dict, timeout: float, env: dict | None = None) -> dict:
    return run_children(script, [spec], timeout, env)[0]


def wait_for_siblings(folder: str | Path, parties: int, timeout: float = 600) -> None:
    """In a child started with others (run_children): say it is ready (a file named by its pid in
    ``folder``), then wait until all ``parties`` are, so that their timed parts start together."""
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(os.listdir(folder)) < parties:
        if time.monotonic() > deadline:
            raise ChildFailed(f"only {len(os.listdir(folder))} of {parties} children ready after {timeout:.0f} s")
        time.sleep(0.01)


def child_main(handlers: dict) -> bool:
    """In a child (``--child JSON`` on the command line): run the handler its spec's ``kind`` names,
    print the result; return True. False in the parent."""
    if len(sys.argv) < 3 or sys.argv[1] != "--child":
        return False
    spec = json.loads(sys.argv[2])
    print(json.dumps(handlers[spec["kind"]](spec)))
    return True
