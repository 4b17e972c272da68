"""The demo's project, *tinygate*: its files, and its git history (main's squash merges, a
branch and a linked worktree per agent) made through :class:`~factory_tui.adapters.git.GitRepo`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from factory_tui.adapters.git import ISOLATED_ENV, GitError, GitMissing, GitRepo
from factory_tui.demo.cast import (
    PHASE_1,
    Agent,
    Plan,
    Ticket,
    mins,
)

__all__ = ["GitFacts", "build_repo", "write_files"]

_GIT_USER = ("Dana Engineer", "dana@tinygate.example")

# -- the fake project ----------------------------------------------------------------------------

_README = """\
# tinygate

A tiny API gateway: routes, live-code endpoints, trace propagation.

This repository is a demo made by `factory-tui demo`: several AI agents work on it at once,
each in its own worktree under `.worktrees/`, and coordinate through `.claude/claims/`,
`plan.md`, `memory.md` and the operations log in `.factory/memory/`.

    pip install -e . && pytest
"""

_PYPROJECT = """\
[project]
name = "tinygate"
version = "0.3.0"
requires-python = ">=3.11"
dependencies = ["httpx>=0.27"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_GITIGNORE = """\
__pycache__/
*.egg-info/
.venv/
# the factory's shared state, not part of the project
.worktrees/
.factory/
.claude/claims/
# (a worktree's .claude/claims is a symlink, a file to git: hence the line without a slash)
.claude/claims
factory.toml
"""

_BASE_FILES: dict[str, str] = {
    "README.md": _README,
    "pyproject.toml": _PYPROJECT,
    ".gitignore": _GITIGNORE,
    "src/tinygate/__init__.py": '"""tinygate: a tiny API gateway."""\n\n__version__ = "0.3.0"\n',
    "src/tinygate/routes.py": (
        '"""The route table: longest prefix wins."""\n\n\n'
        "def match(routes: dict[str, str], path: str) -> str | None:\n"
        "    best = max((p for p in routes if path.startswith(p)), key=len, default=None)\n"
        "    return routes[best] if best is not None else None\n"
    ),
    "src/tinygate/gateway.py": (
        '"""Forward a request to the upstream its route names."""\n\n'
        "from tinygate.routes import match\n\n\n"
        "def upstream_for(routes: dict[str, str], path: str) -> str:\n"
        "    target = match(routes, path)\n"
        "    if target is None:\n"
        '        raise LookupError(f"no route for {path}")\n'
        "    return target\n"
    ),
    "tests/test_routes.py": (
        "from tinygate.routes import match\n\n\n"
        "def test_longest_prefix_wins() -> None:\n"
        '    assert match({"/": "a", "/api": "b"}, "/api/x") == "b"\n'
    ),
    "tests/test_webhooks.py": (
        "def test_webhook_retry_gives_up_after_three() -> None:\n"
        "    attempts = [1, 2, 3]\n"
        "    assert len(attempts) == 3\n"
    ),
    "portal/footer.html": '<footer><a href="/tos">Terms of service</a></footer>\n',
    "deploy/helm/values.yaml": "replicaCount: 2\nimage:\n  repository: tinygate\n",
}


def _file_text(ticket: Ticket, revision: int, base: str | None = None) -> str:
    """The content an agent leaves in its ticket's file after ``revision`` rounds of work."""
    path = ticket.file
    if path.endswith(".py"):
        head = base or f'"""{ticket.title} ({ticket.id})."""\n'
        body = "".join(
            f"\n\ndef step_{n}() -> str:\n    return {f'{ticket.id} step {n}'!r}\n"
            for n in range(1, revision + 1)
        )
        return head + body
    if path.endswith((".yaml", ".yml")):
        extra = "".join(f"# {ticket.id} revision {n}\n" for n in range(1, revision + 1))
        return (base or "") + "resources:\n  limits:\n    cpu: 500m\n    memory: 256Mi\n" + extra
    if path.endswith("Dockerfile"):
        return "FROM gcr.io/distroless/python3-debian12\nCOPY src /app\n" + "".join(
            f"# {ticket.id} revision {n}\n" for n in range(1, revision + 1)
        )
    if path.endswith(".html"):
        return '<footer><a href="/legal/terms">Terms of service</a></footer>\n' + "".join(
            f"<!-- {ticket.id} revision {n} -->\n" for n in range(2, revision + 1)
        )
    lines = "".join(f"- {ticket.id}: revision {n}\n" for n in range(1, revision + 1))
    return (base or f"# {ticket.title}\n\n") + lines


def _ticket_files(ticket: Ticket, revision: int) -> dict[str, str]:
    files = {ticket.file: _file_text(ticket, revision, _BASE_FILES.get(ticket.file))}
    if ticket is PHASE_1:
        files["src/tinygate/gateway.py"] = _BASE_FILES["src/tinygate/gateway.py"] + (
            "\n\ndef live_code_upstream(routes: dict[str, str]) -> str:\n"
            '    return upstream_for(routes, "/live-code")\n'
        )
    return files


# -- git -----------------------------------------------------------------------------------------


def _commit(
    git: GitRepo,
    cwd: Path,
    files: Mapping[str, str],
    message: str,
    when: datetime,
    who: tuple[str, str],
) -> str:
    """Write and commit ``files`` at ``when``. The demo's naive times are given to git as UTC
    (an explicit zone: :meth:`GitRepo.commit` would read a naive time as local), so commit ids
    do not depend on the machine's time zone."""
    write_files(cwd, files)
    return git.commit(
        message, cwd=cwd, when=when.replace(tzinfo=UTC), author=who, paths=list(files)
    )


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")


def _agent_who(agent: Agent) -> tuple[str, str]:
    return (f"Claude ({agent.instance})", f"{agent.instance}@agents.tinygate.example")


@dataclass
class GitFacts:
    merges: dict[str, str]
    """ticket id -> the squash-merge commit on main."""


def build_repo(root: Path, plan: Plan, memory_md: str, plan_md: str) -> GitFacts:
    """main's history and each agent's branch and worktree, with git isolated from the user's
    and the system's config; a git failure stops the demo (``RuntimeError``) with git's words."""
    try:
        return _build_repo(GitRepo(root, env=ISOLATED_ENV), plan, memory_md, plan_md)
    except GitMissing as error:
        raise RuntimeError("the demo factory needs git on PATH") from error
    except GitError as error:
        raise RuntimeError(str(error)) from error


def _build_repo(git: GitRepo, plan: Plan, memory_md: str, plan_md: str) -> GitFacts:
    root = git.root
    git.run("init", "-q", "-b", "main")
    T = plan.now
    commits: list[tuple[datetime, str, str, dict[str, str]]] = [
        (T - mins(96 * 60), "base", "chore: tinygate skeleton", dict(_BASE_FILES))
    ]
    for _role, ticket, flow in plan.history:
        merged = flow.times()["merged"]
        message = f"{ticket.kind}: {ticket.title} ({ticket.id}) (#{flow.pr})"
        commits.append((merged, ticket.id, message, _ticket_files(ticket, 2)))
    for agent in plan.agents:
        if agent.flow is not None:
            merged = agent.flow.times()["merged"]
            ticket = PHASE_1 if agent.role == "working" else agent.ticket
            tickets = ", ".join(ticket.ticket_list)
            message = f"{ticket.kind}: {ticket.title} ({tickets}) (#{agent.flow.pr})"
            commits.append((merged, ticket.id, message, _ticket_files(ticket, 2)))
    commits.append(
        (
            T - mins(12),
            "state",
            "chore(state): plan.md and memory.md",
            {"plan.md": plan_md, "memory.md": memory_md},
        )
    )
    commits.sort(key=lambda item: item[0])
    main: list[tuple[datetime, str]] = []
    merges: dict[str, str] = {}
    for when, key, message, files in commits:
        sha = _commit(git, root, files, message, when, _GIT_USER)
        main.append((when, sha))
        merges[key] = sha

    def fork_point(start: datetime) -> str:
        return [sha for when, sha in main if when <= start][-1]

    for agent in plan.agents:
        ticket, marks = agent.ticket, agent.marks
        start = (
            agent.flow.start
            if agent.flow is not None and agent.role == "ended"
            else (marks.get("paused_start") or marks["start"])
        )
        git.run("worktree", "add", "-q", "-b", ticket.branch, agent.worktree, fork_point(start))
        tree = root / agent.worktree
        who = _agent_who(agent)
        work: list[tuple[datetime, str, dict[str, str]]] = []
        dirty: dict[str, str] = {}
        subject = f"{ticket.kind}: {ticket.title.lower()} ({ticket.id})"
        if agent.role == "ended" and agent.flow is not None:
            t = agent.flow.times()
            work = [(t["code_done"], f"wip: {ticket.title.lower()}", _ticket_files(ticket, 1))]
            work.append((t["commit"], subject, _ticket_files(ticket, 2)))
        elif agent.role == "working":
            work = [(marks["paused_start"] + mins(30), subject, _ticket_files(ticket, 1))]
            dirty = _ticket_files(ticket, 2)
            dirty[f"tests/test_{ticket.slug.replace('-', '_')}.py"] = (
                f"def test_{ticket.slug.replace('-', '_')}() -> None:\n    assert True\n"
            )
        elif agent.role == "idle":
            work = [(marks["start"] + mins(20), subject, _ticket_files(ticket, 1))]
        elif agent.role in ("crashed", "stale"):
            work = [
                (
                    marks["code_done"] - mins(5),
                    f"wip: {ticket.title.lower()}",
                    _ticket_files(ticket, 1),
                )
            ]
            work.append((marks["code_done"] + mins(3), subject, _ticket_files(ticket, 2)))
            if agent.role == "crashed":
                dirty = _ticket_files(ticket, 3)
        else:  # remote
            work = [(marks["resume"] + mins(3), subject, _ticket_files(ticket, 1))]
        for when, message, files in work:
            agent.head = _commit(git, tree, files, message, when, who)
        write_files(tree, dirty)
        (tree / ".claude").mkdir(parents=True, exist_ok=True)
        (tree / ".claude" / "claims").symlink_to(Path("..", "..", "..", ".claude", "claims"))
    return GitFacts(merges)
