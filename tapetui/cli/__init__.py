"""The `tapetui` command line: the console by default, subcommands for scripts."""

from .main import main

__all__ = ["main"]
