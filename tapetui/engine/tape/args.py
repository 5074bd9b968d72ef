"""Checks for every user-supplied value before it reaches a tool's argv.

Tools run without a shell, so quoting is not the danger; the dangers are a
value read as an option (a leading `-`), a value that splits an `-o a,b` list
(a `,`), and control characters that corrupt logs or tool parsers. Each check
returns the value to use or raises InvalidArgument with a one-line reason.
"""

from __future__ import annotations

import re

MAX_VOLUME_NAME = 64  # LTFS allows more; keep labels readable on screen and in MAM
MAX_PATH = 4096
#: Names become file-name-like labels (LTFS15031E), Windows `/N:` values and
#: `-o` list members: keep out path separators, Windows-reserved and list characters.
_NAME_FORBIDDEN = set('/\\:,"*?<>|')
_SERIAL = re.compile(r"[0-9A-Z]{6}")
_BARCODE = re.compile(r"[0-9A-Z]{6}(?:[0-9A-Z]{2})?")
_DRIVE_SERIAL = re.compile(r"[0-9A-Za-z]{1,40}")
_MOUNT_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:=[^,\s]*)?")


class InvalidArgument(ValueError):
    """A value that must not be handed to a tool."""


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be text, not {type(value).__name__}")
    if not value:
        raise InvalidArgument(f"{what} is empty")
    if value.startswith("-"):
        raise InvalidArgument(f"{what} {value!r} must not start with '-'")
    if not value.isprintable():
        raise InvalidArgument(f"{what} {value!r} contains control or unprintable characters")
    return value


def validate_serial(value: object) -> str:
    """An LTFS volume serial (`mkltfs -s`): exactly 6 digits or capital letters."""
    s = _text(value, "tape serial")
    if not _SERIAL.fullmatch(s):
        raise InvalidArgument(
            f"tape serial {s!r} must be exactly 6 characters, digits and capital letters"
        )
    return s


def validate_volume_name(value: object) -> str:
    """A volume label (`mkltfs -n`, `LtfsCmdFormat /N:`)."""
    s = _text(value, "volume name")
    if len(s) > MAX_VOLUME_NAME:
        raise InvalidArgument(f"volume name is longer than {MAX_VOLUME_NAME} characters")
    if s != s.strip():
        raise InvalidArgument(f"volume name {s!r} must not start or end with a space")
    bad = sorted(_NAME_FORBIDDEN.intersection(s))
    if bad:
        raise InvalidArgument(f"volume name {s!r} must not contain {' '.join(bad)}")
    return s


def validate_barcode(value: object) -> str:
    """A cartridge barcode: 6 characters, optionally followed by a 2-character media id."""
    s = _text(value, "barcode")
    if not _BARCODE.fullmatch(s):
        raise InvalidArgument(
            f"barcode {s!r} must be 6 digits or capital letters, optionally followed by a "
            "media id such as L8"
        )
    return s


def serial_from_barcode(barcode: str) -> str:
    """The 6-character volume serial a barcode carries (`ABC123L8` -> `ABC123`)."""
    return validate_serial(validate_barcode(barcode)[:6])


def validate_path(value: object, what: str = "path") -> str:
    """An absolute path that can also sit in an `-o name=value,...` list."""
    s = _text(value, what)
    if not s.startswith("/"):
        raise InvalidArgument(f"{what} {s!r} must be an absolute path")
    if "," in s:
        raise InvalidArgument(f"{what} {s!r} must not contain ','")
    if len(s) > MAX_PATH:
        raise InvalidArgument(f"{what} is longer than {MAX_PATH} characters")
    return s


def validate_device_path(value: object) -> str:
    """A tape or changer device: an absolute path, or a drive serial number
    (the LTFS sg backend accepts either)."""
    s = _text(value, "device")
    if _DRIVE_SERIAL.fullmatch(s):
        return s
    return validate_path(s, "device")


def validate_drive_letter(value: object) -> str:
    """A Windows drive letter, `O`, `o` or `O:` -> `O`."""
    s = _text(value, "drive letter")
    letter = s[:-1] if s.endswith(":") else s
    if len(letter) != 1 or not ("A" <= letter.upper() <= "Z"):
        raise InvalidArgument(f"drive letter {s!r} must be one letter A-Z")
    return letter.upper()


def validate_mount_option(value: object) -> str:
    """One `ltfs -o` option: `name` or `name=value`, without `,` or spaces."""
    s = _text(value, "mount option")
    if not _MOUNT_OPTION.fullmatch(s):
        raise InvalidArgument(
            f"mount option {s!r} must look like name or name=value, without ',' or spaces"
        )
    return s
