"""The engineer's action flows, one coroutine each (issue 14).

Each flow reads top to bottom: plan on a thread → ``push_screen_wait`` a confirmation → act on
a thread → report. It runs as one worker (group ``flows``); an
unexpected error in it reaches the app's one worker-error handler.
"""
