"""``hook`` (what Claude Code's hooks call), ``hooks install|remove`` (register it in a repo's
``.claude/settings.json``) and ``agent INSTANCE`` (what one agent is doing, and whether it waits).

``hook`` never fails the agent: whatever happens it exits 0, and when it cannot write its line it
says why in one line on stderr (Claude Code shows a hook's stderr only in its transcript view).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory_tui.cli.common import CliError, factory_options, load, parse_now
from factory_tui.config.regular_files import NotRegularFile, read_regular
from factory_tui.core.safe import dumps_json, printable

if TYPE_CHECKING:
    from factory_tui.config import Config
    from factory_tui.core.fleet import InstanceView

__all__ = [
    "add_agent_parser",
    "add_hook_parser",
    "add_hooks_parser",
    "cmd_agent",
    "cmd_hook",
    "cmd_hooks",
    "hook_command",
    "resolve_instance",
]

#: Where ``hook`` finds the agent's instance id, first found wins. ``STOA_INSTANCE_ID`` is what
#: the real factory's SessionStart hook exports (through ``CLAUDE_ENV_FILE``).
INSTANCE_VARS = ("FACTORY_TUI_INSTANCE", "STOA_INSTANCE_ID")
_STDIN_LIMIT = 1 << 20


def add_hook_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hook = sub.add_parser(
        "hook",
        help="called by Claude Code's hooks (JSON on stdin): log that an agent waits, "
        "ended its turn or resumed",
    )
    hook.add_argument(
        "root", nargs="?", metavar="ROOT", help="the factory's repo (default: the event's cwd)"
    )
    hook.add_argument(
        "--instance",
        metavar="ID",
        help=f"the agent's instance id (default: ${INSTANCE_VARS[0]}, ${INSTANCE_VARS[1]}, "
        "else the owner of the claim whose branch is checked out in the event's cwd)",
    )
    hook.add_argument("--log", metavar="FILE", help="operations.log (default: the factory's)")
    hook.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)  # the demo's clock


def add_hooks_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hooks = sub.add_parser(
        "hooks", help="add factory-tui's hooks to ROOT/.claude/settings.json, or remove them"
    )
    hooks.add_argument("action", choices=("install", "remove"), help="install or remove")
    hooks.add_argument(
        "root", nargs="?", metavar="ROOT", help="the repo (default: git top level of .)"
    )
    hooks.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    hooks.add_argument("--yes", action="store_true", help="write without asking")
    hooks.add_argument(
        "--command",
        dest="hook_command",
        metavar="CMD",
        help="the hook command to register (default: this factory-tui's full path, then hook)",
    )


def add_agent_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent", help="what one agent is doing: activity, todo list, context fill, waiting"
    )
    agent.add_argument("instance", metavar="INSTANCE", help="the agent's instance id")
    factory_options(agent)
    agent.add_argument("--json", action="store_true", help="one JSON object on stdout")
    agent.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)


# --------------------------------------------------------------------------------------------
# hook


def resolve_instance(
    config: Config, given: str | None, env: Mapping[str, str], cwd: Path | None
) -> tuple[str | None, str]:
    """The agent's instance id and where it came from: ``--instance``, then
    :data:`INSTANCE_VARS`, then the owner of the open claim whose branch is checked out in the
    worktree holding ``cwd``."""
    if given:
        return given, "--instance"
    for var in INSTANCE_VARS:
        value = env.get(var, "").strip()
        if value:
            return value, f"${var}"
    if cwd is None:
        return None, "no cwd"
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.transcripts import worktree_branches

    here = os.path.realpath(cwd)
    branch = None
    best = -1
    for path, name in worktree_branches(config.root).items():
        tree = os.path.realpath(path)
        if (here == tree or here.startswith(tree.rstrip("/") + "/")) and len(tree) > best:
            branch, best = name, len(tree)
    if not branch:
        return None, f"{cwd} is in no worktree with a branch"
    reader = FactoryReader(config, transcripts=False)
    reader.refresh_claims()
    owners = sorted(
        {
            unit.owner
            for claim in reader.claim_files()
            for unit in claim.units
            if unit.owner and unit.branch == branch and not unit.completed_at
        }
    )
    if len(owners) == 1:
        return owners[0], f"the claim on branch {branch}"
    if owners:
        return None, f"several claims on branch {branch} ({', '.join(owners)})"
    return None, f"no open claim on branch {branch}"


def _read_payload() -> dict[str, Any]:
    data = sys.stdin.buffer.read(_STDIN_LIMIT + 1)
    if len(data) > _STDIN_LIMIT:
        raise ValueError(f"the event is larger than {_STDIN_LIMIT} bytes")
    payload = json.loads(data.decode("utf-8"))
    if not isinstance(payload, dict):
        raise ValueError("the event is not a JSON object")
    return payload


def cmd_hook(args: argparse.Namespace) -> int:
    """Always 0: a hook that fails would disturb the agent."""
    try:
        _hook(args)
    except Exception as error:
        reason = printable(str(error) or type(error).__name__, multiline=False)
        print(f"factory-tui hook: nothing logged: {reason}", file=sys.stderr)
    return 0


def _hook(args: argparse.Namespace) -> None:
    from factory_tui.actions.hook import hook_line, write_hook_line

    try:
        payload = _read_payload()
    except ValueError as error:
        raise ValueError(f"cannot read the hook event on stdin: {error}") from error
    cwd_raw = payload.get("cwd")
    cwd = Path(cwd_raw) if isinstance(cwd_raw, str) and cwd_raw else None
    if not args.root:
        from factory_tui.config import find_root, main_worktree

        here = cwd if cwd is not None and cwd.is_dir() else Path.cwd()
        top = find_root(here)  # an agent's worktree: the factory is its main worktree
        args.root = str(main_worktree(top) or top)
    config = load(args)
    instance, how = resolve_instance(config, args.instance, os.environ, cwd or Path.cwd())
    line = hook_line(payload, instance)
    if line is None:
        return
    if not config.log_file.parent.is_dir():
        raise ValueError(
            f"{config.log_file.parent} (the memory folder) does not exist: is {config.root} "
            "the factory? (as the real hooks do, nothing is created)"
        )
    text = write_hook_line(config, line, parse_now(args.now))
    if instance is None:
        print(
            f"factory-tui hook: logged without an instance ({printable(how, multiline=False)}): "
            f"set {INSTANCE_VARS[0]} or pass --instance; {printable(text, multiline=False)}",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------------------------
# hooks install / remove


def hook_command() -> str:
    """The command Claude Code should run: this installation's ``factory-tui``, by full path
    (a hook's PATH may not have the virtualenv), quoted for the shell Claude Code uses."""
    import shlex
    import shutil

    exe = shutil.which("factory-tui")
    if exe is None:
        candidate = Path(sys.executable).with_name("factory-tui")
        exe = str(candidate) if candidate.is_file() else None
    if exe is None:
        return f"{shlex.quote(sys.executable)} -m factory_tui hook"
    return f"{shlex.quote(exe)} hook"


SETTINGS_BYTES = 16 << 20
"""A Claude Code settings file bigger than this is not one (refused, as an unreadable file is)."""


def _settings_text(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        data = read_regular(path, SETTINGS_BYTES)  # a FIFO is never waited on
    except FileNotFoundError:
        return "", {}
    except NotRegularFile:
        raise CliError(f"{path}: not a regular file; nothing changed") from None
    except OSError as error:
        raise CliError(
            f"{path}: cannot read it ({error.strerror or error}); nothing changed"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CliError(f"{path}:{line}: not UTF-8 text; fix it first, nothing changed") from None
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{path}:{error.lineno}: not valid JSON ({error.msg}); fix it first, nothing changed"
        ) from error
    if not isinstance(data, dict):
        raise CliError(f"{path}:1: not a JSON object; fix it first, nothing changed")
    return text, data


def cmd_hooks(args: argparse.Namespace) -> int:
    from factory_tui.actions.hook import SettingsError, merge_hooks, remove_hooks
    from factory_tui.adapters.lock import atomic_write
    from factory_tui.config import find_root

    root = find_root(Path(args.root) if args.root else None)
    if not root.is_dir():
        raise CliError(f"ROOT {root}: no such directory")
    path = root / ".claude" / "settings.json"
    old_text, settings = _settings_text(path)
    try:
        if args.action == "install":
            new = merge_hooks(settings, args.hook_command or hook_command(), str(path))
        else:
            new = remove_hooks(settings, str(path))
    except SettingsError as error:
        raise CliError(f"{error}; nothing changed") from error
    new_text = json.dumps(new, indent=2, ensure_ascii=False) + "\n"
    if new == settings:
        print(f"factory-tui: {path}: nothing to change")
        return 0
    diff = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=f"{path} (now)",
        tofile=f"{path} ({args.action})",
    )
    sys.stdout.write(printable("".join(diff)))
    if args.dry_run:
        print("factory-tui: --dry-run: nothing written")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError("not written: confirm with --yes (or look first with --dry-run)")
        answer = input(f"Write {path}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("factory-tui: not written")
            return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, new_text.encode("utf-8"))
    print(f"factory-tui: {path}: hooks {'installed' if args.action == 'install' else 'removed'}")
    return 0


# --------------------------------------------------------------------------------------------
# agent


def _agent_text(view: InstanceView, now: datetime) -> list[str]:
    from factory_tui.ui.widgets.text import AGENT_BADGES

    def p(text: str) -> str:
        return printable(text, multiline=False)

    badge = AGENT_BADGES.get(view.status, (view.status.upper(), ""))[0]
    lines = [f"{p(view.id)}  {badge}  {p(view.branch or '-')}", f"  why:        {p(view.why)}"]
    if view.waiting is not None:
        since = view.waiting.since.isoformat(sep=" ", timespec="seconds")
        lines.append(f"  waiting:    {p(view.waiting.kind)} since {since}")
    act = view.activity
    if act is None:
        lines.append("  activity:   no Claude Code transcript found for this agent")
        return lines
    lines.append(f"  activity:   {act.activity_line(now) or '-'}")
    if act.text:
        text = printable(act.text).splitlines() or [""]
        lines.append(f"  said:       {text[0]}")
        lines.extend(f"              {more}" for more in text[1:])
    if act.todos:
        done, doing, pending = act.todo_counts()
        lines.append(f"  todo:       {done} done, {doing} in progress, {pending} pending")
        lines.extend(f"    {t.mark} {p(t.content)}" for t in act.todos)
    lines.append(f"  model:      {p(act.model or '-')}")
    lines.append(f"  context:    {act.fill_text() or '-'}")
    lines.append(f"  transcript: {p(act.transcript)}")
    return lines


def cmd_agent(args: argparse.Namespace) -> int:
    from factory_tui.adapters.factory import FactoryReader

    config = load(args)
    now = parse_now(args.now)
    reader = FactoryReader.warm(config)
    reader.refresh_all()
    fleet = reader.fleet(now)
    view = next((i for i in fleet.instances if i.id == args.instance), None)
    if view is None:
        known = ", ".join(i.id for i in fleet.instances) or "none"
        raise CliError(
            f"no agent {args.instance!r} in {config.log_file} or {config.claims_dir} "
            f"(known: {known})"
        )
    if args.json:
        print(dumps_json(view.to_json()))
    else:
        print("\n".join(_agent_text(view, now)))
    return 0
