"""The one error type of the schedule rules."""

from tapetui.engine.errors import UserError


class ScheduleError(UserError, ValueError):
    """A schedule that cannot be built or parsed; the message is for the user."""
