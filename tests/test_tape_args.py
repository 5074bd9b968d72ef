"""Values that reach a tool's argv: what is refused, and that what is accepted
arrives in the tool unchanged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapetui.engine.tape.args import (
    InvalidArgument,
    serial_from_barcode,
    validate_barcode,
    validate_device_path,
    validate_drive_letter,
    validate_mount_option,
    validate_path,
    validate_serial,
    validate_volume_name,
)

VALIDATORS = [
    validate_serial,
    validate_volume_name,
    validate_barcode,
    validate_device_path,
    validate_drive_letter,
    validate_mount_option,
    validate_path,
]
ECHO_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


def accepted(validator, value):
    try:
        return validator(value)
    except InvalidArgument:
        return None


@pytest.mark.parametrize("validator", VALIDATORS, ids=lambda v: v.__name__)
@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=80) | st.sampled_from(["-f", "--force", "-", "a\nb", "x\0y", "\t"]))
def test_nothing_accepted_is_an_option_or_holds_control_characters(validator, value):
    out = accepted(validator, value)
    if out is not None:
        assert out and not out.startswith("-")
        assert out.isprintable()  # no newline, NUL, tab, escape, ...


@settings(max_examples=25, deadline=None)
@given(
    name=st.text(min_size=1, max_size=64).filter(lambda s: accepted(validate_volume_name, s)),
    path=st.text(min_size=1, max_size=40).map(lambda s: "/" + s).filter(
        lambda s: accepted(validate_path, s)),
    serial=st.from_regex(r"[0-9A-Z]{6}", fullmatch=True),
)
def test_accepted_values_reach_the_tool_unchanged(name, path, serial):
    argv = [validate_volume_name(name), validate_path(path), validate_serial(serial)]
    out = subprocess.run([sys.executable, "-c", ECHO_ARGV, *argv], capture_output=True,
                         timeout=30, check=True)
    assert json.loads(out.stdout) == argv


@pytest.mark.parametrize("value", ["TP2026", "000001", "ABC123"])
def test_good_serials(value):
    assert validate_serial(value) == value


@pytest.mark.parametrize("value", ["tp2026", "TP20", "TP20261", "TP-026", "TP 026", "", 123456])
def test_bad_serials(value):
    with pytest.raises(InvalidArgument, match="serial"):
        validate_serial(value)


@pytest.mark.parametrize("value", ["TP20261101", "Monthly 2026-11", "备份 11月"])
def test_good_volume_names(value):
    assert validate_volume_name(value) == value


@pytest.mark.parametrize("value", ["-n", "a/b", "a,b", "C:", " lead", "trail ", "x" * 65, "a\tb"])
def test_bad_volume_names(value):
    with pytest.raises(InvalidArgument):
        validate_volume_name(value)


def test_barcodes_and_their_serials():
    assert validate_barcode("ABC123L8") == "ABC123L8"
    assert validate_barcode("ABC123") == "ABC123"
    assert serial_from_barcode("ABC123L9") == "ABC123"
    for bad in ("abc123L8", "ABC12", "ABC123L", "ABC123L8X"):
        with pytest.raises(InvalidArgument):
            validate_barcode(bad)


def test_devices_drive_letters_and_mount_options():
    assert validate_device_path("/dev/sg0") == "/dev/sg0"
    assert validate_device_path("1068000073") == "1068000073"  # a drive serial
    for bad in ("sg0/x", "/dev/sg0,tape_backend=file", "-d"):
        with pytest.raises(InvalidArgument):
            validate_device_path(bad)
    assert validate_drive_letter("o:") == "O"
    for bad in ("OO", "1", "O:\\", ""):
        with pytest.raises(InvalidArgument):
            validate_drive_letter(bad)
    assert validate_mount_option("sync_type=time@5") == "sync_type=time@5"
    for bad in ("a,b", "uid= 0", "=x"):
        with pytest.raises(InvalidArgument):
            validate_mount_option(bad)


def test_invalid_argument_is_a_value_error_with_a_one_line_message():
    with pytest.raises(ValueError) as info:
        validate_serial("bad\nserial")
    assert "\n" not in str(info.value)
