"""``status``, ``snapshot`` and ``doctor``: the fleet as a table or JSON, the cockpit rendered
headless, and where every path came from."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from factory_tui.cli.common import (
    THEME_HELP,
    CliError,
    ProcessEnd,
    exit_fast,
    factory_options,
    load,
    parse_now,
)
from factory_tui.core.safe import dumps_json, json_safe, printable

if TYPE_CHECKING:
    from datetime import datetime

    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.factory_logs import FactoryLogs
    from factory_tui.adapters.jsonfiles import JsonFiles
    from factory_tui.config import Config

__all__ = [
    "add_doctor_parser",
    "add_snapshot_parser",
    "add_status_parser",
    "cmd_doctor",
    "cmd_snapshot",
    "cmd_status",
    "write_json_records",
]


def add_status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="the fleet as a table, or JSON with --json")
    factory_options(status)
    status.add_argument("--json", action="store_true", help="one JSON object on stdout")
    status.add_argument(
        "--now", metavar="ISO", help="fix the clock, for CI and tests (default: now)"
    )
    status.add_argument(
        "--no-cache",
        action="store_true",
        help="read the whole operations.log, neither using nor saving the warm-start cache "
        "(also FACTORY_TUI_FOLD_CACHE=0; FACTORY_TUI_CACHE_DIR moves it)",
    )


def add_doctor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor", help="every resolved path, where it came from, and the tools on PATH"
    )
    factory_options(doctor)
    doctor.add_argument("--json", action="store_true", help="one JSON object on stdout")


def add_snapshot_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    snapshot = sub.add_parser("snapshot", help="render the cockpit headless to .svg or .txt (CI)")
    factory_options(snapshot)
    snapshot.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="FILE.svg or FILE.txt"
    )
    snapshot.add_argument("--size", default="120x40", metavar="WxH", help="terminal size")
    snapshot.add_argument(
        "--view",
        default="agents",
        choices=("agents", "claims", "sessions", "log", "problems", "state", "prs", "cost"),
        help="the view to render",
    )
    snapshot.add_argument("--theme", metavar="NAME", help=THEME_HELP)
    snapshot.add_argument(
        "--now", metavar="ISO", help="fix the clock: same files, same picture (default: now)"
    )
    snapshot.add_argument(
        "--fail-on",
        default="",
        metavar="LIST",
        help="comma list of stale,crashed,problems,ask,budget,missing (no claims folder or "
        "operations.log): exit 1 when any holds (default: none)",
    )


def cmd_status(args: argparse.Namespace) -> int:
    from factory_tui.adapters.memory import gc_paused

    config = load(args)
    now = parse_now(args.now)
    _warn_missing(config, "status")
    # One read, one derive, one write, then exit: the cyclic collector would rescan the records
    # made on the way again and again (they live until the end) and find nothing to free.
    with gc_paused():
        made = _status(args, config, now)
        if ProcessEnd.after_command:
            # The process ends without a teardown: freeing the fold, the claims and the views
            # object by object as this returned took ~50 ms at 10x. Frozen, the collector that
            # gc_paused() turns back on does not walk them all either (~80 ms).
            _held.append(made)
            gc.freeze()
    exit_fast.add("status")  # a million-line fold need not be freed object by object
    return 0


STATUS_LEAD_BYTES = 1 << 20
"""How much later than a child started early this process starts folding (its imports of
the reader and the derivation: ~27 ms on the scale factory), in bytes folded in the same time."""

_held: list[object] = []
"""What ``status`` made, held to the exit when the process ends after it (see above)."""


def _status(args: argparse.Namespace, config: Config, now: datetime) -> tuple[object, ...]:
    """Read, derive and write; returns what it made (the reader and the fleet)."""
    from factory_tui.adapters.factory_logs import FactoryLogs, small_files_cost
    from factory_tui.adapters.foldcache import FoldCache

    fold_cache = None if args.no_cache else FoldCache.from_env()
    # A cold read's child (a long log, no saved fold) starts folding now, while this process
    # imports the rest of the reader and the derivation.
    logs = FactoryLogs(config, fold_cache)
    logs.start_early(lambda _read_bytes: small_files_cost(config), lead_bytes=STATUS_LEAD_BYTES)
    try:
        return _status_read(args, config, now, logs)
    finally:
        logs.close_early()  # none once the read took it; else not left folding for nothing


def _status_read(
    args: argparse.Namespace, config: Config, now: datetime, logs: FactoryLogs
) -> tuple[object, ...]:
    """:func:`_status` with the logs' reader made (and its child started, maybe)."""
    from factory_tui.adapters.factory import FactoryReader
    from factory_tui.adapters.jsonfiles import JsonFiles
    from factory_tui.core.fleet_derive import FleetDeriver

    fold_cache = logs.fold_cache
    json_files = (
        JsonFiles(fold_cache.files_path(config.claims_dir, config.checkpoints_dir))
        if fold_cache is not None
        else None
    )
    reader = FactoryReader(config, fold_cache=fold_cache, json_files=json_files, logs=logs)
    reader.deriver = FleetDeriver(one_shot=True)
    # The answer first: the warm-start cache a first read makes due is for the next run (its
    # save took 4.7 s before the 300-day history's answer). Made however the answer went (a
    # closed pipe, an error after the read: the next run still starts warm), but not when the
    # engineer pressed Ctrl-C (they want out now; a read cut short is never saved anyway).
    reader.logs.hold_saves()
    try:
        _read_once(reader, json_files)
        fleet = reader.fleet(now)
        if args.json:
            write_json_records(fleet.json_items(), sys.stdout)
        else:
            from factory_tui.report import render_status  # rich: not needed for JSON

            render_status(fleet, sys.stdout)
        sys.stdout.flush()
    except KeyboardInterrupt:
        raise
    except BaseException:
        with contextlib.suppress(Exception):  # what went wrong first is what is said
            _release_held_save(reader)
        raise
    _release_held_save(reader)
    return reader, fleet


def _release_held_save(reader: FactoryReader) -> None:
    """The warm-start cache's save the read made due, held back until the answer was out."""
    reader.with_fold(lambda _fold: reader.logs.release_saves())


def _read_once(reader: FactoryReader, json_files: JsonFiles | None) -> None:
    """:meth:`FactoryReader.refresh_all` for one read: once the small files are read, what was
    kept of them is saved and freed (and what a next read of the checkpoints would reuse)."""

    def release() -> None:
        if json_files is not None:
            json_files.save()
            json_files.release()
        reader.checkpoint_folder.forget()

    reader.refresh_all(then=release)


def _warn_missing(config: Config, command: str) -> list[str]:
    """Say on stderr which of the claims folder and operations.log do not exist (an empty fleet
    would look healthy); returns those sentences."""
    from factory_tui.config import missing_inputs  # not via doctor: it imports the HTTP client

    missing = missing_inputs(config)
    for sentence in missing:
        print(f"factory-tui {command}: warning: {printable(sentence)}", file=sys.stderr)
    return missing


def write_json_records(
    payload: Mapping[str, object] | Iterable[tuple[str, object]], out: TextIO
) -> None:
    """One JSON object, each item of its top-level lists on a line of its own: readable, grep- and
    diff-friendly, and written by the C encoder (an indented dump is several times slower).
    Agent text in it keeps its data, with what a terminal would act on escaped (:func:`json_safe`:
    one regex search per record when there is nothing to escape).

    A list may come as an iterator (:meth:`Fleet.json_items`): each record is encoded and written
    as it is made, so neither the records' dicts nor the document are ever held whole."""
    dumps = _record_encoder()
    items = list(payload.items() if isinstance(payload, Mapping) else payload)
    write = out.write
    write("{\n")
    for n, (key, value) in enumerate(items):
        write(f" {json_safe(dumps(key))}: ")
        if isinstance(value, (list, Iterator)):
            _write_list(iter(value), dumps, write)
        else:
            write(json_safe(dumps(value)))
        write(",\n" if n < len(items) - 1 else "\n")
    write("}\n")


def _write_list(
    records: Iterator[object], dumps: Callable[[object], str], write: Callable[[str], object]
) -> None:
    """``[]``, or each record on a line of its own (the same text as the whole list joined).
    Written about :data:`_CHUNK_CHARS` at a time: one write per record is one system call per
    record when stdout is unbuffered (``python -u``, ``PYTHONUNBUFFERED``), tens of thousands
    at 10x."""
    first = next(records, _NONE)
    if first is _NONE:
        write("[]")
        return
    parts = ["[\n  ", json_safe(dumps(first))]
    size = 0
    for record in records:
        text = json_safe(dumps(record))
        parts += (",\n  ", text)
        size += len(text)
        if size >= _CHUNK_CHARS:
            write("".join(parts))
            parts.clear()
            size = 0
    parts.append("\n ]")
    write("".join(parts))


_CHUNK_CHARS = 1 << 16


def _record_encoder() -> Callable[[object], str]:
    """``json.JSONEncoder(ensure_ascii=False).encode`` without its cost per call: the C encoder
    made once, not once per record (no check for cycles: records are trees of plain values)."""
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

    plain = json.JSONEncoder(ensure_ascii=False)
    if c_make_encoder is None:  # a Python without the C accelerator
        return plain.encode
    encode = c_make_encoder(
        None, plain.default, encode_basestring, None, ": ", ", ", False, False, True
    )
    return lambda value: "".join(encode(value, 0))


_NONE = object()
"""The end of a record iterator."""


def cmd_doctor(args: argparse.Namespace) -> int:
    from factory_tui.doctor import doctor_json, doctor_report, render_doctor

    config = load(args)
    lines = doctor_report(config)
    if args.json:
        sys.stdout.write(dumps_json(doctor_json(lines)) + "\n")
    else:
        sys.stdout.write(render_doctor(lines))
        if not render_doctor(lines).endswith("\n"):
            sys.stdout.write("\n")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    from factory_tui.core.failon import FAIL_CONDITIONS, fail_reasons
    from factory_tui.ui.snapshot import SnapshotError, parse_size, render_snapshot

    try:
        size = parse_size(args.size)
    except ValueError as error:
        raise CliError(f"--size {error}") from error
    conditions = [c.strip().lower() for c in args.fail_on.split(",") if c.strip()]
    known = (*FAIL_CONDITIONS, "ask", "budget", "missing")
    for condition in conditions:
        if condition not in known:
            raise CliError(f"--fail-on {condition!r}: expected a comma list of {', '.join(known)}")
    config = load(args)
    now = parse_now(args.now)
    if "missing" not in conditions:  # with it, the same sentences are the failure's reasons
        _warn_missing(config, "snapshot")
    try:
        fleet = render_snapshot(
            config,
            output=Path(args.output),
            size=size,
            view=args.view,
            theme=args.theme,
            now=now,
        )
    except SnapshotError as error:
        raise CliError(str(error)) from error
    reasons = fail_reasons(fleet, [c for c in conditions if c in FAIL_CONDITIONS])
    if "missing" in conditions:
        from factory_tui.config import missing_inputs  # not via doctor: it imports the HTTP client

        reasons.extend(missing_inputs(config))
    if "ask" in conditions:
        from factory_tui.actions.prs import ask_waiting

        waiting = ask_waiting(config, fleet)
        if waiting:
            reasons.append(f"{waiting} Ask PR(s) waiting for the engineer")
    if "budget" in conditions:  # issue 6: a budget at 100 % today
        from factory_tui.actions.cost import budget_reasons
        from factory_tui.core.pricing import PriceTableError

        try:
            reasons.extend(budget_reasons(config, now))
        except PriceTableError as error:
            raise CliError(str(error)) from error
    for reason in reasons:
        print(f"factory-tui snapshot: --fail-on holds: {printable(reason)}", file=sys.stderr)
    return 1 if reasons else 0
