"""Issue 17: the claims tree redraws what changed. A fleet re-derived after one claim file
changed keeps the views it did not touch; the tree then relabels that claim, its group and the
held claims (their age moves with the clock), not every claim (ten thousand claims: ~0.15 s a
change). Whatever it skips, the tree ends up as a redraw of the whole fleet draws it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import record_calls
from test_app import demo_app
from textual.widgets import Tree

from factory_tui.demo import DemoFactory
from factory_tui.ui.watch import RefreshPlan
from factory_tui.ui.widgets.claims import STANDALONE, ClaimTree, _group_key

SIZE = (160, 40)


def drawn(tree: ClaimTree) -> list[tuple[str, str, object, object]]:
    """Every node as the tree shows it: its key, its label's text and styles, its data."""
    out = []
    for key, node in sorted(tree.nodes_by_key.items()):
        label = node.label
        out.append((key, label.plain, tuple(label.spans), node.data))
    return out


def redrawn_whole(tree: ClaimTree, fleet: Any) -> list[tuple[str, str, object, object]]:
    """The tree as a redraw of the whole fleet draws it, nothing kept from before."""
    tree.restyle()
    tree.show_fleet(fleet)
    return drawn(tree)


async def claims_tree(app: Any, pilot: Any) -> ClaimTree:
    """The Claims view shown once the first fleet is in: its tree."""
    await app.wait_for_fleet()
    await pilot.press("2")
    await pilot.pause()
    return app.query_one(ClaimTree)


async def change(app: Any, path: Path, obj: dict[str, Any], shows: Any) -> None:
    path.write_text(json.dumps(obj, indent=2))
    app.fleet_feed.request(plan=RefreshPlan(claim_paths={path}))
    await app.wait_for_fleet(shows)
    await app.workers.wait_for_complete()


def _title(key: str, title: str) -> Any:
    return lambda fleet: any(c.key == key and c.title == title for c in fleet.claims)


async def test_an_edited_claim_relabels_itself_its_group_and_the_held_claims_only(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        units = len(app.fleet.claims)
        held = sum(1 for c in app.fleet.claims if c.state not in ("available", "blocked", "done"))
        assert 0 < held < units - 1
        calls = record_calls(monkeypatch, ClaimTree, "_label")
        path = demo.claims_dir / "CAB-1297.json"
        obj = json.loads(path.read_text())
        obj["title"] = "Migrate the [b]loader[/b]"
        await change(app, path, obj, _title("CAB-1297", obj["title"]))
        await pilot.pause()
        labelled = [view.key for _tree, view, *_rest in calls]
        assert "CAB-1297" in labelled
        assert len(labelled) <= held + 1  # the edited claim and the held ones
        label = tree.nodes_by_key["CAB-1297"].label.plain
        assert "Migrate the [b]loader[/b]" in label  # literal
        assert drawn(tree) == redrawn_whole(tree, app.fleet)


async def test_after_any_edit_the_tree_is_what_a_whole_redraw_draws(demo: DemoFactory) -> None:
    """Edits that change a state (a group's counts), a MEGA's title (its group's label), a
    completion (a claim no longer aged), an owner; and what only a whole redraw shows (a claim
    file added, a lock taken): after each the tree equals a redraw of the whole fleet."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        claims = demo.claims_dir
        mega_path = claims / "CAB-1290.json"
        mega = json.loads(mega_path.read_text())

        async def check() -> None:
            await pilot.pause()
            shown = drawn(tree)
            assert shown == redrawn_whole(tree, app.fleet)

        # A phase claimed: the group's counts move (available → claimed).
        mega["phases"][3]["owner"] = "t1-aaaa"
        mega["phases"][3]["pid"] = 4242
        mega["phases"][3]["claimed_at"] = "2026-02-16T15:00"
        await change(
            app,
            mega_path,
            mega,
            lambda f: any(c.key == "CAB-1290:4" and c.unit.owner == "t1-aaaa" for c in f.claims),
        )
        await check()
        # The MEGA's title: every phase's view, and the group's label.
        mega["title"] = "Gateway, renamed"
        await change(app, mega_path, mega, _title("CAB-1290:4", "Gateway, renamed"))
        await check()
        # A held phase completed: no longer aged.
        mega["phases"][1]["completed_at"] = "2026-02-16T15:30"
        await change(
            app,
            mega_path,
            mega,
            lambda f: any(c.key == "CAB-1290:2" and c.state == "done" for c in f.claims),
        )
        await check()
        # A standalone ticket released.
        path = claims / "CAB-1302.json"
        obj = json.loads(path.read_text())
        obj["owner"] = None
        obj["pid"] = None
        await change(
            app,
            path,
            obj,
            lambda f: any(c.key == "CAB-1302" and c.unit.owner is None for c in f.claims),
        )
        await check()
        # A new claim file: the views move; drawn whole.
        new = claims / "CAB-0001.json"
        await change(
            app,
            new,
            {"ticket": "CAB-0001", "title": "first", "owner": None},
            _title("CAB-0001", "first"),
        )
        await check()
        assert "CAB-0001" in tree.nodes_by_key
        # A lock taken on a claim: its label says so.
        (claims / "CAB-1288.lock").mkdir()
        app.fleet_feed.request(plan=RefreshPlan(locks=True))
        await app.wait_for_fleet(lambda f: bool(f.locks_of("CAB-1288")))
        await app.workers.wait_for_complete()
        await check()
        assert "being written" in tree.nodes_by_key["CAB-1288"].label.plain


def shape(tree: ClaimTree) -> list[tuple[str, list[str]]]:
    """The tree's groups and their claims, in the order shown."""
    return [
        (
            group.data.key if group.data else "",
            [c.data.key if c.data else "" for c in group.children],
        )
        for group in tree.root.children
    ]


def whole_shape(fleet: Any) -> list[tuple[str, list[str]]]:
    """The order a whole redraw of ``fleet`` shows: the MEGAs as their claims come, each with
    its claims in order, then the standalone tickets."""
    groups: dict[str, list[str]] = {}
    for view in fleet.claims:
        groups.setdefault(_group_key(view), []).append(view.key)
    standalone = groups.pop(STANDALONE, [])
    return [*groups.items(), *([(STANDALONE, standalone)] if standalone else [])]


async def test_a_new_claim_file_is_inserted_in_its_group_not_drawn_whole(
    demo: DemoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new ticket's claim file, and a new phase in a MEGA's file: each view is inserted in
    its place in its group (a whole redraw went through ten thousand claims: ~0.2 s), the
    cursor stays on the claim it was on, and the tree is what a whole redraw draws, in the
    same order. A file that opens a group (a new MEGA) is drawn whole."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        assert shape(tree) == whole_shape(app.fleet)
        assert tree.select_key("CAB-1302")
        whole = record_calls(monkeypatch, ClaimTree, "_desired")
        claims = demo.claims_dir
        # A ticket whose id sorts before every other: above the cursor.
        await change(
            app,
            claims / "CAB-0001.json",
            {"ticket": "CAB-0001", "title": "first", "owner": None},
            _title("CAB-0001", "first"),
        )
        await pilot.pause()
        assert whole == []
        assert shape(tree) == whole_shape(app.fleet)
        assert tree.cursor_node is not None and tree.cursor_node.data is not None
        assert tree.cursor_node.data.key == "CAB-1302"
        assert "CAB-0001 first" in tree.nodes_by_key["CAB-0001"].label.plain
        # A phase added to a MEGA's file, in the middle of its phases.
        mega_path = claims / "CAB-1290.json"
        mega = json.loads(mega_path.read_text())
        ids = [phase["id"] for phase in mega["phases"]]
        extra = max(ids) + 1
        mega["phases"].append({"id": extra, "name": "Added phase", "owner": None, "deps": []})
        await change(
            app,
            mega_path,
            mega,
            lambda f: any(c.key == f"CAB-1290:{extra}" for c in f.claims),
        )
        await pilot.pause()
        assert whole == []
        assert shape(tree) == whole_shape(app.fleet)
        assert drawn(tree) == redrawn_whole(tree, app.fleet)
        assert shape(tree) == whole_shape(app.fleet)
        # A new MEGA: a group of its own, drawn whole.
        await change(
            app,
            claims / "CAB-0002.json",
            {"mega": "CAB-0002", "title": "new mega", "phases": [{"id": 1, "name": "one"}]},
            lambda f: any(c.key == "CAB-0002:1" for c in f.claims),
        )
        await pilot.pause()
        assert whole != []
        assert drawn(tree) == redrawn_whole(tree, app.fleet)


def built(tree: ClaimTree) -> tuple[object, ...]:
    """The tree's lines (each one's nodes and whether it is its parent's last), each shown
    node's line number, its size and cursor line."""
    lines = tree._tree_lines
    return (
        [(tuple(map(id, line.path)), line.last) for line in lines],
        [line.node._line for line in lines],
        tree.virtual_size,
        tree.cursor_line,
    )


def built_as_textual_builds(tree: ClaimTree) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """What the tree built, and what Textual's own ``Tree._build`` builds of the same nodes."""
    tree._clear_line_cache()
    ours = built(tree)
    Tree._build(tree)
    return ours, built(tree)


async def test_the_trees_lines_are_textuals_and_kept_when_a_claim_comes(
    demo: DemoFactory,
) -> None:
    """The tree builds the lines Textual's ``Tree._build`` builds (after a claim came, a group
    folded and unfolded, a claim gone); a line whose node kept its place is the same object
    after a claim came (ten thousand made anew each time: a full pass of the collector every
    other new claim)."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        ours, textuals = built_as_textual_builds(tree)
        assert ours == textuals
        tree._clear_line_cache()
        before = {line.node.data.key: line for line in tree._tree_lines if line.node.data}
        await change(
            app,
            demo.claims_dir / "CAB-1303.json",
            {"ticket": "CAB-1303", "title": "between", "owner": None},
            _title("CAB-1303", "between"),
        )
        await pilot.pause()
        after = {line.node.data.key: line for line in tree._tree_lines if line.node.data}
        assert set(after) - set(before) == {"CAB-1303"}
        moved = [key for key, line in before.items() if after[key] is not line]
        assert len(moved) <= 1, moved  # the standalone ticket that was last, if it is no more
        ours, textuals = built_as_textual_builds(tree)
        assert ours == textuals
        group = tree.nodes_by_key["mega/CAB-1290"]
        group.collapse()
        await pilot.pause()
        assert built_as_textual_builds(tree)[0] == built_as_textual_builds(tree)[1]
        group.expand()
        await pilot.pause()
        ours, textuals = built_as_textual_builds(tree)
        assert ours == textuals
        (demo.claims_dir / "CAB-1288.json").unlink()
        app.fleet_feed.request(plan=RefreshPlan(rescan_claims=True))
        await app.wait_for_fleet(lambda f: not any(c.key == "CAB-1288" for c in f.claims))
        await pilot.pause()
        ours, textuals = built_as_textual_builds(tree)
        assert ours == textuals


async def test_a_filter_typed_then_cleared_draws_every_claim_again(demo: DemoFactory) -> None:
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        every = set(tree.nodes_by_key)
        app.query_one("ClaimsView").set_filter("CAB-1302")  # type: ignore[attr-defined]
        await pilot.pause()
        assert "CAB-1288" not in tree.nodes_by_key
        path = demo.claims_dir / "CAB-1302.json"
        obj = json.loads(path.read_text())
        obj["title"] = "Flaky webhook retry test, again"
        await change(app, path, obj, _title("CAB-1302", obj["title"]))
        await pilot.pause()
        assert "CAB-1288" not in tree.nodes_by_key  # the filter still holds
        app.query_one("ClaimsView").set_filter("")  # type: ignore[attr-defined]
        await pilot.pause()
        assert set(tree.nodes_by_key) == every
        assert drawn(tree) == redrawn_whole(tree, app.fleet)


async def test_the_held_claims_ages_move_with_the_clock(demo: DemoFactory) -> None:
    """A fleet derived an hour later where one claim changed (a re-derive that kept the other
    views) relabels the held claims too: their ages say an hour more."""
    from dataclasses import replace
    from datetime import timedelta

    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        fleet = app.fleet
        before = tree.nodes_by_key["CAB-1302"].label.plain
        views = [replace(c, title="later") if c.key == "CAB-1297" else c for c in fleet.claims]
        later = replace(
            fleet, generated_at=fleet.generated_at + timedelta(hours=1), claims=tuple(views)
        )
        tree.show_fleet(later)
        after = tree.nodes_by_key["CAB-1302"].label.plain
        assert "5h15m ago" in before and "6h15m ago" in after, (before, after)
        assert "later" in tree.nodes_by_key["CAB-1297"].label.plain
        assert drawn(tree) == redrawn_whole(tree, later)


async def test_a_claim_file_removed_is_let_go(demo: DemoFactory) -> None:
    """The labels kept of a claim and of a MEGA whose file is gone are let go with it."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        assert "CAB-1288" in tree._labels and "CAB-1290" in tree._groups
        for name in ("CAB-1288.json", "CAB-1290.json"):
            (demo.claims_dir / name).unlink()
        app.fleet_feed.request(plan=RefreshPlan(rescan_claims=True))
        await app.wait_for_fleet(lambda f: not any(c.unit.claim_id == "CAB-1290" for c in f.claims))
        await pilot.pause()
        assert "CAB-1288" not in tree.nodes_by_key and "CAB-1288" not in tree._labels
        assert "mega/CAB-1290" not in tree.nodes_by_key and "CAB-1290" not in tree._groups
        assert drawn(tree) == redrawn_whole(tree, app.fleet)


async def test_a_ticket_whose_key_is_a_mega_phases_is_drawn_as_a_whole_redraw_draws_it(
    demo: DemoFactory,
) -> None:
    """A ticket file named as a MEGA's phase (``CAB-1290:2.json``) gives two claims one key:
    the tree never relabels by key alone then (the phase's label went onto the ticket's node
    a minute later); it draws the fleet whole, as it did before."""
    from dataclasses import replace
    from datetime import timedelta

    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        (demo.claims_dir / "CAB-1290:2.json").write_text(
            json.dumps({"ticket": "CAB-1290:2", "title": "a ticket", "owner": None})
        )
        app.fleet_feed.request(plan=RefreshPlan(rescan_claims=True))
        await app.wait_for_fleet(lambda f: sum(c.key == "CAB-1290:2" for c in f.claims) == 2)
        await app.workers.wait_for_complete()
        await pilot.pause()
        fleet = app.fleet
        later = replace(fleet, generated_at=fleet.generated_at + timedelta(minutes=1))
        tree.show_fleet(later)
        assert drawn(tree) == redrawn_whole(tree, later)


async def test_a_ticket_named_standalone_is_not_the_standalone_group(demo: DemoFactory) -> None:
    """Group keys have a ``/``, which no claim key has: a ticket named ``standalone`` (or
    ``mega:CAB-1290``) is drawn as a claim, not taken for its group (which raised)."""
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        for name in ("standalone", "mega:CAB-1290"):
            (demo.claims_dir / f"{name}.json").write_text(
                json.dumps({"ticket": name, "title": f"named {name}", "owner": None})
            )
        app.fleet_feed.request(plan=RefreshPlan(rescan_claims=True))
        await app.wait_for_fleet(lambda f: any(c.key == "standalone" for c in f.claims))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "named standalone" in tree.nodes_by_key["standalone"].label.plain
        assert "named mega:CAB-1290" in tree.nodes_by_key["mega:CAB-1290"].label.plain
        assert "CAB-1290" in tree.nodes_by_key["mega/CAB-1290"].label.plain
        assert drawn(tree) == redrawn_whole(tree, app.fleet)


async def test_a_group_of_many_claims_details_a_hundred(demo: DemoFactory) -> None:
    """The detail of a group of thousands of tickets lists the first hundred and says how many
    more (each one a row, made again at each fleet: the cockpit stopped answering)."""
    from factory_tui.ui.widgets.claims import GROUP_DETAIL_MAX, STANDALONE, ClaimDetail

    for n in range(GROUP_DETAIL_MAX + 50):
        (demo.claims_dir / f"MANY-{n:04}.json").write_text(
            json.dumps({"ticket": f"MANY-{n:04}", "title": "many", "owner": None})
        )
    app = demo_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        tree = await claims_tree(app, pilot)
        assert tree.select_key(STANDALONE)
        await pilot.pause()
        detail = app.query_one(ClaimDetail)
        lines = detail.text.splitlines()
        standalone = sum(1 for c in app.fleet.claims if c.kind == "standalone")
        assert len(lines) == 1 + GROUP_DETAIL_MAX + 1, lines[-3:]
        assert lines[-1].endswith(f"… and {standalone - GROUP_DETAIL_MAX} more: / filters the tree")
