"""The markdown of both benchmarks' reports: blocks that a blank line follows, and tables.

A report is a list of sections, each a list of lines (empty where it has nothing to say), joined
into one document; so a section can be written, and read, apart from the others.
"""

from __future__ import annotations

from collections.abc import Iterable


def blocks(*parts: str | list[str]) -> list[str]:
    """The lines of ``parts`` (a heading or paragraph, or a table's lines), each part followed by a blank line."""
    lines: list[str] = []
    for part in parts:
        lines += [part] if isinstance(part, str) else part
        lines.append("")
    return lines


def table(header: str, rows: Iterable[str]) -> list[str]:
    """A markdown table: ``header`` (``| a | b |``), the separator line for its columns, the rows."""
    columns = header.count("|") - 1
    return [header, "|" + "---|" * columns, *rows]


def document(sections: Iterable[list[str]]) -> str:
    return "\n".join(line for section in sections for line in section)
