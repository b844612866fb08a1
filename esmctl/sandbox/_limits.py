"""Limits AWS enforces and moto does not: IAM policy sizes, CloudWatch's period rules.

See docs/aws-behaviour.md.
- IAM (`control.enforce_iam_limits`), "IAM and AWS STS quotas" page of the IAM User Guide
  (reference_iam-quotas.html, "IAM and STS character limits"), counted without whitespace:
  a managed policy (CreatePolicy, CreatePolicyVersion) at most 6,144 characters → LimitExceeded
  "Cannot exceed quota for PolicySize: 6144"; all inline policies of one role at most 10,240, of a
  user 2,048, of a group 5,120 (PutRolePolicy/PutUserPolicy/PutGroupPolicy) → LimitExceeded
  "Maximum policy size of 10240 bytes exceeded for role <name>". HTTP 409, as botocore's
  iam service-2.json models LimitExceededException.
- CloudWatch (`control.enforce_metric_periods`), API reference MetricStat.Period and
  GetMetricStatistics.Period: "If the StartTime parameter specifies a time stamp that is greater
  than 3 hours ago, you must specify the period as follows or no data points in that time range is
  returned": a multiple of 60 s for a StartTime 3 hours to 15 days ago, of 300 s for 15 to 63 days,
  of 3,600 s beyond. GetMetricData then answers that query with no Values/Timestamps (StatusCode
  Complete); GetMetricStatistics with no Datapoints.
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend
from moto.iam.exceptions import LimitExceededException
from moto.iam.models import IAMBackend

from .control import control
from .patching import original, replace

MANAGED_POLICY_SIZE = 6144
INLINE_POLICY_SIZE = {"role": 10240, "user": 2048, "group": 5120}  # aggregate per principal
_WHITESPACE = re.compile(r"\s+")
# (StartTime older than, Period must be a multiple of), oldest first.
PERIOD_RULES = ((timedelta(days=63), 3600), (timedelta(days=15), 300), (timedelta(hours=3), 60))


def policy_size(document: Any) -> int:
    """A policy document's size as IAM counts it: characters, whitespace not counted."""
    return len(_WHITESPACE.sub("", document if isinstance(document, str) else str(document or "")))


def _check_managed(document: Any) -> None:
    if control.enforce_iam_limits and policy_size(document) > MANAGED_POLICY_SIZE:
        raise LimitExceededException(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")


def _check_inline(kind: str, holder: Any, name: str, policy_name: str, document: Any) -> None:
    if not control.enforce_iam_limits:
        return
    others = sum(policy_size(doc) for key, doc in dict(holder.policies).items() if key != policy_name)
    limit = INLINE_POLICY_SIZE[kind]
    if others + policy_size(document) > limit:
        raise LimitExceededException(f"Maximum policy size of {limit} bytes exceeded for {kind} {name}")


def _create_policy(self: IAMBackend, *args: Any, **kwargs: Any) -> Any:
    _check_managed(kwargs.get("policy_document", args[2] if len(args) > 2 else None))
    return original(IAMBackend, "create_policy")(self, *args, **kwargs)


def _create_policy_version(self: IAMBackend, policy_arn: str, policy_document: str, set_as_default: bool) -> Any:
    _check_managed(policy_document)
    return original(IAMBackend, "create_policy_version")(self, policy_arn, policy_document, set_as_default)


def _put_role_policy(self: IAMBackend, role_name: str, policy_name: str, policy_json: str) -> None:
    _check_inline("role", self.get_role(role_name), role_name, policy_name, policy_json)
    original(IAMBackend, "put_role_policy")(self, role_name, policy_name, policy_json)


def _put_user_policy(self: IAMBackend, user_name: str, policy_name: str, policy_json: str) -> None:
    _check_inline("user", self.get_user(user_name), user_name, policy_name, policy_json)
    original(IAMBackend, "put_user_policy")(self, user_name, policy_name, policy_json)


def _put_group_policy(self: IAMBackend, group_name: str, policy_name: str, policy_json: str) -> None:
    _check_inline("group", self.get_group(group_name), group_name, policy_name, policy_json)
    original(IAMBackend, "put_group_policy")(self, group_name, policy_name, policy_json)


# --------------------------------------------------------------------------------------------
# CloudWatch periods


def period_allowed(period: Any, start_time: datetime, now: datetime | None = None) -> bool:
    """Whether CloudWatch returns data points for `period` seconds from `start_time` on."""
    if not control.enforce_metric_periods:
        return True
    try:
        seconds = int(period)
    except (TypeError, ValueError):
        return True
    start = start_time if start_time.tzinfo else start_time.replace(tzinfo=UTC)
    age = (now or datetime.now(UTC)) - start
    for older_than, multiple in PERIOD_RULES:
        if age > older_than:
            return seconds % multiple == 0
    return True


def _get_metric_data(self: CloudWatchBackend, queries: list[dict[str, Any]], start_time: datetime,
                     end_time: datetime, scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = original(CloudWatchBackend, "get_metric_data")(
        self, queries, start_time, end_time, scan_by)
    blank = {q["Id"] for q in queries
             if not period_allowed((q.get("MetricStat") or {}).get("Period", q.get("Period")), start_time)}
    for result in results:
        if result.get("id") in blank:
            result["values"], result["timestamps"] = [], []
    return results


def _get_metric_statistics(self: CloudWatchBackend, namespace: str, metric_name: str, start_time: datetime,
                           end_time: datetime, period: int, *args: Any, **kwargs: Any) -> Any:
    data = original(CloudWatchBackend, "get_metric_statistics")(
        self, namespace, metric_name, start_time, end_time, period, *args, **kwargs)
    return data if period_allowed(period, start_time) else []


def install() -> None:
    replace(IAMBackend, "create_policy", _create_policy)
    replace(IAMBackend, "create_policy_version", _create_policy_version)
    replace(IAMBackend, "put_role_policy", _put_role_policy)
    replace(IAMBackend, "put_user_policy", _put_user_policy)
    replace(IAMBackend, "put_group_policy", _put_group_policy)
    replace(CloudWatchBackend, "get_metric_data", _get_metric_data)
    replace(CloudWatchBackend, "get_metric_statistics", _get_metric_statistics)
