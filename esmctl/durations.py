"""Durations ("8h", "1h30m", "45m", "2d") and times ("2026-12-01T19:00") typed by people, and
durations written for them. Pure."""

from __future__ import annotations

import datetime as dt
import os
import re

from esmctl.errors import EsmctlError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


NOW_ENV = "ESMCTL_NOW"  # an ISO time: the clock esmctl reads instead of the machine's (tests, "what if" projections)


def utcnow() -> dt.datetime:
    """The wall clock (aware, UTC); ESMCTL_NOW fixes it."""
    fixed = os.environ.get(NOW_ENV, "").strip()
    if fixed:
        try:
            t = dt.datetime.fromisoformat(fixed.replace("Z", "+00:00"))
        except ValueError:
            raise EsmctlError(f"{NOW_ENV}={fixed!r} is not an ISO time.",
                              hint=f"Use e.g. {NOW_ENV}=2026-12-01T19:00Z, or unset it.") from None
        return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC)


def parse_duration(text: str, flag: str) -> float:
    """Seconds in `text`; an EsmctlError naming the flag when it is not a duration."""
    t = text.strip().lower().replace(" ", "")
    parts = _PART.findall(t)
    if not t or "".join(n + u for n, u in parts) != t:
        raise EsmctlError(f"{flag} {text!r} is not a duration.", hint=f"Use e.g. {flag} 8h, 90m, 1h30m or 2d.")
    seconds = sum(float(n) * _UNIT[u] for n, u in parts)
    if seconds <= 0:
        raise EsmctlError(f"{flag} must be longer than zero.", hint=f"Use e.g. {flag} 8h.")
    return seconds


def parse_time(text: str, flag: str, now: dt.datetime) -> dt.datetime:
    """An aware UTC time; a time without a zone is the machine's local time. Must be in the future."""
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise EsmctlError(
            f"{flag} {text!r} is not a time.",
            hint=f"Use ISO 8601, e.g. {flag} 2026-12-01T19:00 (local time) or 2026-12-01T19:00Z.") from None
    if t.tzinfo is None:
        t = t.astimezone()  # local time of this machine
    t = t.astimezone(dt.UTC)
    if t <= now:
        raise EsmctlError(f"{flag} {text!r} is in the past ({t.isoformat(timespec='minutes')} UTC).",
                          hint="Give a time in the future.")
    return t


def human(seconds: float) -> str:
    s = int(seconds)
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, _ = divmod(rem, 60)
    return "".join(f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m")) if v) or f"{s}s"


def fmt_duration(seconds: float | None) -> str:
    """5s, 11m54s, 1h02m: never mistakable for a clock time."""
    if seconds is None:
        return "?"
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
