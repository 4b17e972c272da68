"""A problem: something in the factory's files that could not be read or does not fit the format."""

from __future__ import annotations

from dataclasses import dataclass


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
