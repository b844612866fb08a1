"""Idle endpoints: which running endpoints had no invocation in a window (CloudWatch), and
`stop --idle-for`, which stops them (for cron). An endpoint younger than the window is never idle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from esmctl import state as state_mod
from esmctl.api.deploy import Deploying, DeployResult


@dataclass
class IdleStop:
    """What `stop_idle` found, and what it stopped (`stopped` is None when it stopped nothing)."""

    window: float  # seconds
    endpoints: list[dict[str, Any]]  # `idle()`'s rows
    idle: list[str]  # the deployments without an invocation in the window
    dry_run: bool
    stopped: DeployResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {"window_seconds": self.window, "endpoints": self.endpoints, "idle": self.idle,
                "dry_run": self.dry_run}


class Idling(Deploying):
    def idle(self, window: float, names: Iterable[str] = (), *, now: dt.datetime | None = None
             ) -> list[dict[str, Any]]:
        """For each running endpoint: invocations in the last `window` seconds (CloudWatch) and
        whether it is idle. An endpoint younger than the window is never idle."""
        now = now or state_mod.utcnow()
        names = list(names)
        state = self.read_state()
        if state is None:
            return []
        observed, _ = self._refresh(state)
        rows = []
        candidates: dict[str, str] = {}
        for dname, dep in sorted(state.deployments.items()):
            if names and dname not in names:
                continue
            ep = dep.endpoint
            seen = observed.endpoint(ep.name) if ep else None
            if dep.desired != "running" or ep is None or seen is None or seen.status != "InService":
                continue
            since = seen.created or state_mod.parse_iso(dep.started_at)
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=dt.UTC)
            age = (now - since).total_seconds() if since else 0.0
            row = {"name": dname, "endpoint_name": ep.name, "age_seconds": round(age), "invocations": None,
                   "idle": False, "reason": ""}
            if age < window:
                row["reason"] = "younger than the window"
            else:
                candidates[ep.name] = dname
            rows.append(row)
        if candidates:
            from esmctl.metrics import metric_period

            start = now - dt.timedelta(seconds=window)
            # A Period GetMetricData accepts for a StartTime that old, else it silently returns nothing
            period = metric_period(window, now, start)
            sums = self.aws.cloudwatch.invocation_sums(sorted(candidates), start=start, end=now, period=period)
            for row in rows:
                if row["endpoint_name"] in candidates:
                    n = sums.get(row["endpoint_name"], 0.0)
                    row["invocations"] = n
                    row["idle"] = n == 0
                    row["reason"] = "no invocations in the window" if n == 0 else f"{n:.0f} invocations"
        return rows

    def stop_idle(self, window: float, names: Iterable[str] = (), *, dry_run: bool = False, yes: bool = False,
                  wait: bool = True, show_idle: Callable[[IdleStop], None] | None = None, show_plan: Any = None,
                  now: dt.datetime | None = None) -> IdleStop:
        """Stop the running deployments (of `names`, else all) that had no invocation in the last
        `window` seconds; `dry_run` only reports them. `show_idle(found)` renders the findings
        before `stop` asks; the deployments are recorded as stopped by "idle"."""
        rows = self.idle(window, names, now=now)
        found = IdleStop(window, rows, [r["name"] for r in rows if r["idle"]], dry_run)
        if show_idle is not None:
            show_idle(found)
        if not dry_run and found.idle:
            found.stopped = self.stop(found.idle, yes=yes, wait=wait, by="idle", show_plan=show_plan)
        return found
