"""When schedules fire, checked against brute-force oracles in DST zones.

The oracles know nothing of the implementation: one walks real time minute by
minute and fires when the wall clock reaches (or jumps over) a matching time it
has not shown before; the other lists matching wall times day by day and places
each on the time line by trying the zone's offsets.
"""

from __future__ import annotations

import calendar
import json
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tapetui.engine.schedule import (
    Cron,
    Daily,
    Interval,
    Monthly,
    Once,
    ScheduleError,
    Weekly,
    Yearly,
    firings,
    next_run,
    period_key,
    spec_from_dict,
    spec_to_dict,
    spec_type,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = (BERLIN, NEW_YORK)
MINUTE = timedelta(minutes=1)
YEARS = range(2024, 2029)  # 2024 and 2028 are leap years

fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- independent rule matching -------------------------------------------------


def _field(text: str, lo: int, hi: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step = part.partition("/")
        first, sep, last = body.partition("-")
        start, stop = (lo, hi) if body == "*" else (int(first), int(last) if sep else int(first))
        values.update(range(start, stop + 1, int(step or 1)))
    return values


@cache
def _cron_sets(expr: str) -> tuple[set[int], ...]:
    m, h, dom, mon, dow = expr.split()
    days_of_week = {d % 7 for d in _field(dow, 0, 7)}  # cron: 0 and 7 are Sunday
    return _field(m, 0, 59), _field(h, 0, 23), _field(dom, 1, 31), _field(mon, 1, 12), days_of_week


def _cron_matches(expr: str, wall: datetime) -> bool:
    minutes, hours, doms, months, dows = _cron_sets(expr)
    _, _, dom_text, _, dow_text = expr.split()
    in_dom, in_dow = wall.day in doms, (wall.weekday() + 1) % 7 in dows
    if dom_text != "*" and dow_text != "*":
        day_ok = in_dom or in_dow  # cron: both restricted means either
    else:
        day_ok = in_dom and in_dow
    return wall.minute in minutes and wall.hour in hours and wall.month in months and day_ok


def _fire_day(year: int, month: int, day: int) -> int:
    return min(day, calendar.monthrange(year, month)[1])


def matches(spec, wall: datetime) -> bool:
    """Whether the naive wall-clock minute ``wall`` is one the spec names."""
    if isinstance(spec, Cron):
        return _cron_matches(spec.expr, wall)
    if wall.time() != spec.at:
        return False
    if isinstance(spec, Daily):
        return True
    if isinstance(spec, Weekly):
        return wall.weekday() in spec.days
    if isinstance(spec, Monthly):
        return wall.day == _fire_day(wall.year, wall.month, spec.day)
    return wall.month == spec.month and wall.day == _fire_day(wall.year, spec.month, spec.day)


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def minute_walk(spec, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Firings in (start, end]: walk real minutes; fire when the clock shows, or
    jumps over, a matching wall time it has not shown before."""
    seen = max(wall(start - k * MINUTE, tz) for k in range(181))
    fired, u = [], start + MINUTE
    while u <= end:
        now = wall(u, tz)
        if now > seen:
            candidates = (now - k * MINUTE for k in range((now - seen) // MINUTE))
            if any(matches(spec, c) for c in candidates):
                fired.append(u)
            seen = now
        u += MINUTE
    return fired


def place(wall_time: datetime, tz: ZoneInfo) -> datetime:
    """The first instant showing ``wall_time``, or the first after it if none does."""
    offsets = {tz.utcoffset(wall_time - timedelta(days=1)), tz.utcoffset(wall_time + timedelta(days=1))}
    candidates = sorted((wall_time - off).replace(tzinfo=UTC) for off in offsets)
    for u in candidates:
        if wall(u, tz) == wall_time:
            return u
    u = candidates[0]
    while wall(u, tz) <= wall_time:
        u += MINUTE
    return u


def day_walk(spec, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Firings in (start, end] from the matching wall times, listed day by day
    (by hour for cron), each placed on the time line."""
    day = wall(start, tz).date() - timedelta(days=1)
    last = wall(end, tz).date() + timedelta(days=1)
    steps = [time(h, m) for h in range(24) for m in range(60)] if isinstance(spec, Cron) else [spec.at]
    if isinstance(spec, Cron):
        steps = [t for t in steps if t.minute in _cron_sets(spec.expr)[0]]
    out = set()
    while day <= last:
        for t in steps:
            w = datetime.combine(day, t)
            if matches(spec, w):
                out.add(place(w, tz))
        day += timedelta(days=1)
    return sorted(u for u in out if start < u <= end)


def iterate(spec, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """next_run applied again and again from ``start`` while it stays within ``end``."""
    out, t = [], start
    while (t := next_run(spec, t, tz)) is not None and t <= end:
        out.append(t)
    return out


def utc(values: list[datetime]) -> list[datetime]:
    return [v.astimezone(UTC) for v in values]


# --- where to look ----------------------------------------------------------------


@cache
def dst_days(tz: ZoneInfo) -> tuple[date, ...]:
    """Local dates on which the zone's offset changes, over YEARS."""
    days, u = [], datetime(YEARS[0], 1, 1, tzinfo=UTC)
    while u.year <= YEARS[-1]:
        if u.astimezone(tz).utcoffset() != (u + timedelta(hours=1)).astimezone(tz).utcoffset():
            days.append((u + timedelta(hours=1)).astimezone(tz).date())
        u += timedelta(hours=1)
    return tuple(days)


MONTH_ENDS = tuple(date(y, m, calendar.monthrange(y, m)[1]) for y in YEARS for m in range(1, 13))
FEB_ENDS = tuple(date(y, 2, d) for y in YEARS for d in (28, 29) if d <= calendar.monthrange(y, 2)[1])

hhmm_near_change = st.builds(
    time,
    st.sampled_from([0, 1, 2, 3]) | st.integers(0, 23),
    st.sampled_from([0, 15, 30, 59]) | st.integers(0, 59),
)

cron_minute = st.sampled_from(["*/15", "*/20", "0", "30", "0,30", "10-12"]) | st.integers(0, 59).map(str)
cron_hour = st.sampled_from(["*", "*/6", "2", "1-3", "0,2", "3"]) | st.integers(0, 23).map(str)
cron_dom = st.sampled_from(["*", "*", "31", "29-31", "1", "28"])
cron_dow = st.sampled_from(["*", "*", "0", "1-5", "0,6", "7"])


@st.composite
def cron_specs(draw) -> Cron:
    expr = " ".join([draw(cron_minute), draw(cron_hour), draw(cron_dom), "*", draw(cron_dow)])
    return Cron(expr)


@st.composite
def window_specs(draw):
    """(zone, spec, start, end): a 2-day window at a DST change, a month end or
    February's end, with a spec that can fire in it."""
    tz = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(["daily", "weekly", "monthly", "yearly", "cron"]))
    places = {"monthly": MONTH_ENDS, "yearly": FEB_ENDS}.get(kind, ()) + dst_days(tz)
    anchor = draw(st.sampled_from(places))
    at = draw(hhmm_near_change)
    if kind == "daily":
        spec = Daily(at)
    elif kind == "weekly":
        spec = Weekly(frozenset(draw(st.sets(st.integers(0, 6), min_size=1))) | {anchor.weekday()}, at)
    elif kind == "monthly":
        spec = Monthly(draw(st.sampled_from([anchor.day, 28, 29, 30, 31])), at)
    elif kind == "yearly":
        spec = Yearly(anchor.month, draw(st.sampled_from([anchor.day, 28, 29] if anchor.month == 2 else [anchor.day])), at)
    else:
        spec = draw(cron_specs())
    midnight = place(datetime.combine(anchor, time()), tz)
    start = midnight + draw(st.integers(-36 * 60, 12 * 60)) * MINUTE
    return tz, spec, start, start + timedelta(days=2)


# --- the brute-force comparisons ---------------------------------------------------------


@fast
@given(window_specs())
def test_firings_match_the_minute_by_minute_walk(case) -> None:
    tz, spec, start, end = case
    expected = minute_walk(spec, tz, start, end)
    assert utc(firings(spec, start, end, tz)) == expected
    assert utc(iterate(spec, tz, start, end)) == expected


@settings(max_examples=12, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.sampled_from(["daily", "weekly", "monthly", "yearly"]),
    hhmm_near_change,
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(1, 31),
    st.sampled_from([(2, 29), (2, 28), (3, 29), (10, 31), (11, 1), (12, 31)]),
    st.datetimes(datetime(2024, 1, 1), datetime(2024, 12, 31)),
)
def test_years_of_next_run_neither_double_nor_skip(tz, kind, at, days, day, month_day, start) -> None:
    spec = {
        "daily": Daily(at),
        "weekly": Weekly(frozenset(days), at),
        "monthly": Monthly(day, at),
        "yearly": Yearly(*month_day, at),
    }[kind]
    begin = start.replace(tzinfo=tz)
    end = begin + timedelta(days=4 * 365)
    assert utc(iterate(spec, tz, begin, end)) == day_walk(spec, tz, begin, end)


@settings(max_examples=8, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.integers(0, 59).map(str) | st.just("30"),
    st.sampled_from(["*/6", "2", "1-3", "0,2", "3"]) | st.integers(0, 23).map(str),
    cron_dom,
    cron_dow,
    st.datetimes(datetime(2025, 1, 1), datetime(2025, 12, 31)),
)
def test_a_year_of_cron_next_run_neither_doubles_nor_skips(tz, minute, hour, dom, dow, start) -> None:
    try:
        spec = Cron(f"{minute} {hour} {dom} * {dow}")
    except ScheduleError:
        assume(False)
    begin = start.replace(tzinfo=tz)
    end = begin + timedelta(days=366)
    assert utc(iterate(spec, tz, begin, end)) == day_walk(spec, tz, begin, end)


@fast
@given(
    st.sampled_from(ZONES),
    st.one_of(
        st.builds(Daily, hhmm_near_change),
        st.builds(Weekly, st.frozensets(st.integers(0, 6), min_size=1), hhmm_near_change),
        st.builds(Monthly, st.integers(1, 31), hhmm_near_change),
        st.builds(Yearly, st.just(2), st.integers(27, 29), hhmm_near_change),
        cron_specs(),
    ),
    st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31)),
    st.booleans(),
)
def test_next_run_is_later_and_on_a_matching_wall_time(tz, spec, after, fold) -> None:
    """From any instant (seconds included, either pass of a repeated hour)."""
    after = after.replace(tzinfo=tz, fold=int(fold))
    found = next_run(spec, after, tz)
    assert found is not None and found.astimezone(UTC) > after.astimezone(UTC)
    # the wall time it shows matches, or it ends a DST gap that jumped over one
    # (the minute before in real time: aware arithmetic in one zone is wall-clock arithmetic)
    before, shown = wall(found.astimezone(UTC) - MINUTE, tz), wall(found, tz)
    jumped = [shown - k * MINUTE for k in range((shown - before) // MINUTE)]
    assert any(matches(spec, w) for w in jumped)


# --- documented rules, by example ---------------------------------------------------------


def at(tz: ZoneInfo, text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


def test_a_time_in_the_spring_gap_fires_when_the_gap_ends() -> None:
    runs = firings(Daily(time(2, 30)), at(BERLIN, "2026-03-28 12:00"), at(BERLIN, "2026-03-30 12:00"), BERLIN)
    assert [r.isoformat() for r in runs] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_a_repeated_time_fires_once_on_the_first_pass() -> None:
    runs = firings(Daily(time(1, 30)), at(NEW_YORK, "2026-10-31 12:00"), at(NEW_YORK, "2026-11-02 12:00"), NEW_YORK)
    assert [r.isoformat() for r in runs] == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_from_the_second_pass_of_a_repeated_hour_the_next_day_is_next() -> None:
    second_pass = at(BERLIN, "2026-10-25 02:10", fold=1)
    assert next_run(Daily(time(2, 30)), second_pass, BERLIN).isoformat() == "2026-10-26T02:30:00+01:00"


def test_cron_merges_the_firings_of_a_skipped_hour_and_does_not_repeat_one() -> None:
    spec = Cron("*/20 * * * *")
    spring = firings(spec, at(BERLIN, "2026-03-29 01:30"), at(BERLIN, "2026-03-29 03:30"), BERLIN)
    assert [r.strftime("%H:%M%z") for r in spring] == ["01:40+0100", "03:00+0200", "03:20+0200"]
    autumn = firings(spec, at(BERLIN, "2026-10-25 01:50"), at(BERLIN, "2026-10-25 03:00"), BERLIN)
    assert [r.strftime("%H:%M%z") for r in autumn] == ["02:00+0200", "02:20+0200", "02:40+0200", "03:00+0100"]


def test_an_every_minute_cron_jumps_the_gap_once_and_runs_a_repeated_hour_once() -> None:
    spec = Cron("* * * * *")
    spring = firings(spec, at(NEW_YORK, "2026-03-08 01:57"), at(NEW_YORK, "2026-03-08 03:01"), NEW_YORK)
    assert [r.strftime("%H:%M") for r in spring] == ["01:58", "01:59", "03:00", "03:01"]
    autumn = firings(spec, at(NEW_YORK, "2026-11-01 01:58"), at(NEW_YORK, "2026-11-01 02:01"), NEW_YORK)
    assert [r.strftime("%H:%M%z") for r in autumn] == ["01:59-0400", "02:00-0500", "02:01-0500"]


def test_day_31_fires_on_the_last_day_of_shorter_months() -> None:
    runs = firings(Monthly(31, time(1, 0)), at(BERLIN, "2028-01-15 00:00"), at(BERLIN, "2028-05-15 00:00"), BERLIN)
    assert [r.date().isoformat() for r in runs] == ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]


def test_february_29_fires_on_the_28th_in_other_years() -> None:
    runs = firings(Yearly(2, 29, time(8, 0)), at(BERLIN, "2026-01-01 00:00"), at(BERLIN, "2029-01-01 00:00"), BERLIN)
    assert [r.date().isoformat() for r in runs] == ["2026-02-28", "2027-02-28", "2028-02-29"]


def test_an_interval_counts_real_hours_across_a_dst_change() -> None:
    spec = Interval(6, "hours", at(BERLIN, "2026-03-28 22:00"))
    runs = firings(spec, at(BERLIN, "2026-03-28 00:00"), at(BERLIN, "2026-03-29 18:00"), BERLIN)
    assert [r.strftime("%d %H:%M") for r in runs] == ["28 22:00", "29 05:00", "29 11:00", "29 17:00"]


@fast
@given(
    st.integers(1, 500),
    st.sampled_from(["minutes", "hours", "days"]),
    st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31)),
    st.integers(-10**7, 10**8),
    st.sampled_from(ZONES),
)
def test_interval_fires_on_whole_periods_from_its_start(every, unit, start, seconds, tz) -> None:
    spec = Interval(every, unit, start.replace(tzinfo=tz))
    begin = spec.start.astimezone(UTC)
    after = begin + timedelta(seconds=seconds)
    found = next_run(spec, after, tz).astimezone(UTC)
    assert found > after
    assert (found - begin) % spec.period == timedelta(0) and found >= begin
    assert found == begin or found - spec.period <= after  # no firing skipped


def test_once_fires_only_if_still_ahead() -> None:
    spec = Once(at(BERLIN, "2026-12-01 10:00"))
    assert next_run(spec, at(BERLIN, "2026-12-01 09:59"), BERLIN) == spec.at
    assert next_run(spec, at(BERLIN, "2026-12-01 10:00"), BERLIN) is None
    assert firings(spec, at(BERLIN, "2026-01-01 00:00"), at(BERLIN, "2027-01-01 00:00"), BERLIN) == [spec.at]


def test_results_are_in_the_given_zone_whatever_zone_after_is_in() -> None:
    found = next_run(Daily(time(3, 0)), datetime(2026, 7, 1, 12, tzinfo=UTC), NEW_YORK)
    assert found.tzinfo is NEW_YORK and found.isoformat() == "2026-07-02T03:00:00-04:00"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        next_run(Daily(time(3, 0)), datetime(2026, 7, 1, 12), BERLIN)


# --- construction and storage -----------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Weekly(frozenset(), time(3, 0)), "weekly: choose at least one weekday"),
        (lambda: Weekly(frozenset({7}), time(3, 0)), r"weekly: weekdays are 0 \(Monday\) to 6 \(Sunday\), got \[7\]"),
        (lambda: Monthly(0, time(3, 0)), "monthly: day of month must be 1 to 31, got 0"),
        (lambda: Monthly(32, time(3, 0)), "monthly: day of month must be 1 to 31, got 32"),
        (lambda: Yearly(4, 31, time(3, 0)), "yearly: April has days 1 to 30, got 31"),
        (lambda: Yearly(13, 1, time(3, 0)), "yearly: month must be 1 to 12, got 13"),
        (lambda: Interval(0, "hours", at(BERLIN, "2026-01-01 00:00")), "interval must be a whole number above 0, got 0"),
        (lambda: Interval(1, "weeks", at(BERLIN, "2026-01-01 00:00")), "interval unit must be minutes, hours or days"),
        (lambda: Interval(1, "hours", datetime(2026, 1, 1)), "interval: the start time has no time zone"),
        (lambda: Once(datetime(2026, 1, 1)), "once: the time 2026-01-01 00:00 has no time zone"),
        (lambda: Daily(time(3, 0, 30)), "time of day must be a plain HH:MM"),
        (lambda: Cron("x y z"), "cron expression 'x y z' must have 5 fields: minute hour day month weekday"),
        (lambda: Cron("61 * * * *"), r"cron expression '61 \* \* \* \*': minute field '61' is invalid \(allowed 0-59"),
        (lambda: Cron("0 0 * * 9"), "weekday field '9' is invalid"),
        (lambda: Cron("0 0 31 2 *"), "cron expression '0 0 31 2 \\*' never fires"),
        (lambda: Cron("0 0 * * * *"), "must have 5 fields"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(build, message) -> None:
    with pytest.raises(ScheduleError, match=message):
        build()


specs = st.one_of(
    st.builds(Once, st.datetimes(datetime(2024, 1, 1), datetime(2030, 1, 1), timezones=st.sampled_from(ZONES))),
    st.builds(
        Interval,
        st.integers(1, 10_000),
        st.sampled_from(["minutes", "hours", "days"]),
        st.datetimes(datetime(2024, 1, 1), datetime(2030, 1, 1), timezones=st.sampled_from(ZONES)),
    ),
    st.builds(Daily, hhmm_near_change),
    st.builds(Weekly, st.frozensets(st.integers(0, 6), min_size=1), hhmm_near_change),
    st.builds(Monthly, st.integers(1, 31), hhmm_near_change),
    st.builds(Yearly, st.just(2), st.integers(1, 29), hhmm_near_change),
    cron_specs(),
)


@settings(max_examples=60, deadline=None)
@given(specs)
def test_specs_survive_a_trip_through_json(spec) -> None:
    stored = json.loads(json.dumps(spec_to_dict(spec)))
    again = spec_from_dict(spec_type(spec), stored)
    assert spec_to_dict(again) == spec_to_dict(spec)
    if not isinstance(spec, (Once, Interval)):  # aware datetimes come back with a fixed offset
        assert again == spec
    # compared as instants: Python compares two times of one zone by wall clock,
    # and a time inside a DST gap has two wall-clock spellings
    after = datetime(2026, 6, 1, tzinfo=UTC)
    first, second = next_run(again, after, BERLIN), next_run(spec, after, BERLIN)
    assert (first is None and second is None) or first.astimezone(UTC) == second.astimezone(UTC)


def test_stored_forms_are_readable() -> None:
    assert spec_to_dict(Weekly(frozenset({3, 0}), time(3, 0))) == {"days": ["mon", "thu"], "at": "03:00"}
    assert spec_to_dict(Interval(6, "hours", at(BERLIN, "2026-05-01 10:00"))) == {
        "every": 6,
        "unit": "hours",
        "start": "2026-05-01T10:00:00+02:00",
    }
    assert [spec_type(s) for s in (Once(at(BERLIN, "2026-05-01 10:00")), Cron("* * * * *"))] == ["once", "cron"]


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("hourly", {}, "unknown schedule type 'hourly'; expected one of once, interval, daily"),
        ("daily", {}, r"stored daily schedule \{\} is malformed"),
        ("daily", {"at": "25:00"}, "stored daily schedule .* is malformed"),
        ("weekly", {"days": ["xyz"], "at": "03:00"}, "stored weekly schedule .* is malformed"),
        ("monthly", {"day": 40, "at": "03:00"}, "monthly: day of month must be 1 to 31, got 40"),
        ("once", {"at": "2026-01-01T10:00:00"}, "once: the time 2026-01-01 10:00 has no time zone"),
    ],
)
def test_bad_stored_specs_are_refused(kind, config, message) -> None:
    with pytest.raises(ScheduleError, match=message):
        spec_from_dict(kind, config)


# --- the period check ---------------------------------------------------------------------


def test_period_keys_follow_the_local_calendar() -> None:
    late_may_utc = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # already June 1 in Berlin
    assert period_key("daily", late_may_utc, BERLIN) == (2026, 6, 1)
    assert period_key("monthly", late_may_utc, BERLIN) == (2026, 6)
    assert period_key("monthly", late_may_utc, NEW_YORK) == (2026, 5)
    assert period_key("yearly", late_may_utc, BERLIN) == (2026,)
    assert period_key("weekly", at(BERLIN, "2027-01-01 12:00"), BERLIN) == (2026, 53)  # ISO week
    assert period_key("weekly", at(BERLIN, "2026-12-28 00:00"), BERLIN) == (2026, 53)
    assert period_key("weekly", at(BERLIN, "2027-01-04 00:00"), BERLIN) == (2027, 1)
    for other in ("once", "interval", "cron"):
        assert period_key(other, late_may_utc, BERLIN) is None
