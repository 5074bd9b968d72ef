"""Errors meant for the operator: shown as one clear line, never a traceback."""


class UserError(Exception):
    """Something the user can fix: bad input, bad config, a refused action."""


class ConfigError(UserError):
    """The config file is unreadable or holds a bad key or value."""


class StoreError(UserError):
    """The catalog database cannot be opened or upgraded."""


class NotFound(UserError):
    """A named thing (schedule, set, cartridge, run) does not exist."""
