"""Office-hours ranges (esmctl/hours.py): what a `schedule:` range means, the EventBridge Scheduler cron
expressions it becomes, and when it is on — across daylight-saving changes and in zones other than UTC.
Fixed clocks only."""

from __future__ import annotations

import datetime as dt

import pytest

from esmctl import hours

UTC = dt.UTC
BERLIN = hours.zone("Europe/Berlin")
UTC_ZONE = hours.zone("UTC")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def parse(*texts: str) -> list[hours.Range]:
    return [hours.parse(t) for t in texts]


# --- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "days", "start", "end"), [
    ("Mon-Fri 08:00-19:00", (0, 1, 2, 3, 4), 8 * 60, 19 * 60),
    ("Fri-Mon 10:00-12:00", (0, 4, 5, 6), 10 * 60, 12 * 60),  # wraps over the weekend
    ("Mon,Wed,Fri-Sat 9:00-10:30", (0, 2, 4, 5), 9 * 60, 10 * 60 + 30),
    ("mon - fri 08:00 - 19:00", (0, 1, 2, 3, 4), 8 * 60, 19 * 60),
    ("Monday-Friday 08:00-19:00", (0, 1, 2, 3, 4), 8 * 60, 19 * 60),
    ("daily 06:00-22:00", tuple(range(7)), 6 * 60, 22 * 60),
    ("Sun 00:00-23:59", (6,), 0, 23 * 60 + 59),
])
def test_a_range_is_days_and_wall_clock_times(text: str, days: tuple[int, ...], start: int, end: int) -> None:
    r = hours.parse(text)
    assert (r.days, r.start, r.end, r.overnight) == (days, start, end, False)


def test_a_range_whose_end_is_not_after_its_start_runs_past_midnight() -> None:
    r = hours.parse("Fri 22:00-02:00")
    assert r.overnight and r.days == (4,) and r.end_days == (5,) and r.minutes == 4 * 60
    assert hours.parse("Sun 20:00-06:00").end_days == (0,)  # Sunday night ends on Monday
    assert hours.parse("Fri-Mon 10:00-12:00").text() == "Mon,Fri-Sun 10:00-12:00"


@pytest.mark.parametrize(("text", "message"), [
    ("Mon-Fri 8-19", "is not a range like \"Mon-Fri 08:00-19:00\""),
    ("Mon-Fri", "is not a range like"),
    ("", "is not a range like"),
    ("Mon-Fri 25:00-26:00", "'25:00' is not a time of day (00:00 … 23:59)"),
    ("Mon-Fri 24:00-01:00", "'24:00' is not a time of day"),
    ("Mon-Fri 08:60-09:00", "'08:60' is not a time of day"),
    ("Mo-Fr 08:00-19:00", "'Mo' is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
    ("Mond 08:00-09:00", "'Mond' is not a day"),
    ("Mon-Fri-Sat 08:00-09:00", "'Fri-Sat' is not a day"),
    ("Mon,,Tue 08:00-09:00", "'' is not a day"),
    ("Mon-Fri 08:00-08:00", "starts and ends at the same time; leave out `schedule:` to run around the clock"),
])
def test_a_bad_range_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        hours.parse(text)
    assert message in str(e.value)


def test_a_time_zone_must_be_an_iana_name_with_a_suggestion() -> None:
    assert hours.zone("America/New_York").key == "America/New_York"
    for bad in ("", "local", " Europe/Berlin", "CEST"):
        with pytest.raises(ValueError, match="is not an IANA time zone like Europe/Berlin"):
            hours.zone(bad)
    with pytest.raises(ValueError, match="did you mean Europe/Berlin"):
        hours.zone("Berlin")


# --- cron expressions ------------------------------------------------------------------------------
def test_weekdays_become_one_start_and_one_end_expression() -> None:
    assert hours.edges(parse("Mon-Fri 08:00-19:00")) == {
        "start": ["cron(0 8 ? * MON-FRI *)"], "end": ["cron(0 19 ? * MON-FRI *)"]}


def test_ranges_share_an_expression_per_time_of_day() -> None:
    assert hours.edges(parse("Mon-Thu 08:00-19:00", "Fri 08:00-15:00")) == {
        "start": ["cron(0 8 ? * MON-FRI *)"],
        "end": ["cron(0 15 ? * FRI *)", "cron(0 19 ? * MON-THU *)"]}
    assert hours.edges(parse("Mon-Fri 07:30-12:15", "Sat 09:45-13:00")) == {
        "start": ["cron(30 7 ? * MON-FRI *)", "cron(45 9 ? * SAT *)"],
        "end": ["cron(15 12 ? * MON-FRI *)", "cron(0 13 ? * SAT *)"]}


def test_an_overnight_range_ends_on_the_next_day() -> None:
    assert hours.edges(parse("Fri 22:00-02:00")) == {"start": ["cron(0 22 ? * FRI *)"], "end": ["cron(0 2 ? * SAT *)"]}
    assert hours.edges(parse("Sat 22:00-02:00"))["end"] == ["cron(0 2 ? * SUN *)"]


@pytest.mark.parametrize(("text", "field"), [
    ("daily 06:00-22:00", "*"),
    ("Sat-Sun 08:00-10:00", "SUN,SAT"),
    ("Fri-Mon 10:00-12:00", "SUN,MON,FRI,SAT"),
    ("Sun-Thu 07:00-15:00", "SUN-THU"),
    ("Mon-Sat 07:00-15:00", "MON-SAT"),
    ("Mon,Wed,Fri 07:00-15:00", "MON,WED,FRI"),
])
def test_day_of_week_is_in_crons_sun_to_sat_order_and_never_wraps(text: str, field: str) -> None:
    """cron numbers the days 1 (SUN) … 7 (SAT): a span such as SAT-SUN or MON-SUN would be 7-1 or 2-1."""
    (start,) = hours.edges(parse(text))["start"]
    assert start == f"cron(0 {hours.parse(text).start // 60} ? * {field} *)"


# --- on or off, across daylight-saving changes -------------------------------------------------------
def test_berlin_office_hours_keep_their_wall_clock_times_when_summer_time_starts() -> None:
    r = parse("Mon-Fri 08:00-19:00")
    # Friday 2026-03-27 is winter time (UTC+1); Monday 2026-03-30 summer time (UTC+2): 29 March changed it
    assert not hours.is_on(r, BERLIN, at(2026, 3, 27, 6, 59)) and hours.is_on(r, BERLIN, at(2026, 3, 27, 7, 0))
    assert hours.is_on(r, BERLIN, at(2026, 3, 27, 17, 59)) and not hours.is_on(r, BERLIN, at(2026, 3, 27, 18, 0))
    assert hours.next_edges(r, BERLIN, at(2026, 3, 28, 12)) == (at(2026, 3, 30, 6), at(2026, 3, 30, 17))
    assert hours.is_on(r, BERLIN, at(2026, 3, 30, 6, 0)) and not hours.is_on(r, BERLIN, at(2026, 3, 30, 5, 59))
    assert hours.last_start(r, BERLIN, at(2026, 3, 30, 7)) == at(2026, 3, 30, 6)
    assert hours.last_start(r, BERLIN, at(2026, 3, 30, 5)) is None


def test_berlin_office_hours_keep_their_wall_clock_times_when_summer_time_ends() -> None:
    r = parse("Mon-Fri 08:00-19:00")
    assert hours.next_edges(r, BERLIN, at(2026, 10, 23, 12)) == (at(2026, 10, 26, 7), at(2026, 10, 23, 17))
    assert hours.next_edges(r, BERLIN, at(2026, 10, 24, 12)) == (at(2026, 10, 26, 7), at(2026, 10, 26, 18))
    assert not hours.is_on(r, BERLIN, at(2026, 10, 26, 6, 30)) and hours.is_on(r, BERLIN, at(2026, 10, 26, 7, 30))


def test_an_overnight_range_over_the_change_is_an_hour_shorter_or_longer() -> None:
    r = parse("Sat 22:00-04:00")
    spring = hours.hours_on(r, BERLIN, at(2026, 3, 23), at(2026, 3, 30))
    autumn = hours.hours_on(r, BERLIN, at(2026, 10, 19), at(2026, 10, 26))
    assert (spring, autumn) == (5.0, 7.0)
    assert hours.next_edges(r, BERLIN, at(2026, 3, 28, 12)) == (at(2026, 3, 28, 21), at(2026, 3, 29, 2))


def test_a_zone_ahead_of_utc_starts_its_monday_on_sunday_in_utc() -> None:
    tokyo, r = hours.zone("Asia/Tokyo"), parse("Mon-Fri 08:00-19:00")
    assert hours.is_on(r, tokyo, at(2026, 12, 6, 23, 30))  # Sunday 23:30 UTC is Monday 08:30 in Tokyo
    assert not hours.is_on(r, tokyo, at(2026, 12, 11, 10, 0))  # Friday 19:00 in Tokyo: just ended
    assert hours.next_edges(r, tokyo, at(2026, 12, 12)) == (at(2026, 12, 13, 23), at(2026, 12, 14, 10))


def test_new_york_office_hours_across_its_own_change() -> None:
    ny, r = hours.zone("America/New_York"), parse("Mon-Fri 09:00-17:00")
    # 2026-03-08: EST (UTC-5) → EDT (UTC-4)
    assert hours.next_edges(r, ny, at(2026, 3, 6, 23)) == (at(2026, 3, 9, 13), at(2026, 3, 9, 21))
    assert hours.is_on(r, ny, at(2026, 3, 6, 14)) and not hours.is_on(r, ny, at(2026, 3, 9, 12, 30))


def test_an_overnight_range_is_on_after_midnight() -> None:
    r = parse("Fri 22:00-02:00")
    assert hours.is_on(r, UTC_ZONE, at(2026, 12, 12, 1, 59))  # Saturday
    assert not hours.is_on(r, UTC_ZONE, at(2026, 12, 12, 2, 0))
    assert hours.next_edges(r, UTC_ZONE, at(2026, 12, 12, 1)) == (at(2026, 12, 18, 22), at(2026, 12, 12, 2))



# --- hours on ----------------------------------------------------------------------------------------
def test_hours_on_in_a_month() -> None:
    r = parse("Mon-Fri 08:00-19:00")
    # December 2026: 23 weekdays; October 2026 in Berlin: 22 weekdays, the change inside it costs nothing
    assert hours.hours_on(r, BERLIN, at(2026, 12, 1), at(2027, 1, 1)) == 23 * 11
    assert hours.hours_on(r, BERLIN, at(2026, 10, 1), at(2026, 11, 1)) == 22 * 11
    assert hours.hours_on(r, BERLIN, at(2026, 12, 10, 12), at(2026, 12, 10, 15)) == 3  # inside: clipped
    assert hours.hours_on(r, BERLIN, at(2026, 12, 10, 15), at(2026, 12, 10, 12)) == 0


def test_weekly_and_monthly_hours() -> None:
    assert hours.weekly_hours(parse("Mon-Fri 08:00-19:00")) == 55
    assert hours.weekly_hours(parse("Mon-Thu 08:00-19:00", "Fri 08:00-15:00")) == 51
    assert hours.weekly_hours(parse("Sun 22:00-02:00")) == 4  # counted whole though it crosses the week
    assert hours.monthly_hours(None) == hours.MONTH_HOURS == 730
    assert hours.monthly_hours(parse("Mon-Fri 08:00-19:00")) == pytest.approx(730 * 55 / 168)


# --- ranges that overlap or touch ------------------------------------------------------------------
@pytest.mark.parametrize(("texts", "clash"), [
    (("Mon-Thu 08:00-19:00", "Fri 08:00-15:00"), False),
    (("Mon-Fri 08:00-12:00", "Mon-Fri 13:00-19:00"), False),
    (("Mon-Fri 08:00-12:00", "Mon-Fri 12:00-19:00"), True),  # touching: one's end would stop the other
    (("Mon-Fri 08:00-19:00", "Wed 18:00-20:00"), True),
    (("Fri 22:00-02:00", "Sat 01:00-05:00"), True),
    (("Fri 22:00-02:00", "Sat 02:00-05:00"), True),
    (("Sun 22:00-02:00", "Mon 08:00-10:00"), False),  # crosses the week's edge without meeting
    (("Sun 22:00-02:00", "Mon 01:00-03:00"), True),
    (("Sun 20:00-00:00", "Mon 00:00-02:00"), True),
    (("Sat-Sun 10:00-12:00", "Mon-Fri 10:00-12:00"), False),
])
def test_clashing_ranges_are_found(texts: tuple[str, ...], clash: bool) -> None:
    assert hours.clash(parse(*texts)) is clash
