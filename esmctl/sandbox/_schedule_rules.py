"""EventBridge Scheduler's rules for a schedule's expression and time zone (moto 5.2.5 checks neither).

Plain Python (no moto): `_consistency.py` calls `schedule_problem()` in its CreateSchedule /
UpdateSchedule wrappers and answers ValidationException with what it returns. What AWS accepts:

- `ScheduleExpression` (CreateSchedule API reference, botocore scheduler service-2.json): `at(yyyy-mm-ddThh:mm:ss)`,
  `rate(value unit)` — "a value as a positive integer, and a unit with the following options: minute |
  minutes | hour | hours | day | days" — or `cron(fields)`: "six fields separated by white spaces:
  (minutes hours day_of_month month day_of_week year)".
- The cron fields and their wildcards (EventBridge Scheduler User Guide, "Schedule types", cron-based
  schedules, docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html, which shares the table
  of the EventBridge User Guide's "cron expressions"): minutes 0-59 `, - * /`; hours 0-23 `, - * /`;
  day-of-month 1-31 `, - * ? / L W`; month 1-12 or JAN-DEC `, - * /`; day-of-week 1-7 or SUN-SAT
  `, - * ? L #`; year 1970-2199 `, - * /`. "You can't specify the Day-of-month and Day-of-week fields in
  the same cron expression. If you specify a value or a * (asterisk) in one of the fields, you must use
  a ? (question mark) in the other." With `#`, only one expression in day-of-week.
- A wrong expression is refused with `ValidationException: Invalid Schedule Expression <expression>.`
  (the wording AWS answers, as quoted in localstack/localstack#9284 and used by its scheduler provider).
- `ScheduleExpressionTimezone`: a time zone of the IANA database ("Time zones on EventBridge Scheduler",
  same page; botocore: 1 to 50 characters). The refusal's wording is the sandbox's own.
"""

from __future__ import annotations

import datetime as dt
import re

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")

_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}

# field → (lowest, highest, names, extra wildcards besides `, - * /`)
_FIELDS: tuple[tuple[str, int, int, dict[str, int], str], ...] = (
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _DAYS, "?L#"),
    ("year", 1970, 2199, {}, ""),
)


def invalid_expression(expression: str) -> str:
    return f"Invalid Schedule Expression {expression}."


def invalid_timezone(timezone: str) -> str:
    return f"Invalid ScheduleExpressionTimezone {timezone}: not a time zone of the IANA time zone database."


def schedule_problem(expression: str | None, timezone: str | None) -> str | None:
    """What EventBridge Scheduler says about this expression and time zone; None when it accepts them."""
    if timezone is not None and not valid_timezone(timezone):
        return invalid_timezone(timezone)
    if expression is not None and not valid_expression(expression):
        return invalid_expression(expression)
    return None


def valid_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not 1 <= len(name) <= 50 or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def valid_expression(expression: str) -> bool:
    if not isinstance(expression, str):
        return False
    at = _AT.match(expression)
    if at:
        try:
            dt.datetime.fromisoformat(at.group(1))
        except ValueError:
            return False
        return True
    rate = _RATE.match(expression)
    if rate:
        return int(rate.group(1)) > 0
    cron = _CRON.match(expression)
    return cron is not None and valid_cron_fields(cron.group(1))


def valid_cron_fields(text: str) -> bool:
    """The inside of `cron(...)`: six fields, each within its range and wildcards, `?` in exactly one
    of day-of-month and day-of-week."""
    fields = text.split()
    if len(fields) != len(_FIELDS) or text != text.strip() or "  " in text:
        return False
    if (fields[2] == "?") == (fields[4] == "?"):  # exactly one of them is "?"
        return False
    return all(_valid_field(value, *spec[1:]) for value, spec in zip(fields, _FIELDS, strict=True))


def _number(token: str, low: int, high: int, names: dict[str, int]) -> int | None:
    value = names.get(token.upper()) if names else None
    if value is None and token.isdigit():
        value = int(token)
    return value if value is not None and low <= value <= high else None


def _valid_field(value: str, low: int, high: int, names: dict[str, int], extra: str) -> bool:
    if value == "?":
        return "?" in extra
    items = value.split(",")
    if "#" in value and len(items) != 1:  # "If you use the '#' character, you can define only one expression"
        return False
    return all(_valid_item(item, low, high, names, extra) for item in items)


def _valid_item(item: str, low: int, high: int, names: dict[str, int], extra: str) -> bool:
    if not item:
        return False
    if "L" in extra:
        if item == "L" or (item == "LW" and "W" in extra):
            return True
        if "#" in extra and item.endswith("L"):  # day-of-week "6L": the last Friday of the month
            return _number(item[:-1], low, high, names) is not None
    if "W" in extra and item.endswith("W"):  # day-of-month "3W": the weekday nearest the 3rd
        return _number(item[:-1], low, high, names) is not None
    if "#" in extra and "#" in item:  # day-of-week "3#2": the second Tuesday
        day, _, nth = item.partition("#")
        return _number(day, low, high, names) is not None and nth.isdigit() and 1 <= int(nth) <= 5
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return False
    if base == "*":
        return True
    start, dash, end = base.partition("-")
    first = _number(start, low, high, names)
    if first is None:
        return False
    return not dash or _number(end, low, high, names) is not None
