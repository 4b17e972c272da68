"""Every key in one place of truth — the bindings — and what is built from them: the help
screen's sections (``?``), the command palette's commands (ctrl+p) and the user's keymap
(factory.toml's ``[keys]``: binding id = key, as Textual's keymaps do)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from factory_tui.config import Config
from factory_tui.ui.targets import ACTIONS, PR_ACTIONS
from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
from factory_tui.ui.widgets.filterbar import FilterBar

if TYPE_CHECKING:
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.screens.cockpit import CockpitScreen
    from factory_tui.ui.screens.help import KeySection

__all__ = [
    "FactoryCommands",
    "binding_ids",
    "key_sections",
    "keymap_from_config",
    "palette_commands",
]

#: What the palette leaves out in read-only mode: the actions that change the factory.
_CHANGES = frozenset((*ACTIONS, *PR_ACTIONS, "council", "launch"))


def key_sections(app: FactoryApp) -> list[KeySection]:
    """Every key, by where it works, for the help screen: the bindings themselves (a user
    keymap applied), and a few of Textual's own widgets' keys said in words."""
    from factory_tui.ui.screens.cockpit import CockpitScreen
    from factory_tui.ui.screens.council import CouncilScreen
    from factory_tui.ui.screens.detail import AgentDetailScreen
    from factory_tui.ui.screens.diff import DiffScreen
    from factory_tui.ui.widgets.claims import ClaimsView
    from factory_tui.ui.widgets.cost import CostPanel
    from factory_tui.ui.widgets.listkeys import LIST_KEYS
    from factory_tui.ui.widgets.log_view import LogView
    from factory_tui.ui.widgets.prs import PrsView, PrTable

    sections: list[KeySection] = [
        ("Everywhere", [*CockpitScreen.BINDINGS, *app.BINDINGS]),
        ("Agents view", [*AgentGrid.BINDINGS, *AgentPane.BINDINGS]),
        (
            "Every list and table",
            [
                *LIST_KEYS,
                Binding("pageup,pagedown", "page", "A page up / down"),
            ],
        ),
        (
            "Claims view",
            [
                Binding("up,down", "move", "Move between claims"),
                Binding(
                    "enter,space",
                    "select",
                    "Expand / collapse; enter on a claim: owner's details",
                ),
                *ClaimsView.BINDINGS,
            ],
        ),
        (
            "Sessions and problems views",
            [
                Binding("up,down,pageup,pagedown", "move", "Move between rows"),
                Binding("enter", "select", "The session's agent in detail"),
            ],
        ),
        ("Log view", list(LogView.BINDINGS)),
        ("Filter line", [*FilterBar.BINDINGS[:1], Binding("enter", "keep", "Keep the filter")]),
        ("Agent detail", list(AgentDetailScreen.BINDINGS)),
        (
            "PRs view",
            [
                Binding("up,down,pageup,pagedown", "move", "Move between PRs"),
                *PrTable.BINDINGS,
                *PrsView.BINDINGS,
            ],
        ),
        ("PR diff", list(DiffScreen.BINDINGS)),
        ("Cost view", list(CostPanel.BINDINGS)),
        ("Council verdict", list(CouncilScreen.BINDINGS)),
        (
            "Mouse",
            [
                Binding("click", "tab", "A tab: show that view; a row or claim: select it"),
                Binding("double-click", "pane", "An agent pane: its details"),
            ],
        ),
    ]
    keymap = app.keymap
    return [
        (title, [_remapped(binding, keymap) for binding in bindings])
        for title, bindings in sections
    ]


def palette_commands(screen: CockpitScreen) -> list[tuple[str, Callable[[], Any], str]]:
    """The command palette: every key's action (from the same bindings as the footer and
    the help), named by its description, with a few commands that have no key."""
    from factory_tui.ui.widgets.cost import CostPanel
    from factory_tui.ui.widgets.prs import PrsView

    sources: list[tuple[str, Any, list[BindingType]]] = [
        ("", screen, screen.BINDINGS),
        ("", screen.app, screen.factory.BINDINGS),
    ]
    if screen.mounted_all:
        from factory_tui.ui.widgets.claims import ClaimsView

        sources.append(("Claims: ", screen.query_one(ClaimsView), ClaimsView.BINDINGS))
        sources.append(("PRs: ", screen.query_one(PrsView), PrsView.BINDINGS))
        sources.append(("Cost: ", screen.query_one(CostPanel), CostPanel.BINDINGS))
    commands: dict[str, tuple[str, Callable[[], Any], str]] = {}
    for prefix, node, bindings in sources:
        for binding in bindings:
            if not isinstance(binding, Binding) or not _in_palette(binding):
                continue
            action = binding.action.partition(".")[2] or binding.action
            if screen.config.read_only and action.partition("(")[0] in _CHANGES:
                continue
            is_view = (binding.id or "").startswith("view.") and binding.id != "view.next"
            name = f"View: {binding.description}" if is_view else prefix + binding.description
            keys = screen.factory.key_display(binding)
            help_text = f"{binding.tooltip or binding.description} ({keys})"
            run = partial(node.run_action, binding.action)
            commands.setdefault(name, (name, run, help_text))
    extra: list[tuple[str, Callable[[], Any], str]] = [
        ("Reload PRs", screen.factory.reload_prs, "ask gh and git for the PR queue now"),
        *(
            (
                f"Theme: {name}",
                partial(screen.factory.action_set_theme, name),
                f"the {name} theme",
            )
            for name in screen.factory.theme_names()
        ),
    ]
    return [*commands.values(), *extra]


def keymap_from_config(config: Config) -> tuple[dict[str, str], list[str]]:
    """factory.toml's ``[keys]``: binding id → key(s) (``"x"``, ``"x,ctrl+r"``), and a warning
    for each entry that is not one."""
    table = config.extra.get("keys")
    if table is None:
        return {}, []
    where = config.sources.get("extra.keys", "config")
    if not isinstance(table, Mapping):
        return {}, [f'{where}: [keys] must be a table of binding id = "key"; ignored']
    known = binding_ids()
    keymap: dict[str, str] = {}
    warnings: list[str] = []
    for name, keys in table.items():
        if name not in known:
            warnings.append(
                f"{where}: [keys] {name!r} is not a binding id; ignored (the help, ?, lists them)"
            )
        elif not isinstance(keys, str) or not keys.strip():
            warnings.append(
                f'{where}: [keys] {name} = {keys!r}: a key such as "z", please; ignored'
            )
        else:
            keymap[str(name)] = keys
    return keymap, warnings


def binding_ids() -> set[str]:
    """Every binding id the cockpit has (its own, its views', its screens')."""
    from factory_tui.ui.app import FactoryApp
    from factory_tui.ui.screens.cockpit import CockpitScreen
    from factory_tui.ui.screens.council import CouncilScreen
    from factory_tui.ui.screens.detail import AgentDetailScreen
    from factory_tui.ui.screens.diff import DiffScreen
    from factory_tui.ui.widgets.agents import AgentGrid, AgentPane
    from factory_tui.ui.widgets.claims import ClaimsView
    from factory_tui.ui.widgets.cost import CostPanel
    from factory_tui.ui.widgets.listkeys import LIST_KEYS
    from factory_tui.ui.widgets.log_view import LogView
    from factory_tui.ui.widgets.prs import PrsView, PrTable

    groups: list[list[BindingType]] = [
        FactoryApp.BINDINGS,
        CockpitScreen.BINDINGS,
        AgentGrid.BINDINGS,
        AgentPane.BINDINGS,
        list(LIST_KEYS),
        LogView.BINDINGS,
        PrsView.BINDINGS,
        PrTable.BINDINGS,
        CostPanel.BINDINGS,
        AgentDetailScreen.BINDINGS,
        DiffScreen.BINDINGS,
        CouncilScreen.BINDINGS,
        FilterBar.BINDINGS,
        ClaimsView.BINDINGS,
    ]
    return {b.id for group in groups for b in group if isinstance(b, Binding) and b.id}


def _in_palette(binding: Binding) -> bool:
    """A binding the command palette offers: not the fallbacks that say why a key does not
    apply, nor the second keys of an action."""
    skip = ("why.", "prs.why", "quit.ctrl_c", "view.previous")
    return bool(binding.id) and not (binding.id or "").startswith(skip)


def _remapped(binding: BindingType, keymap: dict[str, str]) -> BindingType:
    """``binding`` with the keys the user's keymap gives its id."""
    if isinstance(binding, Binding) and binding.id and binding.id in keymap:
        return dataclasses.replace(binding, key=keymap[binding.id])
    return binding


class FactoryCommands(Provider):
    """Every cockpit action in the command palette (ctrl+p)."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        cockpit = getattr(app, "cockpit", None)
        return [] if cockpit is None else palette_commands(cockpit)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
