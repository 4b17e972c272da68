"""Model prices: the table, layered from its sources, and the cost of one usage record.

A table is built by an adapter (``factory_tui.adapters.prices``): the maintained genai-prices
package's prices by exact model name, what ``factory_tui/data/prices.toml`` adds where the package
lacks it (:func:`layered`), then ``[cost.prices."model"]`` config overrides
(:meth:`PriceTable.with_overrides`). This module only parses and combines: it reads no file.

Prices are US dollars per million tokens. A model's prompt-cache prices derive from its input
price unless given (FORMATS.md: 5-minute cache write = 1.25x input, 1-hour = 2x, cache read =
0.1x). A model id is looked up exactly, then with only its snapshot date, Bedrock version suffix
or provider prefix removed (``claude-sonnet-4-5-20250929`` → ``claude-sonnet-4-5``); those are
names of the same model. Nothing is matched by similarity: ``claude-opus-4-5`` must never be
priced as ``claude-opus-4`` (3x the price). A model not found is the caller's to flag.

Fast mode (a response whose ``usage.speed`` is ``"fast"``) is billed at a per-model multiple of
every price (``fast``); a model without one has no fast price, and such a response is unpriced.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

__all__ = [
    "CACHE_READ_FACTOR",
    "CACHE_WRITE_1H_FACTOR",
    "CACHE_WRITE_5M_FACTOR",
    "ModelPrice",
    "PriceExtras",
    "PriceTable",
    "PriceTableError",
    "Usage",
    "cost_usd",
    "layered",
    "model_name_candidates",
    "parse_price_extras",
    "parse_price_table",
]

CACHE_WRITE_5M_FACTOR = 1.25
CACHE_WRITE_1H_FACTOR = 2.0
CACHE_READ_FACTOR = 0.1
_PER_TOKEN = 1e-6


class PriceTableError(ValueError):
    """A price table or override the user must fix; the message says where, what and how."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one model response (or a sum of them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total(self) -> int:
        """Every token, whatever its price: the measure for keeping a streamed response's line."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens of each kind.

    ``long``: for models priced by prompt length, the prompt size (input + cache writes + cache
    reads, in tokens) above which a response is billed at the ``long`` prices, on every token
    of it (output included). ``fast``: the multiple of every price (long ones too) a fast-mode
    response is billed at; None when the model has no published fast price.
    """

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    long: tuple[int, ModelPrice] | None = None
    fast: float | None = None

    @classmethod
    def from_io(
        cls,
        input: float,
        output: float,
        *,
        cache_write_5m: float | None = None,
        cache_write_1h: float | None = None,
        cache_read: float | None = None,
        long: tuple[int, ModelPrice] | None = None,
        fast: float | None = None,
    ) -> ModelPrice:
        """Input and output prices; cache prices derived from input unless given."""
        return cls(
            long=long,
            fast=fast,
            input=input,
            output=output,
            cache_write_5m=input * CACHE_WRITE_5M_FACTOR
            if cache_write_5m is None
            else cache_write_5m,
            cache_write_1h=input * CACHE_WRITE_1H_FACTOR
            if cache_write_1h is None
            else cache_write_1h,
            cache_read=input * CACHE_READ_FACTOR if cache_read is None else cache_read,
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "input": self.input,
            "output": self.output,
            "cache_write_5m": self.cache_write_5m,
            "cache_write_1h": self.cache_write_1h,
            "cache_read": self.cache_read,
        }
        if self.long is not None:
            out["long"] = {"above": self.long[0], **self.long[1].to_json()}
        if self.fast is not None:
            out["fast"] = self.fast
        return out

    def fast_mode(self) -> ModelPrice | None:
        """The prices of a fast-mode response (every price times ``fast``), or None when the
        model has no fast price."""
        return None if self.fast is None else self.scaled(self.fast)

    def scaled(self, times: float) -> ModelPrice:
        """Every price times ``times`` (long ones too; no fast price)."""
        long = self.long
        return ModelPrice(
            input=self.input * times,
            output=self.output * times,
            cache_write_5m=self.cache_write_5m * times,
            cache_write_1h=self.cache_write_1h * times,
            cache_read=self.cache_read * times,
            long=(long[0], long[1].scaled(times)) if long is not None else None,
        )


@dataclass(frozen=True, slots=True)
class PriceExtras:
    """The parts of a model's price a source may lack: its long-context tier, its fast-mode
    multiple. ``factory_tui/data/prices.toml`` keeps these where genai-prices has none."""

    long: tuple[int, ModelPrice] | None = None
    fast: float | None = None


def cost_usd(usage: Usage, price: ModelPrice) -> float:
    """What ``usage`` (one response) costs at ``price``, in US dollars."""
    if price.long is not None:
        prompt = usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens
        if prompt > price.long[0]:
            price = price.long[1]
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_5m_tokens * price.cache_write_5m
        + usage.cache_write_1h_tokens * price.cache_write_1h
        + usage.cache_read_tokens * price.cache_read
    ) * _PER_TOKEN


_PROVIDER_PREFIX = re.compile(r"^(?:[a-z]{2,8}\.)?anthropic[./]")
_SUFFIXES = (
    re.compile(r"-v\d+(?::\d+)?$"),  # Bedrock: claude-sonnet-4-5-20250929-v1:0
    re.compile(r"[-@]\d{8}$"),  # snapshot date: -20250929, Vertex @20250929
    re.compile(r"-latest$"),
)


def model_name_candidates(model: str) -> list[str]:
    """The names a model id may be listed under, most specific first."""
    name = model.strip()
    out = [name]
    bare = _PROVIDER_PREFIX.sub("", name.lower())
    if bare not in out:
        out.append(bare)
    for pattern in _SUFFIXES:
        stripped = pattern.sub("", bare)
        if stripped != bare:
            bare = stripped
            out.append(bare)
    return out


@dataclass(frozen=True)
class PriceTable:
    """Prices by model name; ``as_of`` and ``source`` say where the figures come from."""

    models: Mapping[str, ModelPrice]
    as_of: str | None = None
    source: str = ""
    overridden: tuple[str, ...] = ()
    _cache: dict[str, ModelPrice | None] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def lookup(self, model: str) -> ModelPrice | None:
        """The model's price, or None when the table does not list it under any of its names."""
        try:
            return self._cache[model]
        except KeyError:
            pass
        found: ModelPrice | None = None
        for name in model_name_candidates(model):
            found = self.models.get(name)
            if found is not None:
                break
        self._cache[model] = found
        return found

    def with_overrides(self, overrides: object, where: str) -> PriceTable:
        """This table with ``[cost.prices."model"]`` tables from config laid over it.

        ``where`` names the config source for error messages. An override may give only
        ``input`` and ``output``; cache prices are then derived from its ``input``.
        """
        if overrides is None:
            return self
        if not isinstance(overrides, Mapping):
            raise PriceTableError(
                f"{where}: [cost.prices] must be a table of models "
                f'([cost.prices."claude-x"] input = 3.0, output = 15.0), got {overrides!r}'
            )
        models = dict(self.models)
        names: list[str] = []
        for name, raw in overrides.items():
            models[str(name)] = _parse_model(raw, f'{where} [cost.prices."{name}"]')
            names.append(str(name))
        return PriceTable(
            MappingProxyType(models),
            as_of=self.as_of,
            source=self.source,
            overridden=(*self.overridden, *names),
        )


_PRICE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_MODEL_KEYS = (*_PRICE_KEYS, "long", "fast")


def _money(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceTableError(
            f"{where}: {key} must be a number of US dollars per million tokens, got {value!r}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise PriceTableError(f"{where}: {key} must be a finite number ≥ 0, got {value!r}")
    return number


def _multiple(value: object, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 1
    ):
        raise PriceTableError(
            f"{where}: fast must be the multiple of every price a fast-mode response costs, "
            f"a number ≥ 1 (6 for six times), got {value!r}"
        )
    return float(value)


def _parse_long(raw: object, where: str) -> tuple[int, ModelPrice]:
    where = f"{where} long"
    if not isinstance(raw, Mapping) or "above" not in raw:
        raise PriceTableError(
            f"{where}: expected {{above = <prompt tokens>, input = ..., output = ...}}, got {raw!r}"
        )
    above = raw["above"]
    if isinstance(above, bool) or not isinstance(above, int) or above < 1:
        raise PriceTableError(f"{where}: above must be a number of tokens ≥ 1, got {above!r}")
    rest = {key: value for key, value in raw.items() if key != "above"}
    return above, _parse_model(rest, where, allow_long=False)


def _parse_model(raw: object, where: str, *, allow_long: bool = True) -> ModelPrice:
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{where}: expected a table with input and output, got {raw!r}")
    keys = _MODEL_KEYS if allow_long else _PRICE_KEYS
    unknown = sorted(str(key) for key in raw if key not in keys)
    if unknown:
        raise PriceTableError(
            f"{where}: unknown key {', '.join(unknown)}; known: {', '.join(keys)}"
        )
    missing = [key for key in ("input", "output") if key not in raw]
    if missing:
        raise PriceTableError(
            f"{where}: {' and '.join(missing)} missing; give both input and output "
            "(US dollars per million tokens)"
        )
    values = {key: _money(raw[key], where, key) for key in _PRICE_KEYS if key in raw}
    fast = _multiple(raw["fast"], where) if "fast" in raw else None
    return ModelPrice.from_io(
        values["input"],
        values["output"],
        cache_write_5m=values.get("cache_write_5m"),
        cache_write_1h=values.get("cache_write_1h"),
        cache_read=values.get("cache_read"),
        long=_parse_long(raw["long"], where) if "long" in raw else None,
        fast=fast,
    )


def _load_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PriceTableError(f"{source}: not valid TOML: {error}") from None


def parse_price_table(text: str, source: str) -> PriceTable:
    """A price table from TOML text: ``as_of``, ``source`` and ``[models."name"]`` tables."""
    data = _load_toml(text, source)
    models_raw = data.get("models")
    if not isinstance(models_raw, dict) or not models_raw:
        raise PriceTableError(f'{source}: no [models."name"] tables')
    models = {
        str(name): _parse_model(raw, f'{source} [models."{name}"]')
        for name, raw in models_raw.items()
    }
    as_of = data.get("as_of")
    origin = data.get("source")
    return PriceTable(
        MappingProxyType(models),
        as_of=str(as_of) if as_of is not None else None,
        source=str(origin) if origin is not None else source,
    )


_EXTRA_KEYS = ("long", "fast")


def parse_price_extras(text: str, source: str) -> dict[str, PriceExtras]:
    """The ``[extras."name"]`` tables of a price file: only ``long`` and/or ``fast``."""
    data = _load_toml(text, source)
    raw_extras = data.get("extras", {})
    if not isinstance(raw_extras, dict):
        raise PriceTableError(
            f'{source}: extras must be [extras."name"] tables, got {raw_extras!r}'
        )
    out: dict[str, PriceExtras] = {}
    for name, raw in raw_extras.items():
        where = f'{source} [extras."{name}"]'
        if not isinstance(raw, Mapping) or not raw:
            raise PriceTableError(f"{where}: expected a table with long and/or fast, got {raw!r}")
        unknown = sorted(str(key) for key in raw if key not in _EXTRA_KEYS)
        if unknown:
            raise PriceTableError(
                f"{where}: unknown key {', '.join(unknown)}; an extra adds only "
                f'{" and ".join(_EXTRA_KEYS)} (prices go in [models."name"])'
            )
        out[str(name)] = PriceExtras(
            long=_parse_long(raw["long"], where) if "long" in raw else None,
            fast=_multiple(raw["fast"], where) if "fast" in raw else None,
        )
    return out


def layered(
    base: Mapping[str, ModelPrice],
    models: Mapping[str, ModelPrice],
    extras: Mapping[str, PriceExtras],
    *,
    source: str,
    as_of: str | None = None,
) -> PriceTable:
    """``base``'s prices, with what a second source adds where ``base`` lacks it.

    ``models``: models ``base`` does not list (one it lists keeps ``base``'s price). ``extras``:
    a long-context tier or fast multiple for a model listed by name in either, used only where
    that model has none (the maintained source wins; an extra for a model neither lists prices
    nothing). Names are exact: no extra or model reaches another name.
    """
    merged = dict(base)
    for name, price in models.items():
        merged.setdefault(name, price)
    for name, extra in extras.items():
        found = merged.get(name)
        if found is None:
            continue
        price = found
        if price.long is None and extra.long is not None:
            price = replace(price, long=extra.long)
        if price.fast is None and extra.fast is not None:
            price = replace(price, fast=extra.fast)
        merged[name] = price
    return PriceTable(MappingProxyType(merged), as_of=as_of, source=source)
