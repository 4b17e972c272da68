"""Agent-written text, made safe to show: control characters become visible escapes."""

from __future__ import annotations

import re

__all__ = ["printable"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character (ESC included) shown as ``\\xNN``.

    Tabs stay tabs and newlines stay newlines; nothing else can reach the terminal as a control
    sequence. Rich markup is not this function's business: render the result as ``Text``.
    """
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
