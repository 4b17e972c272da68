"""factory-tui: a cockpit for one engineer supervising a fleet of AI coding agents."""

__version__ = "0.1.0"
