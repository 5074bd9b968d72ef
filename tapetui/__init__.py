"""tapetui: a keyboard-first terminal console for LTFS tape backups."""

__version__ = "0.1.0"
