"""Office hours: weekly ranges such as "Mon-Fri 08:00-19:00" in an IANA time zone, the
EventBridge Scheduler cron expressions that start and end them, whether a moment lies inside them,
the next start and end, and how many hours of a period they cover. Pure: no AWS, no clock.

A range is `DAYS HH:MM-HH:MM`: DAYS is a day (Mon … Sun), a span of days (Mon-Fri, Fri-Mon wraps
over the weekend) or a comma list of both (Mon,Wed,Fri-Sat), or `daily`. A range whose end is not
after its start runs past midnight: "Fri 22:00-02:00" ends on Saturday at 02:00. Times are wall-clock
times of the zone, so a range keeps its hours across daylight-saving changes, as EventBridge
Scheduler does with ScheduleExpressionTimezone ("Schedule types on EventBridge Scheduler",
cron-based schedules: "EventBridge Scheduler … adjusts your schedule for daylight saving time").

Cron: EventBridge Scheduler's six fields `cron(minutes hours day-of-month month day-of-week year)`,
with `?` in day-of-month when day-of-week is given and day names SUN … SAT (EventBridge Scheduler
User Guide, "Schedule types", cron expressions).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # index = datetime.weekday()
_RANGE = re.compile(r"^\s*(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
WEEK_HOURS = 7 * 24
MONTH_HOURS = 730.0  # 8,760 h a year / 12: the "monthly" of AWS's own price pages


@dataclass(frozen=True)
class Range:
    """One weekly range: the days it starts on, its start and end (minutes after midnight)."""

    days: tuple[int, ...]  # 0 = Monday
    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    @property
    def end_days(self) -> tuple[int, ...]:
        """The days it ends on (the next day for a range past midnight)."""
        return tuple(sorted({(d + 1) % 7 for d in self.days})) if self.overnight else self.days

    @property
    def minutes(self) -> int:
        return (self.end - self.start) % (24 * 60) or 24 * 60

    def text(self) -> str:
        return f"{day_list(self.days).title()} {_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    h, m = (int(x) for x in text.split(":"))
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{text!r} is not a time of day (00:00 … 23:59)")
    return h * 60 + m


def _day(text: str) -> int:
    t = text.strip().upper()[:3]
    if t not in DAYS or len(text.strip()) not in (3, len(_FULL[DAYS.index(t)])):
        raise ValueError(f"{text.strip()!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return DAYS.index(t)


_FULL = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


def _days(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("daily", "every day", "mon-sun"):
        return tuple(range(7))
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = (_day(x) for x in part.split("-", 1))
            out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            out.add(_day(part))
    return tuple(sorted(out))


def parse(text: str) -> Range:
    """A range from "Mon-Fri 08:00-19:00"; ValueError saying what would be valid."""
    m = _RANGE.match(text if isinstance(text, str) else "")
    if not m:
        raise ValueError(f"{text!r} is not a range like \"Mon-Fri 08:00-19:00\"")
    start, end = _minutes(m["start"]), _minutes(m["end"])
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time; leave out `schedule:` to run around the clock")
    return Range(_days(m["days"]), start, end)


def zone(name: str) -> ZoneInfo:
    """The IANA zone; ValueError when this machine does not know it."""
    try:
        if name in ("", "local") or name != name.strip():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = sorted(z for z in available_timezones() if z.lower().endswith(name.lower().split("/")[-1]))[:3]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"{name!r} is not an IANA time zone like Europe/Berlin or America/New_York{hint}") from None


def _spans(ds: list[int], names: tuple[str, ...]) -> str:
    out, i = [], 0
    while i < len(ds):
        j = i
        while j + 1 < len(ds) and ds[j + 1] == ds[j] + 1:
            j += 1
        out.append(names[ds[i]] if i == j else f"{names[ds[i]]}-{names[ds[j]]}" if j > i + 1
                   else f"{names[ds[i]]},{names[ds[j]]}")
        i = j + 1
    return ",".join(out)


def day_list(days: tuple[int, ...]) -> str:
    """MON-FRI, MON,WED,FRI, SAT,SUN: consecutive days as spans, Monday first (what a range shows)."""
    return _spans(sorted(days), DAYS)


CRON_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron's day-of-week 1-7


def cron_days(days: tuple[int, ...]) -> str:
    """cron's day-of-week field: `*` for every day; else in cron's SUN … SAT order, consecutive days
    as spans that never wrap past SAT (a span such as SAT-SUN or MON-SUN is 7-1 or 2-1 in cron's
    numbering: wrapping ranges are not documented for EventBridge, and other crons skip them)."""
    if len(set(days)) == 7:
        return "*"
    return _spans(sorted({(d + 1) % 7 for d in days}), CRON_DAYS)


def cron(minute_of_day: int, days: tuple[int, ...]) -> str:
    return f"cron({minute_of_day % 60} {minute_of_day // 60} ? * {cron_days(days)} *)"


def edges(ranges: list[Range], after_start: int = 0) -> dict[str, list[str]]:
    """{"start": [cron …], "end": [cron …]}: one expression per distinct time of day (a cron
    expression has one time), each on every day a range starts (ends) at that time. `after_start`
    minutes > 0: "start" is that long after each start instead (on the next day past midnight)."""
    out: dict[str, list[str]] = {}
    for edge in ("start", "end"):
        at: dict[int, set[int]] = {}
        for r in ranges:
            t, days = (r.start + after_start, r.days) if edge == "start" else (r.end, r.end_days)
            at.setdefault(t % (24 * 60), set()).update((d + t // (24 * 60)) % 7 for d in days)
        out[edge] = [cron(t, tuple(sorted(d))) for t, d in sorted(at.items())]
    return out


Span = tuple[dt.datetime, dt.datetime]


def _intervals(ranges: list[Range], tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[Span]:
    """The on-intervals (aware, UTC) overlapping [start, end], merged."""
    local0 = start.astimezone(tz).date() - dt.timedelta(days=1)
    spans = []
    for i in range((end - start).days + 3):
        day = local0 + dt.timedelta(days=i)
        for r in ranges:
            if day.weekday() in r.days:
                a = dt.datetime.combine(day, dt.time(r.start // 60, r.start % 60), tz)
                b_day = day + dt.timedelta(days=1) if r.overnight else day
                b = dt.datetime.combine(b_day, dt.time(r.end // 60, r.end % 60), tz)
                spans.append((a.astimezone(dt.UTC), b.astimezone(dt.UTC)))
    spans.sort()
    merged: list[Span] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b > start and a < end]


def is_on(ranges: list[Range], tz: ZoneInfo, now: dt.datetime) -> bool:
    return any(a <= now < b for a, b in _intervals(ranges, tz, now, now + dt.timedelta(seconds=1)))


def next_edges(ranges: list[Range], tz: ZoneInfo, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(next start, next end) after `now`, within the coming eight days."""
    spans = _intervals(ranges, tz, now, now + dt.timedelta(days=8))
    start = next((a for a, _ in spans if a > now), None)
    end = next((b for _, b in spans if b > now), None)
    return start, end


def last_start(ranges: list[Range], tz: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    """When the range `now` lies in began (None outside the hours)."""
    spans = _intervals(ranges, tz, now - dt.timedelta(days=8), now + dt.timedelta(seconds=1))
    return next((a for a, b in reversed(spans) if a <= now < b), None)


def hours_on(ranges: list[Range], tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> float:
    """Hours inside the ranges between `start` and `end`."""
    if end <= start:
        return 0.0
    return sum((min(b, end) - max(a, start)).total_seconds() for a, b in _intervals(ranges, tz, start, end)) / 3600


def weekly_hours(ranges: list[Range]) -> float:
    """Hours on in a week (a range past midnight counted whole; overlaps once)."""
    week = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)  # a Monday; UTC: no daylight-saving change inside
    return hours_on(ranges, ZoneInfo("UTC"), week, week + dt.timedelta(days=7))


def monthly_hours(ranges: list[Range] | None) -> float:
    """Hours on in an average month (MONTH_HOURS around the clock)."""
    return MONTH_HOURS if ranges is None else MONTH_HOURS * weekly_hours(ranges) / WEEK_HOURS


def clash(ranges: list[Range]) -> bool:
    """Whether two ranges overlap or touch (one's end would stop what the other keeps on): then fewer
    merged spans begin in a week than the ranges start on days."""
    week = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    spans = _intervals(ranges, ZoneInfo("UTC"), week - dt.timedelta(days=7), week + dt.timedelta(days=14))
    return sum(week <= a < week + dt.timedelta(days=7) for a, _ in spans) != sum(len(r.days) for r in ranges)
