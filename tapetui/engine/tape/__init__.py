"""Tape drivers: one interface (base.TapeDriver), several implementations."""
