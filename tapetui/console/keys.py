"""The screens and the single keys that switch to them (footer, help, palette)."""

#: mode name -> (key, title); the order is the footer's order.
SCREENS: dict[str, tuple[str, str]] = {
    "schedules": ("1", "Schedules"),
    "runs": ("2", "Runs"),
    "catalog": ("3", "Catalog"),
    "tapes": ("4", "Tapes"),
}
