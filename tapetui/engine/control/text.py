"""What the CLI and the console need to show and check what a `Control` returns: times,
sizes, file names, barcodes and labels, a medium's health, and the checks of what an
operator types (barcodes, volume labels, globs). Defined where their rules live; named
here so the front door is the one way in."""

from __future__ import annotations

from ..backup.levels import sources_of
from ..backup.patterns import check_glob
from ..backup.selection import is_glob
from ..names import json_dumps, shown
from ..tape.args import InvalidArgument, validate_barcode, validate_volume_name
from ..tape.labels import has_barcode, label_month, shown_id
from ..tape.medium_health import health_text
from ..timeutil import local, show, to_db
from ..units import human_bytes

__all__ = ["InvalidArgument", "check_glob", "has_barcode", "health_text", "human_bytes", "is_glob", "json_dumps",
           "label_month", "local", "show", "shown", "shown_id", "sources_of", "to_db", "validate_barcode",
           "validate_volume_name"]
