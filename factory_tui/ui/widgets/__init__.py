"""Reusable cockpit widgets. Each carries its DEFAULT_CSS, styled with theme variables only."""
