"""The Council's calls to the Messages API, through the anthropic SDK, each persona in parallel.

Structured output is a forced tool (``tool_choice={"type": "tool", "name": "submit_verdict"}``)
whose JSON schema asks for an integer score, reasons and adjustments; the answer is validated by
:func:`factory_tui.core.council.validate_answer`.

Retries are owned here, in one bounded loop per persona, so that each persona's report can say
what happened: the SDK's own retries are off (``max_retries=0``) and its ``timeout`` is the
configured per-request timeout. A 429 waits for ``retry-after`` (or ``retry-after-ms``) when the
API sends one and it is at most ``max_retry_wait_s``; a 5xx (529 overloaded included), 408, 409, a
timeout or a connection error waits ``retry_base_s * 2**n`` (at most 8 s); at most
``max_retries`` retries. A persona whose attempts all fail is reported with the last reason;
the other personas' answers stand. A malformed answer is not retried (it is paid for, and a
model that answered badly once tends to again).

``ANTHROPIC_BASE_URL`` (from the given environment) is passed on as the SDK's ``base_url``;
``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``, a bearer token) is required.

The waits between attempts and the clocks (the sitting's duration, an HTTP-date retry-after) come
from a :class:`Timing`, the real ones by default; a test passes fakes so that no retry waits.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import anthropic
from anthropic.types import ToolParam

from factory_tui.core.council import (
    TOOL_NAME,
    PersonaFailure,
    PersonaVerdict,
    Proposal,
    system_prompt,
    user_message,
    validate_answer,
    verdict_tool,
)
from factory_tui.core.council_settings import CouncilSettings, Persona
from factory_tui.core.pricing import PriceTable, Usage, cost_usd

__all__ = [
    "CouncilCall",
    "NoApiKey",
    "PersonaCall",
    "Timing",
    "api_credentials",
    "ask_council",
    "ask_council_async",
]

MAX_BACKOFF_S = 8.0
_RETRY_STATUS = {408, 409, 429}


@dataclass(frozen=True)
class Timing:
    """How the Council's calls wait and tell the time."""

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """Waits between two attempts of a persona."""
    monotonic: Callable[[], float] = time.monotonic
    """Measures the sitting's duration."""
    wall: Callable[[], float] = time.time
    """Epoch seconds, to turn a retry-after HTTP date into seconds to wait."""


REAL_TIMING = Timing()


class NoApiKey(Exception):
    """No credentials for the Anthropic API; ``str()`` names ANTHROPIC_API_KEY."""


@dataclass(frozen=True)
class PersonaCall:
    persona: str
    outcome: PersonaVerdict | PersonaFailure
    usage: Usage
    attempts: int
    model: str | None
    """The model that answered, as the API named it (None when nothing answered)."""


@dataclass(frozen=True)
class CouncilCall:
    calls: tuple[PersonaCall, ...]
    model: str
    usage: Usage
    cost_usd: float | None
    """None when the model has no price in the table."""
    duration_ms: int


def api_credentials(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(api_key, auth_token)`` from the environment, one of them set; raises NoApiKey when
    neither ANTHROPIC_API_KEY nor ANTHROPIC_AUTH_TOKEN is."""
    key = env.get("ANTHROPIC_API_KEY", "").strip()
    if key:
        return key, None
    token = env.get("ANTHROPIC_AUTH_TOKEN", "").strip()
    if token:
        return None, token
    raise NoApiKey(
        "no Anthropic API key: set ANTHROPIC_API_KEY (from console.anthropic.com) in the "
        "environment; ANTHROPIC_BASE_URL, if set, is used as the API's address"
    )


def _retry_after(
    headers: Mapping[str, str] | None, wall: Callable[[], float] = time.time
) -> float | None:
    """Seconds the API asks us to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or
    an HTTP date, measured from ``wall()``); None when it does not say."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - wall())


def _usage(response: anthropic.types.Message) -> Usage:
    u = response.usage
    return Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_write_5m_tokens=u.cache_creation_input_tokens or 0,
        cache_read_tokens=u.cache_read_input_tokens or 0,
    )


def _answer(persona: str, response: anthropic.types.Message) -> PersonaVerdict | PersonaFailure:
    for block in response.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            return validate_answer(persona, block.input)
    return PersonaFailure(
        persona,
        f"malformed answer: no {TOOL_NAME} tool call (stop_reason={response.stop_reason})",
    )


def _status_reason(error: anthropic.APIStatusError) -> str:
    message = ""
    body = error.body
    if isinstance(body, dict):
        detail = body.get("error")
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            message = detail["message"]
    if not message:
        message = error.message
    names = {
        401: "the API key was refused",
        403: "permission denied",
        404: "not found (is the model name right?)",
        429: "rate limited",
        529: "the API is overloaded",
    }
    what = names.get(error.status_code, "server error" if error.status_code >= 500 else "refused")
    return f"HTTP {error.status_code}, {what}: {message[:200]}"


async def _ask(
    client: anthropic.AsyncAnthropic,
    persona: Persona,
    proposal: Proposal,
    settings: CouncilSettings,
    timing: Timing,
) -> PersonaCall:
    attempts = 0
    usage = Usage()
    reason = ""
    text = user_message(proposal, settings.max_proposal_chars)
    tool = cast(ToolParam, verdict_tool())
    while True:
        attempts += 1
        wait: float | None = None
        try:
            response = await client.messages.create(
                model=settings.model,
                max_tokens=settings.max_tokens,
                system=system_prompt(persona),
                messages=[{"role": "user", "content": text}],
                tools=[tool],
                tool_choice={"type": "tool", "name": TOOL_NAME},
            )
        except anthropic.APITimeoutError:
            reason = f"timed out after {settings.timeout_s:g} s"
        except anthropic.APIConnectionError as error:
            reason = f"cannot reach the API at {client.base_url}: {error.message}"
        except anthropic.APIStatusError as error:
            reason = _status_reason(error)
            status = error.status_code
            if status not in _RETRY_STATUS and status < 500:
                return PersonaCall(
                    persona.name, PersonaFailure(persona.name, reason), usage, attempts, None
                )
            wait = _retry_after(error.response.headers, timing.wall)
            if wait is not None and wait > settings.max_retry_wait_s:
                failure = PersonaFailure(
                    persona.name,
                    f"{reason}; the API asks to wait {wait:.0f} s, more than max_retry_wait_s "
                    f"({settings.max_retry_wait_s:g} s): try again later",
                )
                return PersonaCall(persona.name, failure, usage, attempts, None)
        else:
            usage = usage + _usage(response)
            return PersonaCall(
                persona.name, _answer(persona.name, response), usage, attempts, response.model
            )
        if attempts > settings.max_retries:
            tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
            failure = PersonaFailure(persona.name, f"{reason}; gave up after {tries}")
            return PersonaCall(persona.name, failure, usage, attempts, None)
        if wait is None:
            wait = min(settings.retry_base_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
        await timing.sleep(wait)


async def ask_council_async(
    proposal: Proposal,
    settings: CouncilSettings,
    prices: PriceTable,
    *,
    env: Mapping[str, str] | None = None,
    timing: Timing = REAL_TIMING,
) -> CouncilCall:
    """Ask every persona of the roster, in parallel; never raises for a persona's failure.

    Raises NoApiKey when the environment has no credentials."""
    environ = os.environ if env is None else env
    api_key, auth_token = api_credentials(environ)
    base_url = environ.get("ANTHROPIC_BASE_URL", "").strip() or None
    started = timing.monotonic()
    async with anthropic.AsyncAnthropic(
        api_key=api_key,
        auth_token=auth_token,
        base_url=base_url,
        max_retries=0,
        timeout=settings.timeout_s,
    ) as client:
        calls: Sequence[PersonaCall] = await asyncio.gather(
            *(_ask(client, persona, proposal, settings, timing) for persona in settings.roster)
        )
    duration_ms = int((timing.monotonic() - started) * 1000)
    usage = Usage()
    for call in calls:
        usage = usage + call.usage
    price = prices.lookup(settings.model)
    return CouncilCall(
        calls=tuple(calls),
        model=settings.model,
        usage=usage,
        cost_usd=cost_usd(usage, price) if price is not None else None,
        duration_ms=duration_ms,
    )


def ask_council(
    proposal: Proposal,
    settings: CouncilSettings,
    prices: PriceTable,
    *,
    env: Mapping[str, str] | None = None,
    timing: Timing = REAL_TIMING,
) -> CouncilCall:
    """:func:`ask_council_async` from synchronous code (the CLI, a thread worker): it runs its
    own event loop, so do not call it from a running one."""
    return asyncio.run(ask_council_async(proposal, settings, prices, env=env, timing=timing))
