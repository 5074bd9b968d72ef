"""The four screens: Schedules, Runs, Catalog, Tapes."""
