"""The cockpit's background feeds, one room each: the fleet (the factory's files), the PR queue
(gh and git) and the spend (the transcripts), all on :class:`~factory_tui.ui.feeds.base.Drain`."""
