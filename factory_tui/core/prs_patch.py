"""Split a unified diff (``gh pr diff``, ``git diff``) into one :class:`FileDiff` per file."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FileDiff", "split_patch"]


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file of a PR's diff, for the viewer: its unified diff text, as git wrote it."""

    path: str
    old_path: str | None
    status: str
    additions: int
    deletions: int
    binary: bool
    text: str


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unquote(name: str) -> str:
    """git's C-style quoted path (``"a\\tb"``, octal bytes) back to text."""
    if not (len(name) >= 2 and name[0] == name[-1] == '"'):
        return name
    out = bytearray()
    body = name[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


def _strip_prefix(name: str) -> str:
    name = _unquote(name.strip())
    return name[2:] if name[:2] in ("a/", "b/") else name


def _header_path(rest: str) -> str:
    """``a/P b/P`` (same P both sides) → P; quoted forms unquoted."""
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        if end > 0:
            return _strip_prefix(rest[end + 2 :])
    if len(rest) > 5 and (len(rest) - 5) % 2 == 0:
        half = (len(rest) - 5) // 2
        path = rest[2 : 2 + half]
        if rest == f"a/{path} b/{path}":
            return path
    return _strip_prefix(rest.rsplit(" b/", 1)[-1] if " b/" in rest else rest)


def split_patch(text: str) -> list[FileDiff]:
    """A unified diff (``git diff``, ``gh pr diff``) cut into one :class:`FileDiff` per file."""
    chunks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git "):
            chunks.append([line])
        elif chunks:
            chunks[-1].append(line)
    out: list[FileDiff] = []
    for chunk in chunks:
        header = chunk[0].rstrip("\n")[len("diff --git ") :]
        path = _header_path(header)
        old_path: str | None = None
        status = "M"
        binary = False
        additions = deletions = 0
        in_hunk = False
        minus: str | None = None
        for line in chunk[1:]:
            bare = line.rstrip("\n")
            if not in_hunk:
                if bare.startswith("new file mode"):
                    status = "A"
                elif bare.startswith("deleted file mode"):
                    status = "D"
                elif bare.startswith("rename from "):
                    old_path, status = _unquote(bare[len("rename from ") :]), "R"
                elif bare.startswith("rename to "):
                    path = _unquote(bare[len("rename to ") :])
                elif bare.startswith("Binary files ") or bare == "GIT binary patch":
                    binary = True
                elif bare.startswith("--- "):
                    minus = bare[4:]
                elif bare.startswith("+++ "):
                    plus = bare[4:]
                    if plus != "/dev/null":
                        path = _strip_prefix(plus)
                    elif minus and minus != "/dev/null":
                        path = _strip_prefix(minus)
                elif bare.startswith("@@"):
                    in_hunk = True
                continue
            if line.startswith("+"):
                additions += 1
            elif line.startswith("-"):
                deletions += 1
        out.append(FileDiff(path, old_path, status, additions, deletions, binary, "".join(chunk)))
    return out
