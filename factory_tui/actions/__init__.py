"""The engineer's decisions, one function each: lock → re-read → check → write → verify → log.

The same functions serve the keys, the command palette and the CLI.
"""
