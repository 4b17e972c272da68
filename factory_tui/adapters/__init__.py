"""The outside world: files, processes, git, gh, Claude Code transcripts, the Anthropic client."""
