"""The log viewer's filter: :class:`FilterSpec` (instance / task / event / free text) and the
line predicate it builds. An instance filter also matches the lines of tasks whose
``SESSION-START`` named that instance (the index keeps that task map while indexing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from factory_tui.core.oplog import Event, parse_line

__all__ = ["FilterSpec", "Predicate", "same_instance"]

Predicate = Callable[[str], bool]
"""Decides whether one line (decoded, without its line ending) is wanted."""

_FILTER_KEYS = ("instance", "task", "event", "text")


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """Which lines to show. Every criterion given must hold (AND); None means any.

    - ``text``: case-insensitive substring of the raw line (matches unparseable lines too);
    - ``event``: the event name, case-insensitive; a trailing ``*`` makes it a prefix
      (``STEP-*``);
    - ``task``: the ``task`` field, case-insensitive;
    - ``instance``: the ``instance`` field (``t48217`` also matches ``t48217-a3f2``), OR the line's
      task is one whose ``SESSION-START`` named that instance (pass those tasks to
      :meth:`matcher`; :meth:`LogIndex.predicate` does).

    A line that does not parse as an event matches only a text-only spec.
    """

    instance: str | None = None
    task: str | None = None
    event: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, query: str) -> FilterSpec | None:
        """``instance:t1 task:CAB-1 event:ERROR free words`` (``key=value`` works too).

        Words without a known key make up the free text. None when the query is blank.
        """
        values: dict[str, str] = {}
        words: list[str] = []
        for token in query.split():
            key, value = _split_token(token)
            if key is not None and value:
                if key == "text":
                    words.append(value)
                else:
                    values[key] = value
            else:
                words.append(token)
        if words:
            values["text"] = " ".join(words)
        if not values:
            return None
        return cls(
            instance=values.get("instance"),
            task=values.get("task"),
            event=values.get("event"),
            text=values.get("text"),
        )

    @property
    def is_empty(self) -> bool:
        return not (self.instance or self.task or self.event or self.text)

    def describe(self) -> str:
        """The spec in the query syntax :meth:`parse` reads."""
        parts = [
            f"{key}:{value}"
            for key in ("instance", "task", "event")
            if (value := getattr(self, key))
        ]
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    def matches(self, line: str, instance_tasks: AbstractSet[str] = frozenset()) -> bool:
        """Whether ``line`` (without its line ending) passes. For many lines use
        :meth:`matcher` once."""
        return self.matcher(instance_tasks)(line)

    def matcher(self, instance_tasks: AbstractSet[str] = frozenset()) -> Predicate:
        """A fast predicate for this spec. ``instance_tasks``: the tasks whose SESSION-START
        named :attr:`instance`.

        Cheap substring checks reject most lines first; they are necessary conditions only, the
        answer for the lines that pass them comes from :func:`~factory_tui.core.oplog.parse_line`.
        """
        text = self.text.upper() if self.text else None
        event = self.event.strip().upper() if self.event else None
        event_prefix = event is not None and event.endswith("*")
        event_needle = event.rstrip("*") if event else None
        task = self.task.upper() if self.task else None
        instance = self.instance
        tasks = frozenset(t.upper() for t in instance_tasks) if instance else frozenset()
        if not (event_needle or task or instance):
            if text is None:
                return _always
            return lambda line: text in line.upper()

        def match(line: str) -> bool:
            up = line.upper()
            if text is not None and text not in up:
                return False
            if event_needle and event_needle not in up:
                return False
            if task is not None and task not in up:
                return False
            if instance is not None and instance not in line:
                if not tasks:
                    return False
                # Plain k=v text (no quotes, no tabs): the task is one of the "task=" tokens.
                plain = '"' not in line and "'" not in line and line.isprintable()
                if plain and not any(v.upper() in tasks for v in _field_values(line, "task")):
                    return False
            parsed = parse_line(line, 0, "")
            if not isinstance(parsed, Event):
                return False
            fields = parsed.fields
            if event is not None:
                if event_prefix:
                    if not parsed.name.startswith(event[:-1]):
                        return False
                elif parsed.name != event:
                    return False
            if task is not None and fields.get("task", "").upper() != task:
                return False
            if instance is not None:
                value = fields.get("instance")
                if not (value is not None and same_instance(value, instance)) and (
                    fields.get("task", "").upper() not in tasks
                ):
                    return False
            return True

        return match


def same_instance(value: str, wanted: str) -> bool:
    """``value`` is the instance ``wanted``, or ``wanted`` is its older ``t<N>`` form."""
    return value == wanted or value.startswith(wanted + "-")


def _always(line: str) -> bool:
    return True


def _split_token(token: str) -> tuple[str | None, str]:
    for sep in (":", "="):
        key, found, value = token.partition(sep)
        if found and key.lower() in _FILTER_KEYS:
            return key.lower(), value
    return None, token


def _field_values(line: str, key: str) -> Iterator[str]:
    """Every value written as ``key=value`` in plain text (no quotes, spaces only)."""
    probe = key + "="
    at = line.find(probe)
    while at >= 0:
        if at == 0 or line[at - 1] in " |":
            start = at + len(probe)
            end = line.find(" ", start)
            yield line[start:] if end < 0 else line[start:end]
        at = line.find(probe, at + 1)
