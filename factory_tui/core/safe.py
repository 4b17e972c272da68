"""Agent-written text, made safe to show: control characters become visible escapes.

Every output path goes through here: the cockpit, the CLI's text (tables, messages, errors) and
its JSON. A transcript's model name, an instance id, a PR title or ``gh``'s stderr can hold a
clear-screen, an OSC 52 clipboard write, a C1 CSI (U+009B, which some terminals honour) or a
bidi override (U+202E) that makes the rest of a line read backwards; none of them reaches the
terminal as such.
"""

from __future__ import annotations

import re

__all__ = ["dumps_json", "json_safe", "plain_int", "printable", "shown_value"]

# C0 (tab and newline aside), DEL, C1, and the bidi controls: embeddings and overrides
# (U+202A-U+202E), isolates (U+2066-U+2069), the LRM/RLM marks and the Arabic letter mark; and
# lone surrogates (a ``\udcff`` escape in an agent's JSON, a path's byte that is not UTF-8), which
# no UTF-8 output can write: a strict stdout or a snapshot file raised UnicodeEncodeError.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"
_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]")
# On one line a newline, a tab or a line/paragraph separator would break a row or a column.
_CONTROL_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029{_SURROGATES}]")
_SHORT = {"\n": "\\n", "\t": "\\t"}
# What json.dumps leaves raw: DEL, C1, bidi controls, U+2028/U+2029 (it escapes C0 itself), and
# lone surrogates: a path's byte that is not UTF-8 (which went out as that byte, and a strict
# reader refused the whole document: no longer UTF-8).
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}\u2028\u2029{_SURROGATES}]")


def plain_int(text: str, *, digits: int = 18) -> int | None:
    """The number ``text`` spells in ASCII digits (``digits`` of them at most), else None.
    Agent-written numbers are read through here: ``"²".isdigit()`` is true and ``int("²")``
    raises, ``int("١٢")`` is 12, and ``int()`` of a 5,000-digit string raises too."""
    if 0 < len(text) <= digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = True) -> str:
    """``text`` with every control character shown as an escape: ``\\x1b`` (C0, DEL, C1) or
    ``\\u202e`` (bidi controls, lone surrogates).

    With ``multiline`` (the default) tabs and newlines stay, for a diff or a message body; without
    it they become ``\\t`` and ``\\n`` too, for a table cell or a one-line message that a newline
    must not break. Rich markup is not this function's business: render the result as ``Text``.
    """
    pattern = _CONTROL if multiline else _CONTROL_ONE_LINE
    if not pattern.search(text):
        return text
    return pattern.sub(_escape, text)


def json_safe(dumped: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL, C1 controls, bidi
    controls and line separators written as ``\\uXXXX`` escapes: the same data after
    ``json.loads``, and nothing a terminal would act on when the JSON is printed.

    Valid because those characters can only stand inside a JSON string, where an escape means
    the same character. Costs one regex search when there is nothing to replace.
    """
    if dumped.isascii() or not _JSON_RAW.search(dumped):  # isascii: O(1), the common case
        return dumped
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def shown_value(value: object, limit: int = 40) -> str:
    """A value read from a file, as JSON cut to ``limit`` characters (``…`` marks a cut), for a
    problem's message. Total: a value JSON cannot hold (bytes, a set: what a crafted cache file
    of kept values can hold), or one nested past the encoder's depth, is named by its type."""
    import json

    try:
        if type(value) not in _JSON_TYPES:
            raise TypeError  # named, not written as if it were the text of its name
        text = json.dumps(value, ensure_ascii=False, default=_type_name)
    except (TypeError, ValueError, RecursionError):  # a key JSON cannot hold, a cycle, depth
        text = _type_name(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_JSON_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})


def _type_name(value: object) -> str:
    return f"<{type(value).__name__}>"


def dumps_json(value: object, *, indent: int | None = 1) -> str:
    """``value`` as JSON text for a terminal or a pipe: UTF-8 kept readable, controls escaped."""
    import json  # here: the cockpit's first frame needs no JSON (issue 17)

    return json_safe(json.dumps(value, ensure_ascii=False, indent=indent))
