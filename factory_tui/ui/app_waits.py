"""What tests, snapshots and benchmarks wait on in the cockpit: the first load, the PR queue,
the spend (each bounded). :class:`Waits` is a base of :class:`~factory_tui.ui.app.FactoryApp`,
whose handlers set what these read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factory_tui.core.fleet import Fleet
    from factory_tui.core.prs_queue import Queue
    from factory_tui.ui.feeds.base import Updates
    from factory_tui.ui.feeds.prs import PrsOptions, QueueLoader
    from factory_tui.ui.widgets.spend import CostSnapshot

__all__ = ["Waits"]


class Waits:
    """The waits; the app sets the state they read."""

    fleet: Fleet
    loaded: bool
    queue: Queue | None
    prs_options: PrsOptions
    prs_loader: QueueLoader
    cost: CostSnapshot | None
    cost_error: str | None
    fleet_updates: Updates
    prs_updates: Updates
    cost_updates: Updates
    _started: asyncio.Event
    input_released: asyncio.Event

    async def wait_for_fleet(
        self, predicate: Callable[[Fleet], bool] | None = None, *, timeout: float = 10.0
    ) -> Fleet:
        """Wait (bounded) until a fleet satisfying ``predicate`` (default: the first complete
        load) has been shown. For tests and snapshots."""
        check = predicate or (lambda _fleet: self.loaded)
        await asyncio.wait_for(self._started.wait(), timeout)  # the fleet exists from then on
        # Keys pressed from here on are handled, not held for later (typed-ahead input first).
        await asyncio.wait_for(self.input_released.wait(), timeout)
        await self.fleet_updates.wait_until(lambda: check(self.fleet), timeout=timeout)
        return self.fleet

    async def wait_for_prs(
        self, predicate: Callable[[Queue], bool] | None = None, *, timeout: float = 10.0
    ) -> Queue:
        """Wait (bounded) until a loaded queue satisfies ``predicate`` (default: any queue) and
        no load is running or waiting. For tests and snapshots."""
        await asyncio.wait_for(self._started.wait(), timeout)  # the options are set from then on
        if not self.prs_options.enabled:
            raise RuntimeError("the PR queue is not loaded in this cockpit (PrsOptions.enabled)")
        check = predicate or (lambda _queue: True)

        def ready() -> bool:
            return (
                self.queue is not None
                and not self.prs_loader.running
                and not self.prs_loader.pending
                and check(self.queue)
            )

        await self.prs_updates.wait_until(ready, timeout=timeout)
        assert self.queue is not None
        return self.queue

    async def wait_for_cost(
        self,
        predicate: Callable[[CostSnapshot | None], bool] | None = None,
        *,
        timeout: float = 10.0,
    ) -> CostSnapshot | None:
        """Wait (bounded) until the cost feed brought a snapshot satisfying ``predicate``
        (default: the first one attributed with the fleet's spans, or a failure). For tests and
        snapshots."""
        check = predicate or (
            lambda snapshot: (
                (snapshot is not None and snapshot.attributed) or self.cost_error is not None
            )
        )
        await self.cost_updates.wait_until(lambda: check(self.cost), timeout=timeout)
        return self.cost
