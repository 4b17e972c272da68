"""The markdown scanning plan.md's and memory.md's readers share: headings, bullets and nesting.

Fenced code blocks and HTML comments are skipped, so a template's
``<!-- move here when DONE -->`` or an example checklist in a code block is not read as state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

BULLET = re.compile(r"(?P<indent>[ \t]*)(?P<bullet>[-*+]|\d{1,9}[.)])(?:[ \t]+(?P<rest>.*)|$)")


_HEADING = re.compile(r" {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*)|$)")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
THEMATIC = re.compile(r" {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})")
_TABLE_RULE_CHARS = frozenset(" \t:|-")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """1-based line numbers as an editor counts them (``\\n`` only; CRLF's ``\\r`` dropped, and a
    lone ``\\r`` inside a line read as a space: no text, and a control character if shown)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r").replace("\r", " ")


def indent_width(indent: str) -> int:
    return sum(4 - (i % 4) if ch == "\t" else 1 for i, ch in enumerate(indent))


def _heading_text(raw: str | None) -> str:
    """The heading's text without its closing hashes (``## Done ##``): those preceded by
    whitespace, or the whole text."""
    text = (raw or "").rstrip(" \t")
    bare = text.rstrip("#")
    if bare != text and (not bare or bare[-1] in " \t"):
        text = bare
    return text.strip()


def _strip_comments(line: str) -> str:
    """``line`` without its complete ``<!-- ... -->`` comments (a scan, not a regex: a line of
    many unclosed ``<!--`` stays linear)."""
    if "<!--" not in line:
        return line
    kept: list[str] = []
    pos = 0
    while (start := line.find("<!--", pos)) >= 0 and (end := line.find("-->", start + 4)) >= 0:
        kept.append(line[pos:start])
        pos = end + 3
    kept.append(line[pos:])
    return "".join(kept)


def table_rule(line: str) -> bool:
    """A table's delimiter row (``|---|:--:|``)."""
    return "|" in line and "-" in line and set(line) <= _TABLE_RULE_CHARS


class Scanner:
    """Walks lines, skipping fenced code and HTML comments; yields what is left with headings
    (ATX and setext) told apart from content."""

    def __init__(self, text: str) -> None:
        self._lines = list(_lines(text))

    def __iter__(self) -> Iterator[tuple[int, str, int | None, str]]:
        """(line number, line, heading level or None, heading text or the line)."""
        fence: str | None = None
        in_comment = False
        lines = self._lines
        skip_next = False
        for index, (number, line) in enumerate(lines):
            if skip_next:
                skip_next = False
                continue
            if fence is not None:
                stripped = line.strip()
                if stripped.startswith(fence) and set(stripped) <= {fence[0]}:
                    fence = None
                continue
            if in_comment:
                if "-->" in line:
                    in_comment = False
                    line = line.split("-->", 1)[1]
                else:
                    continue
            line = _strip_comments(line)
            if "<!--" in line:
                line, in_comment = line.split("<!--", 1)[0], True
            fenced = _FENCE.match(line)
            if fenced:
                fence = fenced.group("fence")
                continue
            if not line.strip():
                yield number, line, None, ""
                continue
            heading = _HEADING.match(line)
            if heading:
                level = len(heading.group("hashes"))
                yield number, line, level, _heading_text(heading.group("text"))
                continue
            if (
                index + 1 < len(lines)
                and not line.startswith((" " * 4, "\t"))
                and not BULLET.match(line)
                and not THEMATIC.match(line)
                and _SETEXT.match(lines[index + 1][1])
                and lines[index + 1][1].strip()
            ):
                level = 1 if lines[index + 1][1].strip().startswith("=") else 2
                skip_next = True
                yield number, line, level, line.strip()
                continue
            yield number, line, None, line


class Nesting:
    """List nesting by indentation: depth and the enclosing lines of each bullet."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, int]] = []  # (indent column, line number)

    def reset(self) -> None:
        self.stack.clear()

    def push(self, column: int, line: int) -> tuple[int, list[int]]:
        """The depth of a bullet at ``column`` and its ancestors' lines, innermost first."""
        while self.stack and self.stack[-1][0] >= column:
            self.stack.pop()
        ancestors = [number for _, number in reversed(self.stack)]
        depth = len(self.stack)
        self.stack.append((column, line))
        return depth, ancestors
