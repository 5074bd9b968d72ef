"""The engine: everything that runs without a screen.

Nothing under this package imports Textual (checked by tests/test_layering.py),
so the same code serves the console, `tapetui daemon` and the tests.
"""
