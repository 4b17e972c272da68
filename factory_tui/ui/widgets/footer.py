"""The footer: the keys that apply now, ``? Keys`` and ``q Quit`` always among them.

Textual's footer lays every key out in a row and lets the row run off the right edge, where
``?`` and ``q`` (the last ones) are the first to go. This one fits the row to the width: the keys
the cockpit binds last give way first, the palette's key next, and the keys of
:data:`PINNED` are always shown.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["GIVE_WAY_FIRST", "PINNED", "KeysFooter"]

#: The actions whose key the footer always shows (help, then quit).
PINNED = ("help", "quit")
#: Binding ids whose keys give way before every other one (a view's display options, such as
#: the Agents grid's order, matter less than the actions on what is selected).
GIVE_WAY_FIRST = frozenset({"agents.order-id", "agents.order-attention"})
PALETTE_WIDTH = 14
"""``▏ ^p palette`` and its padding."""


class _Key(FooterKey):
    """A footer key whose compact style is set once, when it is made: Textual's key sets its
    class in a watcher and the footer binds it to its own, two style updates per key at every
    recompose (the footer recomposes whenever the keys that apply change; at start-up that
    was a quarter of the time from the first frame to the views all mounted; issue 17). The
    cockpit never changes the footer's compact style; a change would show at the next
    recompose."""

    def __init__(self, *args: Any, compact: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_reactive(FooterKey.compact, compact)
        self.set_class(compact, "-compact", update=False)


class KeysFooter(Footer):
    """Textual's footer, fitted to its width (see the module's docstring)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._laid_out_width = 0
        self._composed: object = None
        """What the keys shown say (see :meth:`shown`), as of the last compose."""

    def shown(self) -> object:
        """Everything the row of keys shows: the same value, the same row."""
        keys, palette = self.fitted()
        found = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        return (
            tuple(
                (b.key, self.app.get_key_display(b), b.description, b.action, enabled, tip)
                for b, enabled, tip in keys
            ),
            palette and found is not None and (found[1].key, found[2], found[1].tooltip),
            self.compact,
        )

    async def recompose(self) -> None:
        """Compose again, unless the row would be the same: the keys that apply are announced
        at every focus and tab change, and a recompose makes every key anew (issue 17)."""
        ready = self._bindings_ready and self.is_attached and bool(self.children)
        if ready and self.shown() == self._composed:
            return
        await super().recompose()

    def key_width(self, binding: Binding) -> int:
        """The cells a key takes in the row: `` k Description``."""
        return len(self.app.get_key_display(binding)) + 2 + len(binding.description) + 1

    def fitted(self) -> tuple[list[tuple[Binding, bool, str]], bool]:
        """The keys to show (one per action, in the bindings' order, the pinned ones last) and
        whether the palette's key fits too."""
        by_action: dict[str, tuple[Binding, bool, str]] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in by_action:
                by_action[binding.action] = (binding, enabled, tooltip)
        pinned = [by_action.pop(action) for action in PINNED if action in by_action]
        others = sorted(by_action.values(), key=lambda found: found[0].id in GIVE_WAY_FIRST)
        width = self.size.width
        if not width:  # not laid out yet: everything (the resize that follows fits it)
            return [*others, *pinned], True
        used = sum(self.key_width(binding) for binding, _, _ in [*others, *pinned])
        while others and used > width:
            used -= self.key_width(others.pop()[0])
        palette = used + PALETTE_WIDTH <= width
        return [*others, *pinned], palette

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._composed = self.shown()
        keys, palette = self.fitted()
        for binding, enabled, tooltip in keys:
            yield _Key(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
                compact=self.compact,
            )
        if palette and self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, tooltip = found
                yield _Key(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette",
                    disabled=not enabled,
                    tooltip=binding.tooltip or binding.description,
                    compact=True,  # as Textual's footer leaves it (not bound to its own)
                )

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._laid_out_width and self._bindings_ready:
            self._laid_out_width = event.size.width
            self.call_after_refresh(self.recompose)
