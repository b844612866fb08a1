"""CloudWatch query shapes for `stop --idle-for`: which Period GetMetricData accepts. Pure, no AWS calls.

What AWS documents (CloudWatch API reference, MetricStat "Period" and GetMetricData "StartTime",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html and
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html):

- a standard-resolution metric (SageMaker's `Invocations` is one) takes a Period that is a multiple
  of 60; only high-resolution metrics, for a StartTime within the last 3 hours, also take 1, 5, 10,
  20 or 30;
- StartTime between 3 hours and 15 days ago: a multiple of 60; between 15 and 63 days ago: a
  multiple of 300; more than 63 days ago: a multiple of 3600. Otherwise *no data points come back*,
  without an error — an endpoint would look idle although it was called;
- CloudWatch rounds StartTime down (to the minute, the 5 minutes or the hour by the same age
  bands), so the time asked for is a little older than the StartTime sent;
- one call returns at most 100,800 data points (more are paged with NextToken) for up to 500 metrics.

`stop --idle-for` needs the Sum of Invocations over the whole window, so the coarsest accepted
period not longer than the window is best: one or two data points per endpoint, whatever the window.
"""

from __future__ import annotations

import datetime as dt

MINUTE, FIVE_MINUTES, HOUR = 60, 300, 3600
# Age bands of StartTime (see the module docstring) → the unit the Period must be a multiple of.
BANDS = ((dt.timedelta(days=15), MINUTE), (dt.timedelta(days=63), FIVE_MINUTES))
# StartTime ages within this much of a band's edge count as the older band: CloudWatch rounds
# StartTime down by up to an hour, and the request reaches it some seconds after `now`. A multiple
# of 300 (or 3600) is also a multiple of 60 (or 300), so erring towards the older band is always valid.
EDGE_SLACK = dt.timedelta(hours=1)
MAX_DATAPOINTS = 100_800  # per GetMetricData call, over all its metrics
MAX_METRICS = 500  # MetricDataQueries per call


def period_unit(age: dt.timedelta) -> int:
    """What a Period must be a multiple of when StartTime is `age` old (standard resolution)."""
    for limit, unit in BANDS:
        if age + EDGE_SLACK < limit:
            return unit
    return HOUR


def metric_period(window_seconds: float, now: dt.datetime, start: dt.datetime) -> int:
    """A Period (seconds) GetMetricData accepts for a query from `start` to `now` that sums a
    standard-resolution metric over the window of `window_seconds`.

    The coarsest multiple of the unit required for the age of `start` that is not longer than the
    window (at least one unit): the window is then covered by one or two data points per metric, far
    below MAX_DATAPOINTS / MAX_METRICS, and their Sum is the count over the window. E.g. 1 h → 3600,
    5 h → 18000 (multiples of 60); 20 days → 1728000 (of 300); 70 days → 6048000 (of 3600).
    """
    unit = period_unit(now - start)
    return max(unit, int(window_seconds // unit) * unit)
