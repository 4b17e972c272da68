"""The engineer's decisions, one function each: lock → re-read → check → write → verify → log.

The same functions serve the keys, the command palette and the CLI. They return what happened
(an :class:`~factory_tui.actions.base.ActionResult`) and neither parse a command line nor print:
that is :mod:`factory_tui.cli`, which this package never imports (``lint-imports`` checks it).
"""
