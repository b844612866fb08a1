"""`stop --idle-for`: the CloudWatch Period must be one GetMetricData accepts for the age of the
window's start (else CloudWatch silently returns no data points and a busy endpoint looks idle)."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path
from typing import Any

import pytest

from esmctl.api import Workspace
from esmctl.metrics import MAX_DATAPOINTS, MAX_METRICS, metric_period
from esmctl.state import DeploymentState, EndpointRecord, State

NOW = dt.datetime(2026, 11, 27, 12, 0, 17, tzinfo=dt.UTC)
HOUR, DAY = 3600, 86400


def required_unit(age: dt.timedelta) -> int:
    """The MetricStat "Period" rule, as the CloudWatch API reference words it."""
    if age <= dt.timedelta(days=15):
        return 60
    if age <= dt.timedelta(days=63):
        return 300
    return 3600


@pytest.mark.parametrize(("window", "unit"), [
    (1 * HOUR, 60), (5 * HOUR, 60), (20 * DAY, 300), (70 * DAY, 3600),
    (90, 60), (30, 60), (15 * DAY, 300), (63 * DAY, 3600), (14 * DAY + 23.5 * HOUR, 300),
    (20 * DAY + 7, 300), (70 * DAY + 1234, 3600), (400 * DAY, 3600),
])
def test_the_period_is_a_multiple_the_api_accepts_for_the_age_of_the_start(window: float, unit: int) -> None:
    start = NOW - dt.timedelta(seconds=window)
    period = metric_period(window, NOW, start)
    assert period % unit == 0
    # still valid when the call reaches CloudWatch a little later and it rounds StartTime down an hour
    assert period % required_unit(NOW - start + dt.timedelta(hours=1)) == 0
    # it covers the window with one or two data points, never over the per-call limit
    assert period <= max(window, unit)
    points = -(-window // period)
    assert 1 <= points <= 2 and points * MAX_METRICS <= MAX_DATAPOINTS


def test_examples() -> None:
    def p(seconds: float) -> int:
        return metric_period(seconds, NOW, NOW - dt.timedelta(seconds=seconds))
    assert p(1 * HOUR) == 3600
    assert p(5 * HOUR) == 5 * 3600
    assert p(20 * DAY) == 20 * DAY  # a multiple of 300
    assert p(20 * DAY + 299) == 20 * DAY
    assert p(70 * DAY + 3599) == 70 * DAY  # a multiple of 3600
    assert p(59) == 60


def test_idle_asks_cloudwatch_with_an_accepted_period_for_a_20_day_window(tmp_path: Path) -> None:
    """The period `Workspace.idle` sends. It used to be the window rounded to a minute: 1728060 s for
    20 days and a minute, not a multiple of 300, so CloudWatch would answer with no data ("idle")."""
    window = 20 * DAY + 60
    seen: dict[str, Any] = {}

    def invocation_sums(names: list[str], *, start: dt.datetime, end: dt.datetime, period: int) -> dict[str, float]:
        seen.update(names=names, start=start, end=end, period=period)
        return {"ep-a": 12.0}

    state = State(region="us-east-2", environment="dev")
    state.deployments["a"] = DeploymentState(selector="ESMC-300M", suffix="00000000", forge_model_name="m",
                                             endpoint=EndpointRecord(name="ep-a", created=True, status="InService"))
    created = NOW - dt.timedelta(days=40)
    observed = types.SimpleNamespace(endpoint=lambda name: types.SimpleNamespace(status="InService", created=created))
    ws = Workspace(tmp_path / "esmctl.yaml")
    ws._aws = types.SimpleNamespace(cloudwatch=types.SimpleNamespace(invocation_sums=invocation_sums))  # type: ignore[assignment]
    ws.read_state = lambda: state  # type: ignore[method-assign]
    ws._refresh = lambda st: (observed, [])  # type: ignore[method-assign,assignment,return-value]
    (row,) = ws.idle(window, now=NOW)
    assert seen["start"] == NOW - dt.timedelta(seconds=window) and seen["end"] == NOW
    assert seen["period"] % 300 == 0, seen["period"]
    assert row["invocations"] == 12.0 and row["idle"] is False
