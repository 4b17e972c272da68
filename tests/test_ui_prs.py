"""The cockpit's approval queue, driven with Pilot: the PRs view, the header's Ask count, `n`,
the keys a / c / v, the diff viewer, gh polling, and `snapshot --fail-on ask`.

Local PRs come from the demo factory's real git repo (its agent branches); GitHub PRs from the
fake gh of tests/fake_gh placed first on PATH. Every wait is on the app's own signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import DEMO_NOW, asked, config_for, demo_reader
from fakes import HELM, SPANS, TOS, TRACE, WEBHOOK, FakeGh, open_github_prs
from fakes import relink_worktrees as relink_worktrees  # test_snapshots_prs imports it here
from test_app import RecordingApp
from textual.binding import Binding
from textual.widgets import TextArea

import factory_tui.ui.screens.diff as diff_module
from factory_tui.actions.prs import REVIEWS_FILE, PrsError
from factory_tui.adapters.gh import GhCache, GhError, PolledGh
from factory_tui.cli import main as cli_main
from factory_tui.config import Config
from factory_tui.core.attention import attention_items
from factory_tui.core.modes_paths import ChangedFile
from factory_tui.core.prs import PullRequest
from factory_tui.core.prs_patch import FileDiff
from factory_tui.core.prs_queue import build_queue
from factory_tui.demo import DemoFactory
from factory_tui.ui.app import FactoryApp
from factory_tui.ui.feeds.prs import (
    MIN_POLL_SECONDS,
    PrsOptions,
    poll_seconds,
)
from factory_tui.ui.messages import PrsLoaded
from factory_tui.ui.screens.confirm import ConfirmScreen
from factory_tui.ui.screens.diff import DiffScreen, file_label
from factory_tui.ui.screens.prs import RequestChangesScreen
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.fields import FieldList
from factory_tui.ui.widgets.prs import PrsView, dod_summary
from factory_tui.ui.widgets.summary import SummaryBar

SIZE = (140, 44)
NOW_S = "2026-02-16T15:42"


# -- fixtures ----------------------------------------------------------------------------------


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    argv = ["git", "-c", "user.name=Dana Engineer", "-c", "user.email=dana@example.com", *args]
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, check=True, env=env or None
    )
    return done.stdout.strip()


def merge_show_pr(root: Path) -> None:
    """A Show PR (tests only), #399, merged on main at 15:30 UTC."""
    (root / "tests" / "test_retry.py").write_text("def test_retry() -> None:\n    pass\n")
    git(root, "add", "tests/test_retry.py")
    stamp = "2026-02-16T15:30:00+00:00"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    git(root, "commit", "-qm", "test: retries (#399)", env=env)


@pytest.fixture
def factory(
    demo: DemoFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    git_env: None,
    no_real_gh: None,
) -> DemoFactory:
    """The demo factory's copy (its worktrees pointing at the copy) in an environment of its
    own: no gh on PATH, no user git config, the review state in ``tmp_path / "state"``."""
    monkeypatch.setenv("FACTORY_TUI_STATE_DIR", str(tmp_path / "state"))
    return demo


def make_app(
    demo: DemoFactory,
    tmp_path: Path,
    *,
    config: Config | None = None,
    view: str = "prs",
    **options: Any,
) -> RecordingApp:
    app = RecordingApp(
        config or config_for(demo.root),
        clock=lambda: DEMO_NOW,
        reader=demo_reader(demo),
        watch=False,
        initial_view=view,
        refresh_interval=3600,
        theme_dir=tmp_path / "no-user-themes",
        environ={},
        prs=PrsOptions(reviews_dir=tmp_path / "state", **{"min_gap": 0.0, **options}),
    )
    app.animation_level = "none"
    return app


def prs_view(app: FactoryApp) -> PrsView:
    return app.query_one(PrsView)


def row_keys(app: FactoryApp) -> list[str]:
    view = prs_view(app)
    return [pr.key for pr in view.shown_views()]


def log_lines(demo: DemoFactory) -> list[str]:
    return (demo.memory_dir / "operations.log").read_text().splitlines()


async def select(app: FactoryApp, key: str) -> None:
    view = prs_view(app)
    assert view.select_pr(key), f"{key} is not in the PRs view: {row_keys(app)}"
    view.table.focus()
    app.refresh_bindings()


def footer_actions(app: FactoryApp) -> set[str]:
    return {
        binding.action
        for (_node, binding, enabled, _tip) in app.screen.active_bindings.values()
        if enabled
    }


# -- the view ------------------------------------------------------------------------------------


async def test_the_queue_in_order_with_header_count_and_notice(
    factory: DemoFactory, tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        queue = await app.wait_for_prs()
        await pilot.pause()
        assert [v.key for v in queue.ask] == [TRACE, SPANS, HELM]  # oldest first
        keys = row_keys(app)
        assert keys[:5] == [TRACE, SPANS, HELM, WEBHOOK, TOS]
        assert keys[5:] == ["#370", "#369", "#366", "#363", "#362", "#359"]  # newest first
        text = screen_text(app)
        assert "PRS 3 Ask waiting" in text
        assert "PRs 11 !3" in text
        assert "3 Ask waiting (oldest 1h09m)" in text
        # gh is not on PATH: the view says what to run, the local branches are there anyway.
        assert "⚠ gh is not installed" in text and "gh auth login" in text
        assert "? ASK" in text and "✓ green" in text and "✗ RED" in text
        # The header's Ask count is drawn in the alarm style.
        segment = app.query_one(SummaryBar).segments["ask"]
        assert segment.plain == "PRS 3 Ask waiting"
        assert any("reverse" in str(span.style) for span in segment.spans)
        # The highlighted PR in full: mode and why, CI, size, link, the Definition of Done.
        await select(app, HELM)
        await pilot.pause()
        detail = app.query_one("#pr-detail", FieldList).text
        assert "mode Ask  touches deploy/helm/ → infra (Helm) → Ask" in detail
        assert "CI ✓ green  the log: the agent is past the ci step" in detail
        assert "task CAB-1340-helm-limits" in detail and "claim CAB-1340" in detail
        assert "✓ PR exists  pr-created #373 in the log" in detail
        assert "✓ tests changed" in detail and "worktree .worktrees/" in detail
        # A reload keeps the cursor; the filter narrows the rows and marks the tab.
        await select(app, SPANS)
        loads = app.prs_loader.loads
        app.reload_prs()
        await app.wait_for_prs(lambda _q: app.prs_loader.loads > loads)
        await pilot.pause()
        assert prs_view(app).cursor_view().key == SPANS  # type: ignore[union-attr]
        app.cockpit.apply_filter("prs", "helm")
        assert row_keys(app) == [HELM]
        await pilot.pause()
        assert "⧩" in screen_text(app)
        app.cockpit.apply_filter("prs", "")
        assert len(row_keys(app)) == 11


async def test_hostile_titles_render_literally_and_failures_show(
    factory: DemoFactory, tmp_path: Path
) -> None:
    hostile = PullRequest(
        source="github",
        number=77,
        branch="x; rm -rf ~",
        title="feat: [bold]x[/bold] \x1b[31mred",
        state="open",
        files=(ChangedFile("src/[b]a.py", 3, 0),),
        additions=3,
        created_at=DEMO_NOW - timedelta(minutes=5),
    )
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        app.post_message(PrsLoaded(build_queue([hostile], now=DEMO_NOW)))
        await pilot.pause()
        await select(app, "#77")
        await pilot.pause()
        text = screen_text(app)
        assert "[bold]x[/bold] \\x1b[31mred" in text
        assert "\x1b[31m" not in text
        detail = app.query_one("#pr-detail", FieldList).text
        assert "feat: [bold]x[/bold] \\x1b[31mred" in detail and "src/[b]a.py" in detail
        # A load that fails keeps the last good queue and says so.
        app.post_message(PrsLoaded(None, error="RuntimeError: boom"))
        await pilot.pause()
        assert "last load failed: RuntimeError:" in screen_text(app)
        assert [t for t, _m in app.notes if t == "Internal error"]


def test_dod_summary_reads_in_words() -> None:
    from factory_tui.core.modes_dod import DodItem

    assert dod_summary([DodItem("PR exists", True, ""), DodItem("CI green", True, "")]) == (
        "2/2 ✓",
        "$success",
    )
    text, style = dod_summary(
        [DodItem("PR exists", False, ""), DodItem("CI green", None, ""), DodItem("x", True, "")]
    )
    assert (text, style) == ("1/3 ✗ PR ? CI", "$warning")


# -- n, announcements ------------------------------------------------------------------------------


async def test_n_reaches_the_oldest_ask_pr(factory: DemoFactory, tmp_path: Path) -> None:
    app = make_app(factory, tmp_path, view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        queue = await app.wait_for_prs()
        items = attention_items(app.fleet, queue)
        assert [i.target for i in items if i.view == "prs"] == [TRACE, SPANS, HELM]
        assert attention_items(app.fleet) == [i for i in items if i.view != "prs"]
        assert items == sorted(items, key=lambda i: (i.since, i.key))
        first = next(n for n, item in enumerate(items) if item.view == "prs")
        for _ in range(first + 1):
            await pilot.press("n")
        await pilot.pause()
        assert app.cockpit.current_view == "prs"
        assert prs_view(app).cursor_view().key == TRACE  # type: ignore[union-attr]
        assert app.focused is prs_view(app).table
        assert any(TRACE in message for title, message in app.notes if title == "Needs you")


def new_agent_branch(root: Path, branch: str, when: datetime) -> None:
    """An agent's new branch with a feature commit, in a worktree of its own."""
    tree = root / ".worktrees" / "t99999-new"
    git(root, "worktree", "add", "-q", "-b", branch, str(tree), "main")
    (tree / "src" / "tinygate" / "billing.py").write_text("def bill() -> int:\n    return 1\n")
    git(tree, "add", ".")
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    git(tree, "commit", "-qm", "feat: billing (CAB-1999)", env=env)


async def test_a_new_ask_pr_is_announced_once(factory: DemoFactory, tmp_path: Path) -> None:
    app = make_app(factory, tmp_path, view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        assert not [n for n in app.notes if n[0].startswith("Needs you")] and app.bells == 0
        new_agent_branch(factory.root, "feat/CAB-1999-billing", DEMO_NOW - timedelta(minutes=3))
        with (factory.memory_dir / "operations.log").open("a") as log:
            log.write(
                f"{NOW_S} | SESSION-START | task=CAB-1999-billing "
                "branch=feat/CAB-1999-billing instance=t99999-new\n"
            )
        # A change of the factory (the log grew) reloads the queue.
        app.read_everything()
        await app.wait_for_prs(lambda q: q.ask_waiting == 4)
        await pilot.pause()
        news = [m for t, m in app.notes if t == "Needs you: Ask PR"]
        assert len(news) == 1 and "feat/CAB-1999-billing" in news[0]
        bells = app.bells  # the new session (no process) rang too
        assert bells >= 1
        assert "PRS 4 Ask waiting" in screen_text(app)
        app.reload_prs()
        loads = app.prs_loader.loads
        await app.wait_for_prs(lambda _q: app.prs_loader.loads > loads)
        assert len([m for t, m in app.notes if t == "Needs you: Ask PR"]) == 1
        assert app.bells == bells


async def test_a_factory_change_reloads_the_queue_only_when_it_links_prs_otherwise(
    factory: DemoFactory, tmp_path: Path
) -> None:
    """A log line that moves no session linking a PR runs no git (the queue stands); a branch
    made in git shows at the slow timer's load; a session naming it links it at once."""
    app = make_app(factory, tmp_path, view="agents")
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()
        await app.wait_for_prs()
        loader = app.prs_loader
        loads, skipped = loader.loads, loader.skipped
        new_agent_branch(factory.root, "feat/CAB-1999-billing", DEMO_NOW - timedelta(minutes=3))
        events = app.fleet.counts["log_events"]
        with (factory.memory_dir / "operations.log").open("a") as log:
            log.write(f"{NOW_S} | STEP-DONE | step=code task=load n=1\n")
        app.read_everything()
        await app.wait_for_fleet(lambda f: f.counts["log_events"] > events)
        assert loader.skipped == skipped + 1
        assert not loader.running and not loader.pending and loader.loads == loads
        assert app.queue is not None and app.queue.ask_waiting == 3
        # The slow timer reads git again: the new branch is there, linked to nothing yet.
        app.poll_prs()
        queue = await app.wait_for_prs(lambda q: q.ask_waiting == 4)
        view = next(v for v in queue.ask if v.pr.branch == "feat/CAB-1999-billing")
        assert view.link.task is None
        # A session on that branch links it: the queue is loaded again at once.
        with (factory.memory_dir / "operations.log").open("a") as log:
            log.write(
                f"{NOW_S} | SESSION-START | task=CAB-1999-billing "
                "branch=feat/CAB-1999-billing instance=t99999-new\n"
            )
        app.read_everything()
        queue = await app.wait_for_prs(
            lambda q: any(v.link.task == "CAB-1999-billing" for v in q.ask)
        )
        assert loader.skipped == skipped + 1


async def test_a_session_linking_a_pr_just_after_a_skipped_change_loads_after_the_gap(
    factory: DemoFactory, tmp_path: Path
) -> None:
    """A skipped change counts as a start for the minimum gap: a change that links a PR right
    after it waits for the gap's timer, then loads."""
    app = make_app(factory, tmp_path, view="agents", min_gap=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        loader = app.prs_loader
        skipped, events = loader.skipped, app.fleet.counts["log_events"]
        log = factory.memory_dir / "operations.log"
        with log.open("a") as handle:
            handle.write(f"{NOW_S} | STEP-DONE | step=code task=load n=1\n")
        app.read_everything()
        await app.wait_for_fleet(lambda f: f.counts["log_events"] > events)
        # Skipped now, or when the gap's timer fires (a skip posts nothing to wait on).
        deadline = time.monotonic() + 10
        while loader.skipped == skipped and time.monotonic() < deadline:
            await pilot.pause()
        assert loader.skipped == skipped + 1 and not loader.pending
        with log.open("a") as handle:
            handle.write(
                f"{NOW_S} | SESSION-START | task=CAB-1321-tos-again "
                "branch=fix/CAB-1321-tos-link instance=t99999-new\n"
            )
        app.read_everything()
        await app.wait_for_prs(lambda q: any(v.link.task == "CAB-1321-tos-again" for v in q.views))


# -- a, c, v on local PRs ------------------------------------------------------------------------


async def test_approve_a_local_pr_after_saying_what_will_run(
    factory: DemoFactory, tmp_path: Path
) -> None:
    root = factory.root
    main_before = git(root, "rev-parse", "main")
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await select(app, HELM)
        await pilot.pause()
        assert {"approve_pr", "request_changes"} <= {
            a.removeprefix("screen.") for a in footer_actions(app)
        }
        assert "screen.mark_reviewed" not in footer_actions(app)
        await pilot.press("a")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.typed is None
        text = "\n".join(screen.lines)
        assert f"squash merges branch {HELM}" in text
        assert "logs <now> | STEP-DONE | step=merged task=CAB-1340-helm-limits pr=373" in text
        assert git(root, "rev-parse", "main") == main_before  # nothing done yet
        await pilot.press("y")
        queue = await app.wait_for_prs(lambda q: HELM not in {v.key for v in q.ask})
        await pilot.pause()
        assert git(root, "rev-parse", "main^") == main_before
        assert any(
            line.startswith(f"{NOW_S} | STEP-DONE | step=merged task=CAB-1340-helm-limits")
            for line in log_lines(factory)
        )
        assert [v.key for v in queue.ask] == [TRACE, SPANS]
        assert ("Approve", f"merged branch {HELM} into main as ") in [
            (t, m[: len(f"merged branch {HELM} into main as ")]) for t, m in app.notes
        ]


async def test_red_ci_needs_the_typed_override(factory: DemoFactory, tmp_path: Path) -> None:
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await select(app, WEBHOOK)
        await pilot.press("a")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfirmScreen) and screen.typed == "override"
        assert "CI is RED" in screen.title_text
        assert any("CI is red and overridden" in line for line in screen.lines)
        lines = len(log_lines(factory))
        await pilot.press("enter")  # not typed: refused, nothing done
        await pilot.pause()
        assert ("", "Type override exactly to confirm (or n / escape to cancel).") in app.notes
        assert app.screen is screen and len(log_lines(factory)) == lines
        await pilot.press(*"override", "enter")
        await app.wait_for_prs(lambda q: WEBHOOK not in {v.key for v in q.in_flight})
        assert "ci=red-overridden" in log_lines(factory)[-1]


async def test_request_changes_on_a_local_pr_leaves_a_note(
    factory: DemoFactory, tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await select(app, TRACE)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RequestChangesScreen)
        assert any("review-feat-CAB-1352-traceparent.md" in line for line in screen.lines)
        await pilot.press("ctrl+s")  # empty: refused
        await pilot.pause()
        assert app.screen is screen
        screen.query_one(TextArea).load_text("Add a test; $(rm -rf ~)")
        await pilot.press("ctrl+s")
        queue = await app.wait_for_prs(lambda q: TRACE not in {v.key for v in q.ask})
        await pilot.pause()
        note = factory.claims_dir.parent / "reviews" / "review-feat-CAB-1352-traceparent.md"
        assert not list(factory.root.glob(".worktrees/*/.claude/review-*.md"))
        assert "Add a test; $(rm -rf ~)" in note.read_text()
        assert "| REVIEW | task=CAB-1352-traceparent" in log_lines(factory)[-1]
        view = queue.find(TRACE)
        assert view is not None and view.pr.changes_requested
        assert "↺ CHANGES" in screen_text(app)


async def test_mark_a_show_pr_reviewed(factory: DemoFactory, tmp_path: Path) -> None:
    merge_show_pr(factory.root)
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        queue = await app.wait_for_prs()
        assert [v.key for v in queue.show] == ["#399"]
        assert "PRS 3 Ask waiting 1 Show to review" in screen_text(app)
        await select(app, "#399")
        await pilot.pause()
        assert "screen.mark_reviewed" in footer_actions(app)
        assert "screen.approve_pr" not in footer_actions(app)
        assert "◐ SHOW" in screen_text(app)
        await pilot.press("v")
        await app.wait_for_prs(lambda q: not q.show)
        await pilot.pause()
        assert "✓ REVIEWED" in screen_text(app)
        state = (tmp_path / "state" / REVIEWS_FILE).read_text()
        assert "local:#399" in state
        assert "screen.mark_reviewed" not in footer_actions(app)


async def test_read_only_hides_the_actions(factory: DemoFactory, tmp_path: Path) -> None:
    config = config_for(factory.root)
    from dataclasses import replace

    app = make_app(factory, tmp_path, config=replace(config, read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await select(app, HELM)
        await pilot.pause()
        assert not {"screen.approve_pr", "screen.request_changes"} & footer_actions(app)
        await pilot.press("a")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        names = [name for name, _cb, _help in app.cockpit.palette_commands()]
        assert "PRs: Approve" not in names and "Reload PRs" in names


async def test_looking_at_the_view_is_recorded(factory: DemoFactory, tmp_path: Path) -> None:
    app = make_app(factory, tmp_path, view="agents")
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        assert not (tmp_path / "state" / REVIEWS_FILE).exists()
        await pilot.press("7")
        # The tabs announce the new view after the key is handled, and the look is recorded on
        # a thread from there: wait (bounded) for the file, not only for the workers running
        # now (on a busy machine there were none yet, and the file was not there).
        reviews = tmp_path / "state" / REVIEWS_FILE
        deadline = time.monotonic() + 10
        while not reviews.exists() and time.monotonic() < deadline:
            await pilot.pause()
        await app.workers.wait_for_complete()
        assert '"last_look": "2026-02-16T15:42:30"' in reviews.read_text()
        # What was new stays marked while this look lasts, even after a reload.
        loads = app.prs_loader.loads
        app.reload_prs()
        queue = await app.wait_for_prs(lambda _q: app.prs_loader.loads > loads)
        await pilot.pause()
        assert not any(v.new_since_look for v in queue.merged)
        assert "● new" in screen_text(app)


# -- GitHub through the fake gh -------------------------------------------------------------------


def github_prs(fake: FakeGh) -> None:
    fake.publish(*open_github_prs(jwks_additions=320))


async def test_github_queue_polls_gh_and_acts_through_it(
    factory: DemoFactory, fake_gh: FakeGh, tmp_path: Path
) -> None:
    github_prs(fake_gh)
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        queue = await app.wait_for_prs()
        await pilot.pause()
        assert [v.key for v in queue.ask] == ["#380", "#373"] and queue.sources == ("github",)
        assert "✂ MUST SPLIT" in screen_text(app)
        lists = [c for c in fake_gh.calls() if c[:2] == ["pr", "list"]]
        assert len(lists) == 2
        # A change of the factory relinks the PRs without asking gh again...
        loads = app.prs_loader.loads
        app.reload_prs(fresh=False)
        await app.wait_for_prs(lambda _q: app.prs_loader.loads > loads)
        assert len([c for c in fake_gh.calls() if c[:2] == ["pr", "list"]]) == 2
        # ... the slow timer does.
        app.poll_prs()
        await app.wait_for_prs(lambda _q: app.prs_loader.loads > loads + 1)
        assert len([c for c in fake_gh.calls() if c[:2] == ["pr", "list"]]) == 4

        await select(app, "#373")
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, RequestChangesScreen)
        assert any("gh pr review 373 --request-changes" in line for line in app.screen.lines)
        body = "Please split it; `touch pwned`"
        app.screen.query_one(TextArea).load_text(body)
        await pilot.press("ctrl+s")
        await app.wait_for_prs(lambda q: q.ask_waiting == 1)
        assert ["pr", "review", "373", "--request-changes", "--body", body] in fake_gh.calls()

        await select(app, "#373")
        await pilot.press("a")
        await asked(pilot, ConfirmScreen)
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert any("runs: gh pr merge 373 --squash --delete-branch" in x for x in app.screen.lines)
        await pilot.press("y")
        await app.wait_for_prs(lambda q: getattr(q.find("373"), "queue", "") == "merged")
        assert [c for c in fake_gh.calls() if c[:3] == ["pr", "merge", "373"]]
        assert (
            "| STEP-DONE | step=merged task=CAB-1340-helm-limits pr=373" in log_lines(factory)[-1]
        )


async def test_gh_not_logged_in_shows_what_to_run(
    factory: DemoFactory, fake_gh: FakeGh, tmp_path: Path
) -> None:
    fake_gh.fail({"argv": [], "exit": 4, "stderr": "To get started, run:  gh auth login"})
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        queue = await app.wait_for_prs()
        await pilot.pause()
        assert queue.sources == ("local",) and queue.ask_waiting == 3
        assert "gh is not logged in to GitHub: run `gh auth login`" in screen_text(app)


def test_gh_cache_answers_within_its_interval(fake_gh: FakeGh, factory: DemoFactory) -> None:
    github_prs(fake_gh)
    clock = [0.0]
    cache = GhCache(60, clock=lambda: clock[0])
    gh = PolledGh(factory.root, cache)
    assert [p.number for p in gh.list_prs()] == [373, 372, 380]
    assert [p.number for p in gh.list_prs()] == [373, 372, 380]
    assert len(fake_gh.calls()) == 1 and cache.asked == 1
    clock[0] = 61
    gh.list_prs()
    assert len(fake_gh.calls()) == 2
    fake_gh.fail({"argv": [], "exit": 4, "stderr": "gh auth login"})
    cache.expire()
    for _ in range(2):
        with pytest.raises(GhError, match="gh auth login"):
            gh.list_prs()
    assert len(fake_gh.calls()) == 3  # the error is remembered too


def test_poll_seconds_from_config(factory: DemoFactory) -> None:
    toml = factory.root / "factory.toml"
    base = toml.read_text()
    assert poll_seconds(config_for(factory.root)) == (60.0, None)
    toml.write_text(base + "\n[prs]\npoll_seconds = 5\n")
    seconds, problem = poll_seconds(config_for(factory.root))
    assert seconds == MIN_POLL_SECONDS and problem is not None and "at most every 30 s" in problem
    toml.write_text(base + "\n[prs]\npoll_seconds = 90\n")
    assert poll_seconds(config_for(factory.root)) == (90.0, None)


# -- the diff viewer ---------------------------------------------------------------------------------


async def test_enter_opens_the_diff_and_brackets_walk_the_files(
    factory: DemoFactory, tmp_path: Path
) -> None:
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.wait_for_prs()
        await select(app, "#370")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DiffScreen) and screen.files is not None
        assert [f.path for f in screen.files] == ["src/tinygate/api.py", "src/tinygate/gateway.py"]
        assert screen.current_path == "src/tinygate/api.py"
        assert "diff --git a/src/tinygate/api.py" in screen_text(app)
        await pilot.press("right_square_bracket")
        assert screen.current_path == "src/tinygate/gateway.py"
        await pilot.pause()
        assert "diff --git a/src/tinygate/gateway.py" in screen_text(app)
        await pilot.press("right_square_bracket")  # the last file: stays, and says so
        assert screen.current_path == "src/tinygate/gateway.py"
        await pilot.pause()
        assert ("", "No other file: this is the last of 2 file(s).") in app.notes
        await pilot.press("left_square_bracket")
        assert screen.current_path == "src/tinygate/api.py"
        assert "pager" not in {b.action for (_n, b, e, _t) in screen.active_bindings.values() if e}
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DiffScreen) and app.cockpit.current_view == "prs"


async def test_diff_errors_and_the_pager(
    factory: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diff that cannot be read says why; ``o`` pipes the diff to the pager as argv with the
    app suspended."""

    def broken() -> list[FileDiff]:
        raise PrsError("the diff of #9 cannot be read: gh pr diff 9 failed: HTTP 502")

    files = [FileDiff("a.py", None, "M", 1, 0, False, "diff --git a/a.py b/a.py\n+x\n")]
    ran: list[tuple[list[str], bytes]] = []

    def fake_run(argv: list[str], *, input: bytes, check: bool) -> None:
        ran.append((argv, input))

    monkeypatch.setattr(diff_module, "subprocess", SimpleNamespace(run=fake_run))
    app = make_app(factory, tmp_path, enabled=False)

    @contextlib.contextmanager
    def suspended() -> Iterator[None]:
        yield

    monkeypatch.setattr(app, "suspend", suspended)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await app.push_screen(DiffScreen("#9 broken", broken))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "HTTP 502" in screen_text(app)
        assert ("Diff", "the diff of #9 cannot be read: gh pr diff 9 failed: HTTP 502") in app.notes
        app.pop_screen()
        await app.push_screen(DiffScreen("t", lambda: files, pager=("delta", "--side-by-side")))
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("o")
        assert ran == [(["delta", "--side-by-side"], b"diff --git a/a.py b/a.py\n+x\n")]


def test_file_labels_are_literal() -> None:
    label = file_label(FileDiff("b/[x].py", "a/[y].py", "R", 2, 1, False, ""))
    assert label.plain == "R +2 −1 a/[y].py → b/[x].py"
    assert file_label(FileDiff("logo.png", None, "A", 0, 0, True, "")).plain == "A binary logo.png"


# -- help, palette, snapshot --fail-on ask -----------------------------------------------------------


async def test_help_palette_and_disabled_loading(factory: DemoFactory, tmp_path: Path) -> None:
    app = make_app(factory, tmp_path, enabled=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.wait_for_fleet()
        await pilot.pause()
        assert app.queue is None and app.prs_loader.loads == 0
        assert "The PR queue is not loaded in this cockpit." in screen_text(app)
        assert "ask" not in app.query_one(SummaryBar).segments
        sections = dict(app.cockpit.key_sections())
        keys = {b.key for b in sections["PRs view"] if isinstance(b, Binding)}
        assert {"a", "c", "v", "enter"} <= keys
        diff_keys = {b.key for b in sections["PR diff"] if isinstance(b, Binding)}
        assert {"right_square_bracket", "left_square_bracket", "o"} <= diff_keys
        names = [name for name, _cb, _help in app.cockpit.palette_commands()]
        for name in ("View: PRs", "PRs: Approve", "PRs: Request changes", "PRs: Mark reviewed"):
            assert name in names


def test_snapshot_fail_on_ask_counts_waiting_ask_prs(
    factory: DemoFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prs.txt"
    argv = ["snapshot", str(factory.root), "--output", str(out), "--view", "prs", "--now", NOW_S]
    assert cli_main([*argv, "--fail-on", "ask"]) == 1
    assert "--fail-on holds: 3 Ask PR(s) waiting" in capsys.readouterr().err
    text = out.read_text()
    assert "PRS 3 Ask waiting" in text and "feat/CAB-1352-traceparent" in text
    assert not (tmp_path / "state" / REVIEWS_FILE).exists()  # a snapshot is nobody looking


async def test_the_queue_and_the_spend_load_after_the_fleet_and_the_log_index(
    factory: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the engineer looks at first comes first: the PR queue (gh, git, their imports) and
    the spend (the transcripts, the price table) took ~0.3 s of the scale factory's 2 s load
    as they ran beside it. They are asked for once the fleet and the log index are shown."""
    from factory_tui.ui.feeds.cost import CostFeed
    from factory_tui.ui.feeds.fleet import FleetFeed
    from factory_tui.ui.feeds.prs import QueueLoader

    indexing, go_on = threading.Event(), threading.Event()
    index_log = FleetFeed._index_log

    def held_index(feed: FleetFeed) -> bool:
        indexing.set()
        go_on.wait(10)
        return index_log(feed)

    asked: list[str] = []
    prs_request, cost_request = QueueLoader.request, CostFeed.request

    def ask_prs(loader: QueueLoader, *args: Any, **kwargs: Any) -> None:
        asked.append("prs")
        prs_request(loader, *args, **kwargs)

    def ask_cost(feed: CostFeed, *args: Any, **kwargs: Any) -> None:
        asked.append("cost")
        cost_request(feed, *args, **kwargs)

    monkeypatch.setattr(FleetFeed, "_index_log", held_index)
    monkeypatch.setattr(QueueLoader, "request", ask_prs)
    monkeypatch.setattr(CostFeed, "request", ask_cost)
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet()  # the fleet is shown; the log is being indexed
        assert await asyncio.to_thread(indexing.wait, 10)
        assert asked == [] and not app.log_ready
        go_on.set()
        await app.wait_for_fleet(lambda _fleet: app.log_ready)
        queue = await app.wait_for_prs()
        assert asked[:2] == ["prs", "cost"]
        assert [v.key for v in queue.ask] == [TRACE, SPANS, HELM]
        assert await app.wait_for_cost() is not None


async def test_the_queue_and_the_spend_load_when_the_first_read_fails(
    factory: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A factory that cannot be read still gets its PR queue and its spend."""
    from factory_tui.adapters.factory import FactoryReader

    def broken(_reader: FactoryReader) -> None:
        raise OSError("the claims folder went away")

    monkeypatch.setattr(FactoryReader, "refresh_all", broken)
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE):
        queue = await app.wait_for_prs()
        assert [v.key for v in queue.ask] == [TRACE, SPANS, HELM]
        assert not app.loaded
        assert any("the claims folder went away" in text for _title, text in app.notes)


async def test_the_spends_spans_wait_for_the_app_to_show_the_first_load(
    factory: DemoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spans of every session (for the spend's attribution) were made on the fleet feed's
    thread as the app showed the first load: at 10x its 0.3 s handler took 0.3 to 2.9 s beside
    them (the GIL). They wait until the app has shown it. (The handler below waits a second
    for the spans to start: they must not.)"""
    from factory_tui.ui.feeds.cost import CostFeed
    from factory_tui.ui.screens.cockpit import CockpitScreen

    spans_started = threading.Event()
    during: list[bool] = []
    spans, show_fleet = CostFeed.spans_after_read, CockpitScreen.show_fleet

    def spans_after_read(feed: CostFeed, reader: Any) -> None:
        spans_started.set()
        spans(feed, reader)

    def shown(screen: CockpitScreen, message: Any) -> None:
        show_fleet(screen, message)
        if message.log_changed:
            during.append(spans_started.wait(1))

    monkeypatch.setattr(CostFeed, "spans_after_read", spans_after_read)
    monkeypatch.setattr(CockpitScreen, "show_fleet", shown)
    app = make_app(factory, tmp_path)
    async with app.run_test(size=SIZE):
        await app.wait_for_fleet(lambda _fleet: app.log_ready)
        assert await asyncio.to_thread(spans_started.wait, 10)
    assert during[:1] == [False]
