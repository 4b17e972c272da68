"""When the main screen's footer works out again which keys apply.

Textual works the keys out by asking every binding's ``check_action`` along the focus chain
(forty-odd calls, each of the cockpit's asking what is selected and what the fleet says of it),
and the footer rebuilds every key widget when told to. A fleet comes many times a second under
a busy log, and almost never changes a key: :class:`FooterKeys` works the keys out only when
what they depend on changed (the screen says what that is: the focus, the view, what is
selected and which actions apply to it, ...), and refreshes the footer only when the keys
themselves changed.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen

__all__ = ["FooterKeys", "keys_that_apply"]

#: A key, the action it is bound to, and whether it is enabled: what the footer shows.
KeysShown = tuple[tuple[str, str, bool], ...]


def keys_that_apply(screen: Screen[Any]) -> KeysShown:
    """The keys that apply on ``screen`` now (every ``check_action`` asked)."""
    active = screen.active_bindings
    return tuple((key, b.binding.action, b.enabled) for key, b in active.items())


class FooterKeys:
    """The keys a screen's footer shows and what they were worked out from."""

    def __init__(self) -> None:
        self.keys: KeysShown = ()
        self.depends_on: object = None
        """What the shown keys were worked out from (``None``: not known, work them out)."""
        self.worked_out = 0
        """How many times the keys were worked out here (for tests)."""

    def refresh_if_changed(self, screen: Screen[Any], depends_on: object) -> None:
        """Refresh ``screen``'s footer if the keys that apply changed; worked out only if
        ``depends_on`` (what they depend on, now) changed since they last were."""
        if depends_on is not None and depends_on == self.depends_on:
            return
        self.depends_on = depends_on
        self.worked_out += 1
        keys = keys_that_apply(screen)
        if keys != self.keys:
            self.keys = keys
            screen.refresh_bindings()

    def refreshed(self, screen: Screen[Any], depends_on: object) -> None:
        """``screen``'s footer was refreshed, whoever asked (a focus change, a handler): it
        shows the keys that apply now, worked out from ``depends_on``."""
        self.keys = keys_that_apply(screen)
        self.depends_on = depends_on
