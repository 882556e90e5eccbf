"""The README's table of the faults and bad inputs the test suite tries, counted from the tests'
``fault(kind, real)`` markers (registered in pyproject.toml), never typed by hand.

    python tests/fault_table.py            # print the table
    python tests/fault_table.py --write    # rewrite README.md's table (make fault-table)
    python tests/fault_table.py --check    # exit 1 if README.md's table is not the collected one

A case is one collected test item (one parameter of a parametrized test); ``real=False`` marks a
fault that a test simulates (a monkeypatched function, a fake opener) instead of causing it.
Collection runs pytest in this process (``--collect-only``): nothing is trained or run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
START, END = "<!-- fault-table:start -->", "<!-- fault-table:end -->"
REGENERATE = "make fault-table"


class _Collector:
    """A pytest plugin that keeps the fault marker of every collected test item."""

    def __init__(self):
        self.cases: list[tuple[str, str, bool]] = []  # (test id, kind, real)
        self.errors: list[str] = []

    def pytest_collection_finish(self, session):
        for item in session.items:
            marker = item.get_closest_marker("fault")
            if marker is None:
                continue
            kind, real = marker.kwargs.get("kind"), marker.kwargs.get("real")
            if marker.args or not isinstance(kind, str) or not kind or not isinstance(real, bool):
                self.errors.append(f"{item.nodeid}: write @pytest.mark.fault(kind='...', real=True|False)")
            else:
                self.cases.append((item.nodeid, kind, real))


def collect(paths: list[str]) -> list[tuple[str, str, bool]]:
    """(test id, kind, real) of every test item with a fault marker under ``paths``."""
    collector = _Collector()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *paths], plugins=[collector])
    if code != pytest.ExitCode.OK or collector.errors:
        raise SystemExit("collecting the tests failed:\n" + "\n".join(collector.errors) + out.getvalue()[-3000:])
    return collector.cases


def table(cases: list[tuple[str, str, bool]]) -> str:
    """kind | cases tried | real | simulated, one row per kind and a total."""
    tried = Counter(kind for _, kind, _ in cases)
    real = Counter(kind for _, kind, is_real in cases if is_real)
    lines = ["| kind | cases tried | real | simulated |", "|---|---|---|---|"]
    lines += [f"| {kind} | {tried[kind]} | {real[kind]} | {tried[kind] - real[kind]} |" for kind in sorted(tried)]
    total, total_real = sum(tried.values()), sum(real.values())
    lines.append(f"| **all** | **{total}** | **{total_real}** | **{total - total_real}** |")
    return "\n".join(lines) + "\n"


def replace_table(text: str, new_table: str) -> str:
    """``text`` with what lies between the START and END markers replaced by ``new_table``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"README.md needs one {START} and one {END} line, in that order")
    before, rest = text.split(START)
    _, after = rest.split(END)
    return f"{before}{START}\n{new_table}{END}{after}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    action.add_argument("--check", action="store_true", help="exit 1 if README.md's table differs")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("paths", nargs="*", default=[str(REPO / "tests")], help="what to collect (default: tests/)")
    args = parser.parse_args(argv)
    current = table(collect(args.paths))
    if args.write or args.check:
        text = args.readme.read_text()
        wanted = replace_table(text, current)
        if args.check and wanted != text:
            print(
                f"{args.readme.name}'s fault table is not the one counted from the tests' fault markers; "
                f"regenerate it with `{REGENERATE}`. Counted:\n{current}",
                file=sys.stderr,
            )
            return 1
        if args.write and wanted != text:
            args.readme.write_text(wanted)
    else:
        print(current, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
