"""The month's projected spend against `budget.monthly_usd`: what `plan`, `status` and `deploy`
show, and what `deploy` refuses to go past without `--over-budget`. Pure: no AWS, no clock (the
caller passes `now`).

Projected month = spent so far this month + what runs for the rest of it:
- spent so far: each endpoint that exists now, at its hourly price × the hours since it started
  (or since the month began). Endpoints that ran earlier this month and were stopped since are not
  known to esmctl and not counted.
- the rest of the month: each deployment that will be running, at its hourly price × its instance
  count (an autoscaled one at its `min_instances`: what it costs when idle) × the hours it is on
  until the month ends (all of them, or those inside its office hours).

Prices are esmctl's estimates (esmctl/prices.py: on-demand instance hours, Marketplace software
fee extra). WARN_AT: the share of the budget from which plan and status warn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from esmctl import hours, prices
from esmctl.state import parse_iso

if TYPE_CHECKING:
    from esmctl.config import Config, Deployment
    from esmctl.state import State

WARN_AT = 0.8


@dataclass(frozen=True)
class Line:
    """One deployment's part of the rest of the month."""

    name: str
    instance_type: str
    instances: int  # billed per hour (an autoscaled deployment: its minimum)
    usd_per_hour: float | None  # None: no known price
    hours: float  # on until the month ends
    scheduled: bool

    @property
    def usd(self) -> float:
        return (self.usd_per_hour or 0.0) * self.hours


@dataclass(frozen=True)
class Projection:
    budget_usd: float | None
    month: str  # 2026-12
    now: dt.datetime
    hours_left: float
    spent_usd: float
    lines: tuple[Line, ...] = field(default_factory=tuple)

    @property
    def remaining_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def projected_usd(self) -> float:
        return self.spent_usd + self.remaining_usd

    @property
    def share(self) -> float | None:
        return self.projected_usd / self.budget_usd if self.budget_usd else None

    @property
    def level(self) -> str:
        """"none" (no budget), "ok", "warning" (≥ WARN_AT of it) or "over"."""
        s = self.share
        return "none" if s is None else "over" if s > 1 else "warning" if s >= WARN_AT else "ok"

    @property
    def unknown_prices(self) -> list[str]:
        return sorted({line.instance_type for line in self.lines if line.usd_per_hour is None})

    def describe(self) -> str:
        return describe(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "budget_usd": self.budget_usd, "month": self.month, "now": self.now.isoformat().replace("+00:00", "Z"),
            "hours_left": round(self.hours_left, 2), "spent_usd": round(self.spent_usd, 2),
            "remaining_usd": round(self.remaining_usd, 2), "projected_usd": round(self.projected_usd, 2),
            "share": None if self.share is None else round(self.share, 4), "level": self.level,
            "warn_at": WARN_AT, "unknown_prices": self.unknown_prices, "estimates": True,
            "deployments": {ln.name: {"instance_type": ln.instance_type, "instances": ln.instances,
                                      "usd_per_hour": None if ln.usd_per_hour is None else round(ln.usd_per_hour, 4),
                                      "hours": round(ln.hours, 2), "usd": round(ln.usd, 2),
                                      "scheduled": ln.scheduled} for ln in self.lines},
        }


def describe(doc: dict[str, Any]) -> str:
    """One line for a person, from `Projection.to_json()` (status --json's `budget`)."""
    text = (f"Projected {doc['month']}: ${doc['projected_usd']:,.2f} (spent so far ~${doc['spent_usd']:,.2f}, "
            f"~${doc['remaining_usd']:,.2f} in the {doc['hours_left']:,.0f} h left)")
    if doc["budget_usd"]:
        text += f" of a ${doc['budget_usd']:,.2f} budget ({100 * doc['share']:.0f} %)"
    return text + "; estimates, Marketplace fee extra."


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The UTC month `now` lies in: [first instant, first instant of the next month)."""
    start = now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def idle_count(want: Deployment | None, count: int) -> int:
    """The instances a deployment bills when nobody calls it: an autoscaled one's minimum, else `count`."""
    return want.autoscaling.min_instances if want is not None and want.autoscaling is not None else count


def line(name: str, itype: str, count: int, want: Deployment | None, config: Config, now: dt.datetime) -> Line:
    """A deployment's cost for the rest of the month: at its autoscaling minimum, in its office hours."""
    _, end = month_bounds(now)
    count = idle_count(want, count)
    sched = want.schedule if want is not None else None
    h = (hours.hours_on(sched.ranges, hours.zone(sched.timezone), now, end) if sched is not None
         else (end - now).total_seconds() / 3600)
    return Line(name, itype, count, prices.cost(itype, count, config.region, config.settings.prices), h,
                sched is not None)


def project(config: Config, running: dict[str, tuple[str, int]], spent_usd: float, now: dt.datetime) -> Projection:
    """The month's projection: `running` are the deployments that run from now on → (instance type, count)."""
    start, end = month_bounds(now)
    lines = tuple(line(n, itype, count, config.deployments.get(n), config, now)
                  for n, (itype, count) in sorted(running.items()))
    budget = config.settings.budget.monthly_usd if config.settings.budget else None
    return Projection(budget, start.strftime("%Y-%m"), now, (end - now).total_seconds() / 3600, spent_usd, lines)


def recorded(config: Config, state: State | None, billed: dict[str, tuple[str, int]],
             now: dt.datetime) -> tuple[float, dict[str, tuple[str, int]]]:
    """(estimated spend so far this month, the deployments that run from now on → (type, count): those
    whose endpoint exists and those meant to run) as the state records them. `billed`: the endpoints that
    exist now → (type, count running).

    Spent: a deployment with office hours at its recorded hardware × the hours inside them since the
    month began (or since it was first deployed): its endpoint is recreated every morning, so the time
    since the endpoint started is not what it cost. Any other endpoint that exists: × the hours since it
    started (or since the month began)."""
    start, _ = month_bounds(now)
    total, going = 0.0, {}
    for name, dep in (state.deployments if state else {}).items():
        want, cfg = config.deployments.get(name), dep.endpoint_config
        if want is not None and want.schedule is not None and dep.desired == "running" and cfg is not None:
            since = max(parse_iso(dep.created_at) or start, start)
            per_h = prices.cost(cfg.instance_type, cfg.instance_count, config.region, config.settings.prices)
            total += (per_h or 0.0) * hours.hours_on(want.schedule.ranges, hours.zone(want.schedule.timezone),
                                                     since, now)
        elif name in billed and dep.started_at:
            itype, count = billed[name]
            per_h = prices.cost(itype, count, config.region, config.settings.prices)
            began = parse_iso(dep.started_at)
            if per_h and began is not None:
                total += per_h * max(0.0, (now - max(began, start)).total_seconds()) / 3600
        if name in billed:
            going[name] = billed[name]
        elif dep.desired == "running" and want is not None and cfg is not None:
            going[name] = (cfg.instance_type, cfg.instance_count)
    return total, going


def monthly(config: Config, want: Deployment) -> tuple[float | None, float]:
    """(usd per average month, hours on per average month) of a deployment as configured: its
    office hours, its instance count (an autoscaled one at its minimum)."""
    count = idle_count(want, want.instance_count)
    h = hours.monthly_hours(want.schedule.ranges if want.schedule else None)
    per_h = prices.cost(want.instance_type, count, config.region, config.settings.prices)
    return (None if per_h is None else per_h * h), h
