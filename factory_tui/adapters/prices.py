"""The default price table: genai-prices' Anthropic prices by exact model name, with what
``factory_tui/data/prices.toml`` adds where the package lacks it.

Why an adapter: importing genai-prices loads its data module and, with it, pydantic and an HTTP
client (the package can fetch newer prices; we never ask it to), and prices.toml is a file read.
Core stays pure: it gets plain :class:`ModelPrice` values and layers them (``layered``). The
default table is made by a forked child (:func:`price_table_forked`): what the package loads
then never stays in this process.

Exact names only. genai-prices finds a model by its ``match`` rules, and most of them are
prefixes: it prices ``claude-3-5-sonnet-foo`` as Claude 3.5 Sonnet and ``claude-opus-4-6-x`` as
Opus 4.6. We never call its matcher. A package model is listed here under the names it gives
exactly: its ``id`` and the values of its ``equals`` rules, and an id ending in ``-latest`` also
under the id without it (``claude-3-7-sonnet-latest`` names Claude 3.7 Sonnet, as does the dated
``claude-3-7-sonnet-20250219`` that our lookup reduces to ``claude-3-7-sonnet``). A transcript's
model id then goes through the same lookup as before (``PriceTable.lookup``: exactly, then
without a snapshot date, Bedrock suffix or provider prefix). A name two package models claim at
different prices is left out (unpriced), never guessed.

Prices in force when the table is built are used for every transcript, also older ones (as the
hand-kept table did): the package knows price changes by date (Sonnet 4.6 and Opus 4.6 had a
200k-token long-context tier until 2026-03-13), which we do not apply per response. Batch and
other per-request variants are not modelled, except fast mode (``speed = "fast"``), taken when
it is a single multiple of every price.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import metadata, resources
from types import MappingProxyType
from typing import Any

from factory_tui.core.pricing import (
    ModelPrice,
    PriceTable,
    layered,
    parse_price_extras,
    parse_price_table,
)

__all__ = [
    "PRICES_TOML",
    "default_price_table",
    "package_prices",
    "package_version",
    "price_table_at",
    "price_table_forked",
]

PRICES_TOML = "factory_tui/data/prices.toml"
_PROVIDER = "anthropic"
# Our name for each kind of token ← genai-prices' price key.
_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_write_5m": "cache_write_mtok",
    "cache_write_1h": "cache_write_1h_mtok",
    "cache_read": "cache_read_mtok",
}


def _exact_names(match: Any) -> Iterator[str]:
    """The values of the ``equals`` rules in a match logic (under any ``or``); nothing from a
    prefix, suffix, substring or regex rule, nor from under an ``and``."""
    equals = getattr(match, "equals", None)
    if isinstance(equals, str):
        yield equals.lower()
    for clause in getattr(match, "or_", None) or ():
        yield from _exact_names(clause)


def _names(model: Any) -> list[str]:
    """The exact names a package model is listed under (see the module docstring)."""
    names = [str(model.id).lower(), *_exact_names(model.match)]
    if names[0].endswith("-latest"):
        names.append(names[0].removesuffix("-latest"))
    return list(dict.fromkeys(names))


def _money(value: Any) -> float | None:
    return float(value) if isinstance(value, Decimal) else None


def _convert(price: Any) -> ModelPrice | None:
    """genai-prices' prices as ours, or None when ours cannot say them exactly: no input or
    output price, or tiers other than one prompt-length threshold shared by every kind."""
    base: dict[str, float | None] = {}
    tier: dict[str, float | None] = {}
    starts: set[int] = set()
    for ours, theirs in _KEYS.items():
        value: Any = getattr(price, theirs, None)
        tiers = getattr(value, "tiers", None)
        if tiers is None:
            base[ours] = tier[ours] = _money(value)
            continue
        if len(tiers) != 1:
            return None
        starts.add(int(tiers[0].start))
        base[ours], tier[ours] = _money(value.base), _money(tiers[0].price)
    if len(starts) > 1:
        return None
    long = None
    if starts:
        long_price = _model_price(tier, None)
        if long_price is None:
            return None
        long = (starts.pop(), long_price)
    return _model_price(base, long)


def _model_price(
    values: Mapping[str, float | None], long: tuple[int, ModelPrice] | None
) -> ModelPrice | None:
    input, output = values["input"], values["output"]
    if input is None or output is None:
        return None
    return ModelPrice.from_io(
        input,
        output,
        cache_write_5m=values["cache_write_5m"],
        cache_write_1h=values["cache_write_1h"],
        cache_read=values["cache_read"],
        long=long,
    )


def _multiple_of(fast: ModelPrice, standard: ModelPrice) -> float | None:
    """The one multiple of every standard price that makes the fast prices, or None."""
    if standard.input <= 0:
        return None
    times = fast.input / standard.input
    scaled = standard.scaled(times)
    if times < 1 or not _same(scaled, fast):
        return None
    return round(times, 9)


def _same(a: ModelPrice, b: ModelPrice) -> bool:
    close = all(
        math.isclose(getattr(a, key), getattr(b, key), rel_tol=1e-9, abs_tol=1e-12) for key in _KEYS
    )
    if a.long is None or b.long is None:
        return close and a.long is b.long
    return close and a.long[0] == b.long[0] and _same(a.long[1], b.long[1])


def _model_prices(model: Any, at: datetime) -> ModelPrice | None:
    standard = _convert(model.get_prices(at))
    if standard is None:
        return None
    fast = _convert(model.get_prices(at, {"speed": "fast"}))
    if fast is None or _same(fast, standard):
        return standard
    times = _multiple_of(fast, standard)
    return standard if times is None else replace(standard, fast=times)


def package_prices(at: datetime) -> dict[str, ModelPrice]:
    """genai-prices' Anthropic prices in force at ``at``, by exact name (lower case)."""
    from genai_prices.data_snapshot import get_snapshot  # slow import: only when asked

    providers = [p for p in get_snapshot().providers if p.id == _PROVIDER]
    found: dict[str, ModelPrice] = {}
    clashing: set[str] = set()
    for provider in providers:
        for model in provider.models:
            price = _model_prices(model, at)
            if price is None:
                continue
            for name in _names(model):
                if name in found and found[name] != price:
                    clashing.add(name)
                found.setdefault(name, price)
    for name in clashing:
        del found[name]
    return found


def package_version() -> str:
    try:
        return metadata.version("genai-prices")
    except metadata.PackageNotFoundError:  # pragma: no cover - a broken install
        return "?"


def price_table_at(at: datetime) -> PriceTable:
    """genai-prices' prices at ``at``, with prices.toml's models and extras where it has none."""
    text = resources.files("factory_tui").joinpath("data", "prices.toml").read_text("utf-8")
    shipped = parse_price_table(text, PRICES_TOML)
    extras = parse_price_extras(text, PRICES_TOML)
    checked = f" of {shipped.as_of}" if shipped.as_of else ""
    return layered(
        package_prices(at),
        shipped.models,
        extras,
        source=f"genai-prices {package_version()} + {PRICES_TOML}{checked}",
    )


PRICES_SECONDS = 20
"""A forked child making the table that has not answered by then is ended, and the table made
here. Its work takes ~0.3 s; one stuck (on a lock another thread of the cockpit held when it
forked, however unlikely) would hold the spend back until then."""


@cache
def default_price_table() -> PriceTable:
    """Today's prices (read once): the table config overrides are laid over. Made by a forked
    child where one can be (see :func:`price_table_forked`)."""
    at = datetime.now(UTC)
    return price_table_forked(at) or price_table_at(at)


def price_table_forked(at: datetime) -> PriceTable | None:
    """:func:`price_table_at` made by a forked child, so that this process never imports
    genai-prices (its data module, pydantic and an HTTP client stayed in memory for good: the
    cockpit on the scale factory was 106 MB fully loaded cold, 88 MB without them, for a table
    of a few dozen prices); None when no child could make it (not Linux, the fork failed, the
    child failed: the caller makes it here, and says why if the table cannot be made at all)."""
    from factory_tui.adapters.forked import forked_value

    def parts() -> tuple[dict[str, ModelPrice], str | None, str, tuple[str, ...]]:
        table = price_table_at(at)  # (its models are a read-only view: not pickled)
        return dict(table.models), table.as_of, table.source, table.overridden

    made = forked_value(parts, seconds=PRICES_SECONDS)
    if made is None:
        return None
    models, as_of, source, overridden = made
    return PriceTable(MappingProxyType(models), as_of=as_of, source=source, overridden=overridden)
