"""The cockpit's screens: the agent detail and the list of keys."""
