"""Schedules as people write and read them: parsing, descriptions, warnings, the local zone."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapetui.engine.errors import UserError
from tapetui.engine.schedule import (
    SPEC_TYPES,
    Cron,
    Daily,
    Interval,
    Monthly,
    Once,
    ScheduleError,
    Weekly,
    Yearly,
    describe,
    local_zone,
    parse_spec,
    validate,
)
from tapetui.engine.schedule.describe import describe_short

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 1, 12, 0, 42, tzinfo=BERLIN)
ZONEINFO = Path("/usr/share/zoneinfo")


def parse(kind: str, text: str):
    return parse_spec(kind, text, NOW, BERLIN)


# --- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "spec"),
    [
        ("once", "2026-12-01 10:00", Once(datetime(2026, 12, 1, 10, tzinfo=BERLIN))),
        ("once", "2026-12-01T10:00", Once(datetime(2026, 12, 1, 10, tzinfo=BERLIN))),
        ("every", "30m", Interval(30, "minutes", NOW.replace(second=0))),
        ("every", "6h", Interval(6, "hours", NOW.replace(second=0))),
        ("interval", "2 days", Interval(2, "days", NOW.replace(second=0))),
        ("daily", "02:00", Daily(time(2, 0))),
        ("daily", "7:05", Daily(time(7, 5))),
        ("weekly", "mon,thu 03:00", Weekly(frozenset({0, 3}), time(3, 0))),
        ("weekly", "Monday, Thursday 03:00", Weekly(frozenset({0, 3}), time(3, 0))),
        ("weekly", "mon-fri 22:00", Weekly(frozenset(range(5)), time(22, 0))),
        ("weekly", "fri-mon 22:00", Weekly(frozenset({4, 5, 6, 0}), time(22, 0))),
        ("weekly", "sun,mon-wed 22:00", Weekly(frozenset({6, 0, 1, 2}), time(22, 0))),
        ("monthly", "31 01:00", Monthly(31, time(1, 0))),
        ("yearly", "02-29 08:00", Yearly(2, 29, time(8, 0))),
        ("yearly", "12-31 23:59", Yearly(12, 31, time(23, 59))),
        ("cron", "0  3 * *   0", Cron("0 3 * * 0")),
    ],
)
def test_the_cli_syntax_parses(kind, text, spec) -> None:
    assert parse(kind, text) == spec


def test_a_once_in_the_spring_gap_is_placed_at_the_end_of_the_gap() -> None:
    spec = parse_spec("once", "2026-03-29 02:30", datetime(2026, 3, 1, tzinfo=BERLIN), BERLIN)
    assert spec.at.isoformat() == "2026-03-29T03:00:00+02:00"


def test_a_once_in_a_repeated_hour_is_its_first_pass() -> None:
    spec = parse_spec("once", "2026-11-01 01:30", datetime(2026, 3, 1, tzinfo=NEW_YORK), NEW_YORK)
    assert spec.at.isoformat() == "2026-11-01T01:30:00-04:00"


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("once", "2026-01-01 10:00", "once: the time 2026-01-01 10:00 is in the past"),
        ("once", "2026-05-01 12:00", "once: the time 2026-05-01 12:00 is in the past"),
        ("once", "2026-02-30 10:00", "once: '2026-02-30' is not a date \\(day is out of range for month\\); expected 'YYYY-MM-DD HH:MM'"),
        ("once", "2026-12-01 24:00", "once: hour 24 is out of range 0-23"),
        ("once", "2026-12-01 10.00", "once: '10.00' is not a time HH:MM; expected 'YYYY-MM-DD HH:MM'"),
        ("once", "Tomorrow", "once: 'Tomorrow' is not a date and time; expected 'YYYY-MM-DD HH:MM', e.g. '2026-12-01 10:00'"),
        ("every", "0m", "every: interval must be a whole number above 0, got 0"),
        ("every", "5w", "every: '5w' is not an interval; expected a number and a unit m, h or d"),
        ("every", "-3h", "every: '-3h' is not an interval"),
        ("daily", "25:00", "daily: hour 25 is out of range 0-23"),
        ("daily", "12:60", "daily: minute 60 is out of range 0-59"),
        ("daily", "2pm", "daily: '2pm' is not a time HH:MM; expected HH:MM, e.g. 02:30"),
        ("weekly", "03:00", "weekly: no weekday given; expected weekdays and HH:MM"),
        ("weekly", "funday 03:00", "weekly: 'funday' is not a weekday; expected weekdays and HH:MM, e.g. 'mon,thu 03:00'"),
        ("weekly", "mon-xyz 03:00", "weekly: 'xyz' is not a weekday"),
        ("weekly", "mon 3pm", "weekly: '3pm' is not a time HH:MM"),
        ("monthly", "32 01:00", "monthly: day of month must be 1 to 31, got 32"),
        ("monthly", "0 01:00", "monthly: day of month must be 1 to 31, got 0"),
        ("monthly", "last 01:00", "monthly: day of month 'last' is not a number; expected a day of month 1-31 and HH:MM"),
        ("monthly", "15", "monthly: '' is not a time HH:MM"),
        ("yearly", "04-31 01:00", "yearly: April has days 1 to 30, got 31"),
        ("yearly", "13-01 01:00", "yearly: month must be 1 to 12, got 13"),
        ("yearly", "1231 01:00", "yearly: '1231' is not MM-DD; expected MM-DD HH:MM"),
        ("cron", "x y z", "cron expression 'x y z' must have 5 fields: minute hour day month weekday"),
        ("cron", "0 24 * * *", "cron expression '0 24 \\* \\* \\*': hour field '24' is invalid \\(allowed 0-23"),
        ("cron", "0 0 30 2 *", "cron expression '0 0 30 2 \\*' never fires"),
        ("hourly", "5", "unknown schedule kind 'hourly'; use one of once, every, daily, weekly, monthly, yearly, cron"),
    ],
)
def test_bad_input_says_what_is_wrong_and_what_is_allowed(kind, text, message) -> None:
    with pytest.raises(ScheduleError, match=f"^{message}") as caught:
        parse(kind, text)
    assert "\n" not in str(caught.value)


def test_schedule_errors_are_user_errors_and_value_errors() -> None:
    with pytest.raises(UserError):
        parse("daily", "99:99")
    with pytest.raises(ValueError):
        parse("daily", "99:99")


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 6), min_size=1), st.integers(0, 23), st.integers(0, 59), st.booleans())
def test_any_weekday_list_parses_back_from_its_names(days, hour, minute, full) -> None:
    names = [(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] if full else
              ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])[d] for d in sorted(days)]
    assert parse("weekly", f"{','.join(names).upper()} {hour}:{minute:02d}") == Weekly(frozenset(days), time(hour, minute))


# --- descriptions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (Weekly(frozenset({6}), time(3, 0)), "every Sunday 03:00"),
        (Weekly(frozenset({0, 3}), time(3, 0)), "every Monday and Thursday 03:00"),
        (Weekly(frozenset(range(5)), time(22, 0)), "every Monday to Friday 22:00"),
        (Weekly(frozenset({0, 2, 4}), time(22, 0)), "every Monday, Wednesday and Friday 22:00"),
        (Weekly(frozenset({4, 5, 6, 0}), time(22, 0)), "every Friday to Monday 22:00"),
        (Weekly(frozenset(range(7)), time(3, 0)), "every day 03:00"),
        (Daily(time(2, 0)), "every day 02:00"),
        (Monthly(31, time(1, 0)), "on day 31 of every month 01:00 (last day in shorter months)"),
        (Monthly(5, time(1, 0)), "on day 5 of every month 01:00"),
        (Yearly(12, 25, time(8, 0)), "every year on December 25 08:00"),
        (Yearly(2, 29, time(8, 0)), "every year on February 29 08:00 (February 28 in non-leap years)"),
        (Interval(6, "hours", NOW), "every 6 hours"),
        (Interval(1, "hours", NOW), "every hour"),
        (Interval(30, "minutes", NOW), "every 30 minutes"),
        (Interval(2, "days", NOW), "every 2 days"),
        (Once(datetime(2026, 12, 1, 10, tzinfo=BERLIN)), "once on 2026-12-01 10:00"),
        (Cron("0 3 * * 0"), "cron: 0 3 * * 0 (at 03:00 on Sunday)"),
        (Cron("0 22 * * mon-fri"), "cron: 0 22 * * mon-fri (at 22:00 on Monday to Friday)"),
        (Cron("30 2 * * *"), "cron: 30 2 * * * (at 02:30 every day)"),
        (Cron("0 1 1,15 * *"), "cron: 0 1 1,15 * * (at 01:00 on days 1, 15 of the month)"),
        (Cron("*/15 * * * *"), "cron: */15 * * * * (every 15 minutes)"),
        (Cron("* * * * *"), "cron: * * * * * (every minute)"),
        (Cron("5 * * * *"), "cron: 5 * * * * (at minute 5 of every hour)"),
        (Cron("0 */6 * * *"), "cron: 0 */6 * * * (every 6 hours, at minute 0)"),
        (Cron("0 1 1 * 1"), "cron: 0 1 1 * 1"),
        (Cron("0 1 * 6 *"), "cron: 0 1 * 6 *"),
        (Cron("0 0 L * *"), "cron: 0 0 L * *"),
    ],
)
def test_descriptions(spec, text) -> None:
    assert describe(spec) == text


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (Once(datetime(2026, 12, 1, 10, tzinfo=BERLIN)), "once 2026-12-01 10:00"),
        (Interval(15, "minutes", NOW), "every 15 min"),
        (Interval(6, "hours", NOW), "every 6 h"),
        (Interval(2, "days", NOW), "every 2 days"),
        (Interval(1, "hours", NOW), "every hour"),
        (Daily(time(2, 0)), "daily 02:00"),
        (Weekly(frozenset({0, 3}), time(2, 0)), "Mon,Thu 02:00"),
        (Weekly(frozenset(range(5)), time(22, 0)), "Mon-Fri 22:00"),
        (Weekly(frozenset({4, 5, 6, 0}), time(22, 0)), "Fri-Mon 22:00"),
        (Weekly(frozenset({0, 2, 4, 6}), time(22, 0)), "Wed,Fri,Sun,Mon 22:00"),
        (Weekly(frozenset(range(7)), time(3, 0)), "daily 03:00"),
        (Monthly(2, time(4, 0)), "monthly d2 04:00"),
        (Monthly(31, time(1, 0)), "monthly d31 01:00"),
        (Yearly(12, 25, time(8, 0)), "yearly Dec 25 08:00"),
        (Cron("0 2 * * 1-5"), "cron 0 2 * * 1-5"),
    ],
)
def test_short_descriptions(spec, text) -> None:
    assert describe_short(spec) == text


_HOURS, _MINUTES = st.sampled_from([0, 2, 23]), st.sampled_from([0, 30])
_TIMES = st.builds(time, _HOURS, _MINUTES)
#: Small value ranges, so that equal and near-equal rules are drawn often.
SPECS = {
    "once": st.builds(lambda d, h, m, zone: Once(datetime(2026, 12, d, h, m, tzinfo=zone)),
                      st.integers(1, 2), _HOURS, _MINUTES, st.sampled_from([BERLIN, NEW_YORK])),
    "interval": st.builds(Interval, st.sampled_from([1, 2, 15, 999]), st.sampled_from(["minutes", "hours", "days"]),
                          st.sampled_from([NOW, NOW + timedelta(minutes=7)])),
    "daily": st.builds(Daily, _TIMES),
    "weekly": st.builds(Weekly, st.frozensets(st.integers(0, 6), min_size=1), _TIMES),
    "monthly": st.builds(Monthly, st.sampled_from([1, 2, 28, 31]), _TIMES),
    "yearly": st.builds(Yearly, st.sampled_from([2, 12]), st.sampled_from([1, 29]), _TIMES),
    "cron": st.builds(lambda *fields: Cron(" ".join(fields)), st.sampled_from(["0", "30", "*/15", "*"]),
                      st.sampled_from(["2", "*", "*/6"]), st.sampled_from(["*", "1", "1,15"]),
                      st.sampled_from(["*", "6"]), st.sampled_from(["*", "1-5", "mon-fri", "0"])),
}
ANY_SPEC = st.one_of(*SPECS.values())


def test_every_schedule_type_has_a_short_form_under_test() -> None:
    assert set(SPECS) == set(SPEC_TYPES)


@given(ANY_SPEC)
def test_a_short_form_is_never_longer_and_fits_a_narrow_column(spec) -> None:
    short = describe_short(spec)
    assert len(short) <= len(describe(spec))
    if not isinstance(spec, Cron):  # an expression is as long as its author made it
        assert len(short) <= 21, short
    if isinstance(spec, (Daily, Weekly, Monthly, Yearly)):
        assert short.endswith(f" {spec.at:%H:%M}")


@settings(max_examples=300)
@given(ANY_SPEC, ANY_SPEC)
def test_two_rules_read_alike_in_short_only_if_they_read_alike_in_full(a, b) -> None:
    assert (describe_short(a) == describe_short(b)) == (describe(a) == describe(b)), (a, b)


# --- warnings ------------------------------------------------------------------------


def test_plain_schedules_have_nothing_to_warn_about() -> None:
    assert validate(Daily(time(12, 0)), NOW, BERLIN) == []
    assert validate(Interval(6, "hours", NOW), NOW, BERLIN) == []
    assert validate(Once(NOW + timedelta(days=1)), NOW, BERLIN) == []


def test_whole_day_intervals_in_a_dst_zone_are_warned_about() -> None:
    assert validate(Interval(2, "days", NOW), NOW, BERLIN) == [
        "every 2 days counts real hours: after a clock change in Europe/Berlin it fires an hour "
        "earlier or later on the clock (a daily schedule keeps the time)"
    ]
    assert len(validate(Interval(48, "hours", NOW), NOW, NEW_YORK)) == 1
    assert validate(Interval(2, "days", NOW), NOW, UTC) == []
    assert validate(Interval(36, "hours", NOW), NOW, BERLIN) == []


def test_a_once_in_the_past_is_warned_about() -> None:
    assert validate(Once(datetime(2026, 1, 1, 10, tzinfo=BERLIN)), NOW, BERLIN) == [
        "the time 2026-01-01 10:00 is in the past; it will not fire"
    ]


@pytest.mark.parametrize("day", [29, 30, 31])
def test_days_some_months_lack_are_warned_about(day) -> None:
    assert validate(Monthly(day, time(12, 0)), NOW, BERLIN) == [
        f"day {day} is not in every month: in shorter months it fires on the last day"
    ]


def test_february_29_is_warned_about() -> None:
    assert validate(Yearly(2, 29, time(12, 0)), NOW, BERLIN) == [
        "February 29 is only in leap years: in other years it fires on February 28"
    ]
    assert validate(Yearly(2, 28, time(12, 0)), NOW, BERLIN) == []


def test_times_the_clocks_skip_or_repeat_are_warned_about() -> None:
    assert validate(Daily(time(2, 30)), NOW, BERLIN) == [
        "on 2026-10-25 clocks in Europe/Berlin go back and 02:30 happens twice: it fires only the first time",
        "on 2027-03-28 clocks in Europe/Berlin go forward and 02:30 does not exist: it fires at 03:00 instead",
    ]
    # New York repeats 01:00-01:59, and skips 02:00-02:59
    assert validate(Daily(time(2, 30)), NOW, NEW_YORK) == [
        "on 2027-03-14 clocks in America/New_York go forward and 02:30 does not exist: it fires at 03:00 instead"
    ]
    assert validate(Cron("*/20 * * * *"), NOW, BERLIN) == [
        "on 2026-10-25 clocks in Europe/Berlin go back and 02:00, 02:20, 02:40 happen twice: "
        "they fire only the first time",
        "on 2027-03-28 clocks in Europe/Berlin go forward and 02:00, 02:20, 02:40 do not exist: "
        "they fire once, at 03:00",
    ]
    assert validate(Cron("* * * * *"), NOW, BERLIN)[0].startswith(
        "on 2026-10-25 clocks in Europe/Berlin go back and 02:00, 02:01, 02:02, ... happen twice"
    )


def test_only_days_that_hit_a_clock_change_are_warned_about() -> None:
    assert validate(Weekly(frozenset({0}), time(2, 30)), NOW, BERLIN) == []  # changes are on Sundays
    assert len(validate(Weekly(frozenset({6}), time(2, 30)), NOW, BERLIN)) == 2
    assert validate(Monthly(15, time(2, 30)), NOW, BERLIN) == []
    assert validate(Daily(time(2, 30)), NOW, UTC) == []


# --- the local zone -------------------------------------------------------------------


def test_tz_names_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert local_zone() == ZoneInfo("America/New_York")
    monkeypatch.setenv("TZ", ":Europe/Berlin")
    assert local_zone() == BERLIN


@pytest.mark.skipif(not (ZONEINFO / "Europe/Berlin").exists(), reason="no system zone files")
def test_without_tz_the_localtime_link_names_the_zone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TZ", raising=False)
    link = tmp_path / "localtime"
    link.symlink_to(ZONEINFO / "Europe/Berlin")
    assert local_zone(link) == BERLIN
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")  # a POSIX rule, not a zone name
    assert local_zone(link) == BERLIN


@pytest.mark.skipif(not (ZONEINFO / "Europe/Berlin").exists(), reason="no system zone files")
def test_a_copied_localtime_file_still_knows_dst(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TZ", raising=False)
    copy = tmp_path / "localtime"
    shutil.copyfile(ZONEINFO / "Europe/Berlin", copy)
    zone = local_zone(copy)
    assert datetime(2026, 1, 15, tzinfo=zone).utcoffset() == timedelta(hours=1)
    assert datetime(2026, 7, 15, tzinfo=zone).utcoffset() == timedelta(hours=2)


def test_no_zone_information_means_utc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TZ", raising=False)
    assert local_zone(tmp_path / "missing") is UTC


@pytest.mark.skipif(not (ZONEINFO / "Asia/Tokyo").exists(), reason="no system zone files")
def test_a_changed_zone_is_seen_without_a_restart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """local_zone() keeps its answer only while the link chain and the file are the same."""
    monkeypatch.delenv("TZ", raising=False)
    middle, link = tmp_path / "middle", tmp_path / "localtime"
    middle.symlink_to(ZONEINFO / "Europe/Berlin")
    link.symlink_to(middle)
    assert local_zone(link) == BERLIN
    middle.unlink()
    middle.symlink_to(ZONEINFO / "Asia/Tokyo")  # the outer link is untouched
    assert local_zone(link) == ZoneInfo("Asia/Tokyo")

    copy = tmp_path / "copied"
    shutil.copyfile(ZONEINFO / "Europe/Berlin", copy)
    assert datetime(2026, 1, 15, tzinfo=local_zone(copy)).utcoffset() == timedelta(hours=1)
    before = copy.stat()
    copy.write_bytes((ZONEINFO / "Asia/Tokyo").read_bytes())  # rewritten in place, as `cp -p` does
    os.utime(copy, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert datetime(2026, 1, 15, tzinfo=local_zone(copy)).utcoffset() == timedelta(hours=9)
