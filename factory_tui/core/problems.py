"""A problem: something in the factory's files that could not be read or does not fit the format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """What was wrong, where (file and, when it applies, line) — never an exception."""

    file: str
    message: str
    line: int | None = None

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "message": self.message}


def parse_json(file: str, data: bytes) -> tuple[Any, Problem | None]:
    """``data`` as JSON, or ``(None, the problem)`` saying why it is not: not UTF-8, not valid
    JSON (with its line), an integer of over 4300 digits, nested too deeply. Never raises."""
    try:
        return json.loads(data), None
    except UnicodeDecodeError as error:
        return None, Problem(file, f"not UTF-8 text (byte {error.start})")
    except json.JSONDecodeError as error:
        return None, Problem(file, f"not valid JSON: {error.msg}", error.lineno)
    except ValueError:  # json reads integers with int(), which refuses more than 4300 digits
        return None, Problem(file, "not valid JSON: an integer with more than 4300 digits")
    except RecursionError:
        return None, Problem(file, "not valid JSON: nested too deeply")
