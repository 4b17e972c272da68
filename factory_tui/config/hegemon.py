"""The ``[hegemon]`` table (the real factory's store) and the ``[hosts."NAME"]`` tables (how to
reach another machine), read from the config files' extra keys.

```toml
[hegemon]
db = "~/.hegemon/state.db"          # the local store; default: $HEGEMON_STATE_DB or this path
remote_url = "https://state.example" # the shared server; default: $HEGEMON_REMOTE_URL

[hosts."worker-1"]
ssh = ["ssh", "-o", "BatchMode=yes", "worker-1"]  # argv, never a shell line
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from factory_tui.config.locations import expand_path
from factory_tui.config.model import ConfigError

__all__ = ["HegemonSettings", "hegemon_settings"]

_HEGEMON_KEYS = ("db", "remote_url", "remote_credentials")


@dataclass(frozen=True)
class HegemonSettings:
    db: Path
    db_source: str
    remote_url: str | None = None
    remote_source: str = ""
    credentials_file: Path | None = None
    """A file holding the server's credentials (never a flag; never printed)."""
    hosts: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Host name → the argv that runs a command there (``ssh NAME``)."""


def _where(sources: Mapping[str, str], key: str) -> str:
    return sources.get(f"extra.{key}", "config")


def hegemon_settings(
    extra: Mapping[str, object],
    sources: Mapping[str, str],
    *,
    root: Path,
    env: Mapping[str, str],
) -> HegemonSettings:
    """Resolve the store's path, the server's URL and the hosts' argv. Raises ``ConfigError``
    naming the config file and key for a value of the wrong form."""
    table = extra.get("hegemon", {})
    where = _where(sources, "hegemon")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [hegemon] must be a table; fix it there", key="hegemon")
    unknown = sorted(str(k) for k in table if k not in _HEGEMON_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: [hegemon] unknown key {', '.join(unknown)}; known: "
            f"{', '.join(_HEGEMON_KEYS)}",
            key="hegemon",
        )
    db_raw = table.get("db")
    if db_raw is not None:
        if not isinstance(db_raw, str) or not db_raw.strip():
            raise ConfigError(f"{where}: [hegemon] db must be a path (a non-empty string)")
        db, db_source = expand_path(db_raw, root, env), f"[hegemon] db in {where}"
    elif (env.get("HEGEMON_STATE_DB") or "").strip():
        db, db_source = expand_path(env["HEGEMON_STATE_DB"], root, env), "env HEGEMON_STATE_DB"
    else:
        db, db_source = expand_path("~/.hegemon/state.db", root, env), "default"
    url_raw = table.get("remote_url")
    remote_url: str | None
    if url_raw is not None:
        if not isinstance(url_raw, str):
            raise ConfigError(f"{where}: [hegemon] remote_url must be a URL string")
        remote_url, remote_source = url_raw.strip() or None, f"[hegemon] remote_url in {where}"
    else:
        remote_url = (env.get("HEGEMON_REMOTE_URL") or "").strip() or None
        remote_source = "env HEGEMON_REMOTE_URL" if remote_url else ""
    creds_raw = table.get("remote_credentials")
    creds: Path | None = None
    if creds_raw is not None:
        if not isinstance(creds_raw, str) or not creds_raw.strip():
            raise ConfigError(f"{where}: [hegemon] remote_credentials must be a file path")
        creds = expand_path(creds_raw, root, env)
    return HegemonSettings(
        db=db,
        db_source=db_source,
        remote_url=remote_url,
        remote_source=remote_source,
        credentials_file=creds,
        hosts=MappingProxyType(_hosts(extra.get("hosts", {}), _where(sources, "hosts"))),
    )


def _hosts(table: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(table, Mapping):
        raise ConfigError(f'{where}: [hosts] must hold tables ([hosts."NAME"]); fix it there')
    out: dict[str, tuple[str, ...]] = {}
    for name, host in table.items():
        here = f'{where}: [hosts."{name}"]'
        if not isinstance(host, Mapping):
            raise ConfigError(f'{here} must be a table with ssh = ["ssh", "{name}"]')
        unknown = sorted(str(k) for k in host if k != "ssh")
        if unknown:
            raise ConfigError(f"{here} unknown key {', '.join(unknown)}; known: ssh")
        argv = host.get("ssh")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(part, str) and part for part in argv)
        ):
            raise ConfigError(
                f'{here} ssh must be a non-empty list of strings (argv), e.g. ["ssh", "{name}"]'
            )
        out[str(name)] = tuple(argv)
    return out
