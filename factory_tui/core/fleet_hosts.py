"""The fleet's agents grouped by the host they run on, each host with how its pids are checked.

Pure: the agents, this host's name and the other hosts' probed process facts in. This host comes
first, then the others by name; a host's name is agent-written text (shown literally by the UI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from factory_tui.core.fleet import HostProcs, InstanceView
from factory_tui.core.fleet_claims import remote_facts

__all__ = ["HostGroup", "host_groups", "host_key"]


@dataclass(frozen=True, slots=True)
class HostGroup:
    """One host's agents (in the order given) and how their pids are checked."""

    key: str
    """What the agents are grouped by (:func:`host_key`); empty for this host."""
    name: str
    local: bool
    instances: tuple[str, ...]
    checked: str
    """``pids checked here``, ``pids checked over SSH``, or ``pids not checked: <why>``."""


def host_key(view: InstanceView) -> str:
    """The group of an agent: empty for this host's; else its host's short name, in the same
    spelling-blind way its pids are matched with a configured host (``worker-1.lan`` is
    ``worker-1``)."""
    if view.local or not (view.host and view.host.strip()):
        return ""
    return view.host.strip().lower().split(".", 1)[0]


def _checked(name: str, views: list[InstanceView], probed: Mapping[str, HostProcs]) -> str:
    facts = remote_facts(probed, name)
    if facts is not None and facts.error is None:
        return "pids checked over SSH"
    if facts is not None:
        return f"pids not checked: {facts.error}"
    if all(view.pid is None for view in views):
        return "no pid to check"
    return f'pids not checked: no [hosts."{name}"] ssh argv in the config'


def host_groups(
    views: Iterable[InstanceView], hostname: str, probed: Mapping[str, HostProcs]
) -> list[HostGroup]:
    """``views`` grouped by host (each group keeps their order): this host first (even with no
    agent shown, when another host has one), then the others by name."""
    by_key: dict[str, list[InstanceView]] = {"": []}
    for view in views:
        by_key.setdefault(host_key(view), []).append(view)
    groups = [
        HostGroup("", hostname, True, tuple(v.id for v in by_key.pop("")), "pids checked here")
    ]
    for key, members in sorted(by_key.items()):
        name = min((v.host or "").strip() for v in members)
        ids = tuple(v.id for v in members)
        groups.append(HostGroup(key, name, False, ids, _checked(name, members, probed)))
    return groups
