"""Issue 12: the Claims tree fits its width. A long title gives way first (cut with an
ellipsis), so the claim's state facts after it stay in view; what still does not fit is cut with
an ellipsis at the end, never by the screen's edge; the detail below has the title whole, and
agent-written text stays literal."""

from __future__ import annotations

import json
import sys
from typing import Any

from test_app import demo_app
from test_ui_claims_redraw import claims_tree

from factory_tui.demo import DemoFactory
from factory_tui.ui.snapshot import screen_text
from factory_tui.ui.widgets.claims import ClaimDetail, ClaimTree, fit_label
from factory_tui.ui.widgets.text import styled_text

TITLE = "Retry the [bold]webhook[/bold] delivery with a bounded exponential backoff and jitter"


def tree_lines(app: Any, tree: ClaimTree) -> list[str]:
    return screen_text(app).splitlines()[tree.region.y : tree.region.bottom]


def test_fit_label_cuts_the_title_first_then_the_end() -> None:
    label = styled_text(("★ AVAILABLE ", "bold"), "CAB-1 a long title here", "  ← claimable now")
    cut = (12, 12 + len("CAB-1 a long title here"))
    assert fit_label(label, 100, cut) is label  # fits: untouched
    assert fit_label(label, 40, cut).plain == "★ AVAILABLE CAB-1 a lo…  ← claimable now"
    assert fit_label(label, 40, cut).cell_len == 40
    narrow = fit_label(label, 24, cut)  # the title at its floor, then the end cut
    assert narrow.cell_len == 24 and narrow.plain.startswith("★ AVAILABLE CAB-1…")
    assert narrow.plain.endswith("…")
    assert fit_label(label, 30).plain == "★ AVAILABLE CAB-1 a long titl…"  # no cut: the end


async def test_at_80_columns_claim_labels_are_cut_with_an_ellipsis(demo: DemoFactory) -> None:
    (demo.claims_dir / "CAB-0001.json").write_text(
        json.dumps({"ticket": "CAB-0001", "title": TITLE, "owner": None})
    )
    app = demo_app(demo)
    async with app.run_test(size=(80, 30)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        assert tree.virtual_size.width <= tree.size.width  # no sideways scrolling
        lines = tree_lines(app, tree)
        row = next(line for line in lines if "CAB-0001" in line)
        assert "Retry the [bold]webh" in row and "jitter" not in row  # literal, cut
        assert "…  ← claimable now" in row  # the title gave way, the state's fact stays
        for line in lines:
            # A line that reaches the edge of the tree was cut, with an ellipsis.
            if len(line.rstrip()) >= tree.region.right - 2:
                assert "…" in line, line
        assert tree.select_key("CAB-0001")
        await pilot.pause()
        assert TITLE in app.query_one(ClaimDetail).text.replace("\n", " ")  # whole below
        # Wider, the labels are whole again.
        await pilot.resize_terminal(200, 30)
        await pilot.pause()
        row = next(line for line in tree_lines(app, tree) if "CAB-0001" in line)
        assert TITLE in row and "…" not in row


async def test_with_its_vertical_scrollbar_the_tree_does_not_scroll_sideways(
    demo: DemoFactory,
) -> None:
    (demo.claims_dir / "CAB-0001.json").write_text(
        json.dumps({"ticket": "CAB-0001", "title": TITLE, "owner": None})
    )
    app = demo_app(demo)
    async with app.run_test(size=(100, 18)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        await pilot.pause()
        await pilot.resize_terminal(80, 18)  # cut again while the scrollbar shows
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        assert tree.show_vertical_scrollbar
        assert tree.virtual_size.width <= tree.scrollable_content_region.width
        assert not tree.show_horizontal_scrollbar


async def test_the_tree_sizes_itself_without_rendering_every_label(
    demo: DemoFactory, monkeypatch: Any
) -> None:
    """The Tree found its width by rendering every label (2.9 of the 3.1 s a 10x factory's
    Claims view took to show): its labels are cut to its room, which bounds their width. The
    bound is never below a label's real width (scrolling to a line shows it whole)."""
    for n in range(300):
        (demo.claims_dir / f"CAB-{5000 + n}.json").write_text(
            json.dumps({"ticket": f"CAB-{5000 + n}", "title": TITLE, "owner": None})
        )
    rendered = 0
    render_label = ClaimTree.render_label

    def counted(tree: ClaimTree, *args: Any) -> Any:
        nonlocal rendered
        rendered += 1
        return render_label(tree, *args)

    monkeypatch.setattr(ClaimTree, "render_label", counted)
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("2")
        await pilot.pause()
        tree = app.query_one(ClaimTree)
        assert len(tree._tree_lines) > 300
        assert rendered < 200  # the lines on screen (and a few frames of them), not all
        assert tree.virtual_size.width <= tree.size.width
        for line in tree._tree_lines:
            node = line.node
            shown = render_label(tree, node, tree.rich_style, tree.rich_style).cell_len
            assert tree.get_label_width(node) >= shown, node.label


async def test_a_fitted_table_does_not_measure_its_cells(
    demo: DemoFactory, monkeypatch: Any
) -> None:
    """DataTable measured every new cell for its column's width; a table with fits has widths
    of its own (125,000 measures, 3 of the 4.6 s a 10x factory's Sessions view took to show)."""
    import textual.widgets._data_table as data_table

    from factory_tui.ui.widgets.sessions import SessionsView
    from factory_tui.ui.widgets.table import KeyedTable

    measured = 0
    measure = data_table.measure

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal measured
        frame = sys._getframe(1)  # a cell's measure (a header's is not a row's)
        caller = frame.f_locals.get("self")
        cell = frame.f_code.co_name != "add_column"
        if cell and isinstance(caller, KeyedTable) and caller.fits_for(caller.size.width):
            measured += 1
        return measure(*args, **kwargs)

    monkeypatch.setattr(data_table, "measure", counted)
    app = demo_app(demo)
    async with app.run_test(size=(140, 30)) as pilot:
        await app.wait_for_fleet()
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one(SessionsView).table
        assert table.row_count > 5
        assert measured == 0
        header = 1 if table.show_header else 0
        assert table.virtual_size.height == table.row_count + header  # scrolls to the last row
        assert table.virtual_size.width == sum(table.column_widths)


async def test_a_labels_width_bound_follows_the_trees_room_after_a_resize(
    demo: DemoFactory,
) -> None:
    """Each label's width bound (worked out from rooms kept at each resize) is the room its
    depth leaves, or the label's width when less; after the tree is resized too."""
    app = demo_app(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        tree = await claims_tree(app, pilot)
        for size in ((100, 30), (70, 30), (160, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            width = tree.size.width
            assert width and tree._laid_out_width == width
            for line in tree._tree_lines:
                node = line.node
                depth = 0 if node.parent is tree.root else 1
                room = width - tree.styles.scrollbar_size_vertical - depth * tree.guide_depth
                data = node.data
                assert data is not None
                cells = node.label.cell_len if data.width is None else data.width
                assert tree.get_label_width(node) == min(room, 2 + cells), node.label
