"""Working calendars: weekends, public holidays, make-up working days and working-hour arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eresident.workflow.calendar import (
    CalendarError,
    add_working_hours,
    available_calendars,
    load_calendar,
    parse_calendar,
    working_hours_between,
)
from tests.workflow.builders import CAL, local

# The State Council's 2026 arrangement (国办发明电〔2025〕7号): days off, and make-up working days.
HOLIDAYS_2026 = {
    "2026-01-01", "2026-01-02", "2026-01-03",
    "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20", "2026-02-21",
    "2026-02-22", "2026-02-23",
    "2026-04-04", "2026-04-05", "2026-04-06",
    "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
    "2026-06-19", "2026-06-20", "2026-06-21",
    "2026-09-25", "2026-09-26", "2026-09-27",
    "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
}
MAKEUP_2026 = {"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"}


def add(start: datetime, hours: float) -> datetime:
    return add_working_hours(start, hours, CAL)


def test_both_regions_have_a_calendar():
    assert {"LJ", "TF"} <= set(available_calendars())
    lj, tf = load_calendar("LJ"), load_calendar("TF")
    assert lj.timezone == tf.timezone == "Asia/Shanghai"
    assert lj.holidays == tf.holidays  # both follow the national arrangement
    assert lj.makeup_working_days == tf.makeup_working_days
    assert 2027 in lj.provisional_years
    assert "to be checked" in lj.status


def test_2026_holidays_and_makeup_days_are_the_published_ones():
    got = {d.isoformat() for d in CAL.holidays if d.year == 2026}
    assert got == HOLIDAYS_2026
    assert {d.isoformat() for d in CAL.makeup_working_days} == MAKEUP_2026
    for day in MAKEUP_2026:
        assert date.fromisoformat(day).weekday() >= 5, day


def test_2027_has_the_statutory_holidays():
    assert {date(2027, 1, 1), date(2027, 2, 6), date(2027, 4, 5), date(2027, 5, 1), date(2027, 6, 9),
            date(2027, 9, 15), date(2027, 10, 1)} <= set(CAL.holidays)
    assert CAL.covers(date(2027, 3, 1)) and not CAL.covers(date(2028, 3, 1))


def test_within_a_morning():
    assert add(local(2026, 3, 2, 9), 2) == local(2026, 3, 2, 11)


def test_across_lunch():
    assert add(local(2026, 3, 2, 11), 2) == local(2026, 3, 2, 14, 30)


def test_work_that_ends_at_closing_time_ends_there():
    assert add(local(2026, 3, 2, 16, 30), 1) == local(2026, 3, 2, 17, 30)


def test_across_the_night():
    assert add(local(2026, 3, 2, 17), 1) == local(2026, 3, 3, 9, 30)


def test_starting_before_opening_and_at_night():
    assert add(local(2026, 3, 2, 6), 1) == local(2026, 3, 2, 10)
    assert add(local(2026, 3, 2, 23, 59), 1) == local(2026, 3, 3, 10)
    assert add(local(2026, 3, 2, 12, 10), 0.5) == local(2026, 3, 2, 14)


def test_across_a_weekend():
    # Friday 6 March 16:30 + 3 h: 1 h on Friday, 2 h on Monday 9 March
    assert add(local(2026, 3, 6, 16, 30), 3) == local(2026, 3, 9, 11)
    # Saturday is not a working day
    assert add(local(2026, 3, 7, 10), 1) == local(2026, 3, 9, 10)


def test_a_full_week_is_five_days_of_seven_hours():
    assert add(local(2026, 3, 2, 9), 35) == local(2026, 3, 6, 17, 30)
    assert working_hours_between(local(2026, 3, 2), local(2026, 3, 9), CAL) == 35


def test_across_the_spring_festival():
    # Friday 13 Feb 2026, 16:30: 1 h on Friday; Saturday 14 Feb is a make-up working day;
    # 15–23 Feb are off; work resumes on Tuesday 24 Feb.
    assert add(local(2026, 2, 13, 16, 30), 1) == local(2026, 2, 13, 17, 30)
    assert add(local(2026, 2, 13, 16, 30), 2) == local(2026, 2, 14, 10)
    assert add(local(2026, 2, 13, 16, 30), 8) == local(2026, 2, 14, 17, 30)
    assert add(local(2026, 2, 13, 16, 30), 9) == local(2026, 2, 24, 10)


def test_makeup_saturday_is_a_working_day_and_a_holiday_monday_is_not():
    assert CAL.is_working_day(date(2026, 2, 28))       # Saturday, make-up day
    assert not CAL.is_working_day(date(2026, 2, 21))   # Saturday inside the holiday
    assert not CAL.is_working_day(date(2026, 2, 23))   # Monday inside the holiday
    assert CAL.is_working_day(date(2026, 2, 24))
    assert not CAL.is_working_day(date(2026, 3, 7))    # an ordinary Saturday


def test_national_day_week():
    # Wednesday 30 Sept 17:00 + 1 h → the holiday runs to 7 Oct, then Thursday 8 Oct
    assert add(local(2026, 9, 30, 17), 1) == local(2026, 10, 8, 9, 30)
    # Sunday 20 Sept is a make-up working day
    assert add(local(2026, 9, 19, 12), 1) == local(2026, 9, 20, 10)


def test_hours_between_counts_only_working_time():
    assert working_hours_between(local(2026, 3, 2, 11), local(2026, 3, 2, 14, 30), CAL) == 2
    assert working_hours_between(local(2026, 3, 6, 17), local(2026, 3, 9, 10), CAL) == 1.5
    assert working_hours_between(local(2026, 2, 13), local(2026, 3, 2), CAL) == 49  # see above
    assert working_hours_between(local(2026, 3, 2, 14, 30), local(2026, 3, 2, 11), CAL) == -2


def test_utc_in_utc_out():
    start = local(2026, 3, 2, 11).astimezone(UTC)
    end = add(start, 2)
    assert end.tzinfo is UTC
    assert end == local(2026, 3, 2, 14, 30)


def test_zero_hours_is_the_start_itself_and_negative_is_refused():
    start = local(2026, 3, 7, 3)
    assert add(start, 0) == start
    with pytest.raises(ValueError):
        add(start, -1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add(datetime(2026, 3, 2, 9), 1)


def test_far_from_the_data_only_weekdays_count():
    # 2031 has no holiday data: Mon 3 Feb 2031 + 7 h is the same day's close
    assert add(local(2031, 2, 3, 9), 7) == local(2031, 2, 3, 17, 30)
    assert add(local(2025, 6, 2, 9), 7) == local(2025, 6, 2, 17, 30)


def test_a_long_deadline_crosses_a_year():
    # 2000 working hours from March 2026 ends in 2027
    assert add(local(2026, 3, 2, 9), 2000).year == 2027


def test_next_working_time():
    assert CAL.next_working_time(local(2026, 3, 7, 10)) == local(2026, 3, 9, 9)
    assert CAL.next_working_time(local(2026, 3, 9, 9, 5)) == local(2026, 3, 9, 9, 5)
    assert CAL.in_working_time(local(2026, 3, 9, 13)) is False


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 12, 31)),
       st.floats(min_value=0, max_value=500, allow_nan=False))
def test_adding_then_measuring_gives_the_hours_back(start, hours):
    start = start.replace(tzinfo=UTC)
    end = add(start, hours)
    assert end >= start
    assert working_hours_between(start, end, CAL) == pytest.approx(hours, abs=1e-6)
    assert CAL.in_working_time(end) or hours == 0 or end.astimezone(CAL.zone).time().strftime("%H:%M") in (
        "12:00", "17:30")


# --- calendar files ---------------------------------------------------------------------------

GOOD = """\
id: XX
name: Test
timezone: Asia/Shanghai
working_hours:
  mon: ["09:00-12:00"]
holidays:
  2026-03-02: A holiday
makeup_working_days:
  2026-03-07: A Saturday
"""


def test_a_calendar_file_is_read():
    cal = parse_calendar(GOOD)
    assert cal.id == "XX"
    assert cal.periods_on(date(2026, 3, 9)) == ((540, 720),)
    assert cal.periods_on(date(2026, 3, 2)) == ()
    assert cal.periods_on(date(2026, 3, 7)) == ((540, 720),)   # make-up day: the first weekday's hours
    assert cal.periods_on(date(2026, 3, 10)) == ()


@pytest.mark.parametrize(("change", "line", "message"), [
    (("mon: [\"09:00-12:00\"]", "mon: [\"12:00-09:00\"]"), 5, "period '12:00-09:00' must end after it starts"),
    (("mon: [\"09:00-12:00\"]", "mon: [\"9-12\"]"), 5, "'9-12' is not a period"),
    (("mon:", "monday:"), 5, "'monday' is not a weekday"),
    (("2026-03-07: A Saturday", "2026-03-09: A Monday"), 9, "2026-03-09 is a mon, already a working day"),
    (("2026-03-07: A Saturday", "2026-03-02: Same"), 9, "2026-03-02 is both a holiday and a make-up"),
    (("2026-03-02: A holiday", "2026-13-02: A holiday"), 7, "'2026-13-02' is not a date"),
    (("timezone: Asia/Shanghai", "timezone: Mars/Base"), 3, "unknown timezone 'Mars/Base'"),
    (("id: XX", "id: x"), 1, "'id' must be a region code"),
    (("name: Test", "name: Test\ncolour: red"), 3, "unknown field 'colour'"),
])
def test_calendar_mistakes_name_the_line(change, line, message):
    with pytest.raises(CalendarError) as caught:
        parse_calendar(GOOD.replace(*change), source_name="XX.yaml")
    (problem,) = caught.value.problems
    assert problem.line == line
    assert message in problem.message


def test_a_calendar_without_working_time_cannot_reach_a_deadline():
    cal = parse_calendar(GOOD.replace('mon: ["09:00-12:00"]', "mon: []").replace(
        "makeup_working_days:\n  2026-03-07: A Saturday\n", ""))
    with pytest.raises(CalendarError, match="no working time"):
        cal.add_working_hours(local(2026, 3, 2), 1)


def test_unknown_calendar_id():
    with pytest.raises(CalendarError, match="no calendar 'ZZ'"):
        load_calendar("ZZ")


def test_arithmetic_is_fast_enough_for_the_simulation():
    # a binary search over a table, not a walk through the days: 10,000 far deadlines are quick
    start = local(2026, 3, 2, 9)
    began = datetime.now()
    for i in range(10_000):
        CAL.add_seconds_ts(start.timestamp() + i * 600, 3600 * 300)
    assert datetime.now() - began < timedelta(seconds=5)


def test_threads_growing_the_table_at_once_agree_with_one_thread():
    from concurrent.futures import ThreadPoolExecutor

    shipped = load_calendar("LJ")
    from importlib import resources

    data = (resources.files("eresident") / "data" / "calendars" / "LJ.yaml").read_text(encoding="utf-8")
    starts = [local(2020 + (i % 15), 1 + i % 12, 1 + i % 28, i % 24).timestamp() for i in range(400)]
    expected = [shipped.add_seconds_ts(ts, 3600 * (1 + i % 300)) for i, ts in enumerate(starts)]
    fresh = parse_calendar(data)  # the same data in a calendar whose table is still empty
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda pair: fresh.add_seconds_ts(pair[1], 3600 * (1 + pair[0] % 300)),
                            enumerate(starts)))
    assert got == expected
