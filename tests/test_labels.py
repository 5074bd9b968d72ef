"""Monthly label rules: TP{YYYY}{MM}01, and the month a cartridge belongs to."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapetui.engine.tape.base import LabelInfo
from tapetui.engine.tape.labels import is_this_month, label_month, scheduled_label

dates = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31))


def month_after(d: datetime) -> tuple[int, int]:
    return (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)


@given(dates)
def test_scheduled_label_names_the_month_and_reads_back(d: datetime) -> None:
    label = scheduled_label(d)
    assert label == f"TP{d.year:04d}{d.month:02d}01"
    assert label_month(label) == (d.year, d.month)
    assert is_this_month(label, d)


@given(dates, dates)
def test_a_monthly_label_wins_over_the_format_time(labelled: datetime, formatted: datetime) -> None:
    assert label_month(scheduled_label(labelled), formatted) == (labelled.year, labelled.month)
    info = LabelInfo(scheduled_label(labelled), "TPA001", "TPA001L8", formatted)
    assert label_month(info) == (labelled.year, labelled.month)


@given(st.sampled_from(["ARCHIVE", "TP2025", "TP202513", "TP202500X", "XTP20251101", ""]), dates)
def test_other_labels_use_the_format_time(label: str, formatted: datetime) -> None:
    assert label_month(label, formatted) == (formatted.year, formatted.month)
    assert label_month(LabelInfo(label, None, None, formatted)) == (formatted.year, formatted.month)


def test_nothing_known_means_no_month() -> None:
    assert label_month(None) is None
    assert label_month("ARCHIVE") is None
    assert label_month(LabelInfo(None, None, None, None)) is None
    assert not is_this_month(None, datetime(2025, 11, 1))


def test_lowercase_and_suffixed_monthly_labels() -> None:
    assert label_month("tp20251101") == (2025, 11)
    assert label_month("TP202511-spare") == (2025, 11)


@given(dates.filter(lambda d: d.year < 9999))
def test_last_month_is_not_this_month(d: datetime) -> None:
    year, month = month_after(d)
    later = d.replace(year=year, month=month, day=1)
    assert not is_this_month(scheduled_label(d), later)
    assert not is_this_month(None, later, d.replace(day=1))
    assert is_this_month(None, later, later)


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch):
    """Run with the host in UTC+8 (no DST), restoring the zone afterwards."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_months_are_the_hosts_local_months(shanghai: None) -> None:
    # 2025-10-31 17:00 UTC is already 1 November 01:00 in Shanghai.
    instant = datetime(2025, 10, 31, 17, 0, tzinfo=timezone.utc)
    assert scheduled_label(instant) == "TP20251101"
    assert label_month("ARCHIVE", instant) == (2025, 11)
    assert is_this_month("TP20251101", instant)
    assert not is_this_month("TP20251101", instant - timedelta(hours=2))
