"""Medium health: one spelling of each key every driver reports, and what the
TapeAlert flags set on a cartridge mean.

`DriveStatus.health` holds display strings under the keys below, whichever driver
read them: the sim; the ltfs driver from the cartridge memory (sg_read_attr), from
`mt status` and from the mounted volume's attributes; ltfs-windows from the volume.
TapeAlert flags are shown by name, never by number. Their severity is the SSC
TapeAlert one: a critical flag means data is at risk now (the health check fails),
any other flag is worth a look (a warning).
"""

from __future__ import annotations

TAPEALERT = "TapeAlert"  # the flags set, by name ("read warning, clean now"), or "none"
LOAD_COUNT = "load count"
WRITTEN_MIB = "written in its life (MiB)"
RECOVERED_WRITE_ERRORS = "recovered write errors"
PERMANENT_WRITE_ERRORS = "permanent write errors"
RECOVERED_READ_ERRORS = "recovered read errors"
PERMANENT_READ_ERRORS = "permanent read errors"
SOFT_ERRORS = "soft errors since last status"  # mt status
WRITE_PROTECTED = "write protected"
CLEANING = "cleaning"
#: The error counters, in the order they are shown.
COUNTERS = (RECOVERED_WRITE_ERRORS, PERMANENT_WRITE_ERRORS, RECOVERED_READ_ERRORS, PERMANENT_READ_ERRORS,
            SOFT_ERRORS)

CRITICAL, WARNING, INFO = "critical", "warning", "information"
_C, _W, _I = CRITICAL, WARNING, INFO
#: TapeAlert flag number -> (name, severity), SSC-3 (flags 40-48 are the changer's, obsolete here).
FLAGS: dict[int, tuple[str, str]] = {
    1: ("read warning", _W), 2: ("write warning", _W), 3: ("hard error", _W), 4: ("media", _C),
    5: ("read failure", _C), 6: ("write failure", _C), 7: ("media life", _W), 8: ("not data grade", _W),
    9: ("write protect", _C), 10: ("no removal", _I), 11: ("cleaning media", _I),
    12: ("unsupported format", _I), 13: ("recoverable mechanical cartridge failure", _C),
    14: ("unrecoverable mechanical cartridge failure", _C), 15: ("memory chip in cartridge failure", _W),
    16: ("forced eject", _C), 17: ("read only format", _W), 18: ("tape directory corrupted on load", _W),
    19: ("nearing media life", _I), 20: ("clean now", _C), 21: ("clean periodic", _W),
    22: ("expired cleaning media", _C), 23: ("invalid cleaning tape", _C), 24: ("retension requested", _W),
    25: ("dual port interface error", _W), 26: ("cooling fan failure", _W), 27: ("power supply failure", _W),
    28: ("power consumption", _W), 29: ("drive maintenance", _W), 30: ("hardware A", _C),
    31: ("hardware B", _C), 32: ("interface", _W), 33: ("eject media", _C), 34: ("microcode update fail", _W),
    35: ("drive humidity", _W), 36: ("drive temperature", _W), 37: ("drive voltage", _W),
    38: ("predictive failure", _C), 39: ("diagnostics required", _W), 49: ("diminished native capacity", _I),
    50: ("lost statistics", _W), 51: ("tape directory invalid at unload", _W),
    52: ("tape system area write failure", _C), 53: ("tape system area read failure", _C),
    54: ("no start of data", _C), 55: ("loading failure", _C), 56: ("unrecoverable unload failure", _C),
    57: ("automation interface failure", _C), 58: ("firmware failure", _W),
    59: ("WORM medium integrity check failed", _W), 60: ("WORM medium overwrite attempted", _W),
}
_BY_NAME = {name: severity for name, severity in FLAGS.values()}


def flag_name(number: int) -> str:
    return FLAGS[number][0] if number in FLAGS else f"flag {number}"


def mam_flags(value: int) -> list[int]:
    """Flags set in the cartridge memory's TapeAlert attribute (0x0002): flag 1 is the top bit."""
    return [n for n in range(1, 65) if value & (1 << (64 - n))]


def ltfs_flags(value: int) -> list[int]:
    """Flags set in LTFS's `ltfs.mediaStorageAlert`: flag N is bit N-1 (libltfs builds it
    from the TapeAlert log page so, in sg_get_tape_alert)."""
    return [n for n in range(1, 65) if value & (1 << (n - 1))]


def tapealert_text(flags: list[int]) -> str:
    """The `TAPEALERT` value: the flags' names, or "none"."""
    return ", ".join(flag_name(n) for n in flags) or "none"


def tapealert_set(health: dict[str, str]) -> list[tuple[str, str]]:
    """(name, severity) of each flag a status reports; a name not known is a warning."""
    text = health.get(TAPEALERT, "none")
    if text == "none":
        return []
    return [(name, _BY_NAME.get(name, WARNING)) for name in text.split(", ")]


def counters(health: dict[str, str]) -> dict[str, int]:
    """The error counters a status reports (only those the driver could read)."""
    return {key: int(health[key]) for key in COUNTERS if health.get(key, "").isdigit()}


def flags_text(flags: list[tuple[str, str]]) -> str:
    """'clean now (critical), read warning', or 'none'."""
    return ", ".join(f"{name} (critical)" if severity == CRITICAL else name for name, severity in flags) or "none"


def health_text(health: dict[str, str]) -> str:
    """One line for the Tapes screen: the flags first (a critical one marked), then the rest."""
    flags = tapealert_set(health)
    parts = [f"{TAPEALERT} {flags_text(flags)}"] if TAPEALERT in health else []
    parts += [f"{key} {value}" for key, value in health.items() if key != TAPEALERT]
    return ("⚠ " if flags else "") + " · ".join(parts)
