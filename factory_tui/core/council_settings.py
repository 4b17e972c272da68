"""The Council's settings: the ``[council]`` table of the config (model, caps, timeouts,
retries) and its roster of personas, the four default ones unless the table names others. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_ROSTER",
    "CouncilConfigError",
    "CouncilSettings",
    "Persona",
    "council_settings",
]

DEFAULT_MODEL = "claude-haiku-4-5"


class CouncilConfigError(ValueError):
    """A ``[council]`` setting the user must fix; the message says where and how."""


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    role: str
    prompt: str


DEFAULT_ROSTER: tuple[Persona, ...] = (
    Persona(
        "Chucky",
        "devil's advocate: risk, hidden complexity, scope creep",
        "You are Chucky, the devil's advocate. Hunt for risk: what breaks in production, what "
        "the plan forgot, hidden complexity, dependencies nobody mentioned, scope creep, "
        "irreversible steps. Assume Murphy's law. Reward proposals that are small, reversible "
        "and testable; punish vague ones.",
    ),
    Persona(
        "OSS Killer",
        "VC skeptic: market value, moat, ROI",
        "You are OSS Killer, a venture-capital skeptic. Ask what market value this creates, "
        "whether it builds a moat or a commodity an open-source project already gives away, "
        "and whether the return justifies the engineering cost. Punish work that moves no "
        "user-facing or revenue metric.",
    ),
    Persona(
        "Archi 50x50",
        "veteran architect: quality, maintainability, patterns",
        "You are Archi 50x50, a veteran architect who has seen fifty systems live fifty years. "
        "Judge code quality, maintainability, coupling, the patterns used and misused, the test "
        "strategy and how it will be operated. Reward boring, proven designs; punish cleverness "
        "that the next engineer will pay for.",
    ),
    Persona(
        "Better Call Saul",
        "legal: licenses, GDPR, competitive claims",
        "You are Better Call Saul, legal counsel. Check the licenses of dependencies and copied "
        "code, personal data and GDPR (lawful basis, retention, transfers, deletion), security "
        "and compliance claims, and competitive or marketing claims that could be challenged. "
        "Score low when legal exposure is left unaddressed.",
    ),
)


@dataclass(frozen=True)
class CouncilSettings:
    """``[council]`` in config; every field has a default."""

    roster: tuple[Persona, ...] = DEFAULT_ROSTER
    model: str = DEFAULT_MODEL
    max_tokens: int = 1024
    daily_cap_usd: float | None = 2.0
    """None: no cap."""
    timeout_s: float = 60.0
    """One HTTP request's timeout."""
    max_retries: int = 2
    """Retries after a 429, a 5xx, a timeout or a connection error (so at most 3 attempts)."""
    max_retry_wait_s: float = 30.0
    """A retry-after longer than this is not waited for: the persona is reported instead."""
    retry_base_s: float = 0.5
    """Backoff when the API gives no retry-after: base x 2^retry, capped at 8 s."""
    max_proposal_chars: int = 60_000
    """A longer proposal is cut (and says so) before it is sent; its sha256 is of the whole."""


_SETTING_TYPES: Mapping[str, tuple[type, ...]] = MappingProxyType(
    {
        "model": (str,),
        "max_tokens": (int,),
        "daily_cap_usd": (int, float, str),
        "timeout_s": (int, float),
        "max_retries": (int,),
        "max_retry_wait_s": (int, float),
        "retry_base_s": (int, float),
        "max_proposal_chars": (int,),
    }
)


def _persona_from(raw: object, index: int, prompts: Mapping[str, str], where: str) -> Persona:
    defaults = {p.name.casefold(): p for p in DEFAULT_ROSTER}
    here = f"{where}: [council] roster[{index}]"
    if isinstance(raw, str):
        base = defaults.get(raw.strip().casefold())
        if base is None:
            known = ", ".join(p.name for p in DEFAULT_ROSTER)
            raise CouncilConfigError(
                f"{here}: {raw!r} is not a default persona ({known}); give a table "
                '{name = "...", prompt = "..."} for a persona of your own'
            )
        return Persona(base.name, base.role, prompts.get(base.name, base.prompt))
    if not isinstance(raw, Mapping):
        raise CouncilConfigError(f"{here}: expected a persona name or a table, got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in ("name", "role", "prompt"))
    if unknown:
        raise CouncilConfigError(
            f"{here}: unknown key {', '.join(unknown)}; use name, role, prompt"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CouncilConfigError(f"{here}: name must be a non-empty string")
    base = defaults.get(name.strip().casefold())
    prompt = raw.get("prompt", prompts.get(name.strip(), base.prompt if base else None))
    if not isinstance(prompt, str) or not prompt.strip():
        raise CouncilConfigError(f"{here} ({name}): prompt must be a non-empty string")
    role = raw.get("role", base.role if base else "")
    if not isinstance(role, str):
        raise CouncilConfigError(f"{here} ({name}): role must be a string")
    return Persona(name.strip(), role.strip(), prompt.strip())


def council_settings(raw: object, where: str = "config") -> CouncilSettings:
    """Settings from the ``[council]`` table (``Config.extra["council"]``; None: defaults).

    Keys: ``model``, ``daily_cap_usd`` (``"none"`` for no cap), ``max_tokens``, ``timeout_s``,
    ``max_retries``, ``max_retry_wait_s``, ``retry_base_s``, ``max_proposal_chars``, ``roster``
    (a list of default persona names and/or ``{name, role, prompt}`` tables) and ``prompts``
    (persona name → prompt, overriding a default persona's prompt).
    """
    if raw is None:
        return CouncilSettings()
    if not isinstance(raw, Mapping):
        raise CouncilConfigError(f"{where}: [council] must be a table, got {raw!r}")
    known = {*_SETTING_TYPES, "roster", "prompts"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise CouncilConfigError(
            f"{where}: [council] unknown key {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for key, types in _SETTING_TYPES.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise CouncilConfigError(f"{where}: [council] {key} has the wrong type: {value!r}")
        values[key] = value
    if "daily_cap_usd" in values:
        cap = values["daily_cap_usd"]
        if isinstance(cap, str):
            if cap.strip().lower() not in {"none", "off"}:
                raise CouncilConfigError(
                    f'{where}: [council] daily_cap_usd must be a number or "none", got {cap!r}'
                )
            values["daily_cap_usd"] = None
        elif not math.isfinite(cap) or cap < 0:
            raise CouncilConfigError(f"{where}: [council] daily_cap_usd must be ≥ 0, got {cap!r}")
        else:
            values["daily_cap_usd"] = float(cap)
    for key in ("max_tokens", "max_proposal_chars"):
        if key in values and values[key] < 1:
            raise CouncilConfigError(f"{where}: [council] {key} must be at least 1")
    for key in ("timeout_s", "max_retry_wait_s", "retry_base_s"):
        if key in values:
            if not math.isfinite(values[key]) or values[key] < 0:
                raise CouncilConfigError(f"{where}: [council] {key} must be a number ≥ 0")
            values[key] = float(values[key])
    if values.get("timeout_s") == 0:
        raise CouncilConfigError(f"{where}: [council] timeout_s must be above 0")
    if "max_retries" in values and not 0 <= values["max_retries"] <= 10:
        raise CouncilConfigError(f"{where}: [council] max_retries must be from 0 to 10")
    if "model" in values and not values["model"].strip():
        raise CouncilConfigError(f"{where}: [council] model must not be empty")
    prompts_raw = raw.get("prompts", {})
    if not isinstance(prompts_raw, Mapping) or not all(
        isinstance(v, str) and v.strip() for v in prompts_raw.values()
    ):
        raise CouncilConfigError(
            f'{where}: [council.prompts] must map persona names to prompts ("Chucky" = "...")'
        )
    prompts = {str(k): str(v).strip() for k, v in prompts_raw.items()}
    roster_raw = raw.get("roster")
    if roster_raw is None:
        roster = tuple(
            Persona(p.name, p.role, prompts.get(p.name, p.prompt)) for p in DEFAULT_ROSTER
        )
    else:
        if not isinstance(roster_raw, list) or not roster_raw:
            raise CouncilConfigError(
                f"{where}: [council] roster must be a non-empty list of persona names or tables"
            )
        roster = tuple(_persona_from(item, i, prompts, where) for i, item in enumerate(roster_raw))
        names = [p.name.casefold() for p in roster]
        if len(set(names)) != len(names):
            raise CouncilConfigError(f"{where}: [council] roster names a persona twice")
    return CouncilSettings(roster=roster, **values)
