"""The pure domain: parse, validate and derive.

Nothing in this package imports Textual, runs a subprocess or reads the clock: time and process
facts come in as arguments. ``tests/test_import_hygiene.py`` holds it to that.
"""
