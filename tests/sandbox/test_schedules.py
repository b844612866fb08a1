"""EventBridge Scheduler in the sandbox: `fire_due_schedules` runs a due one-time schedule's universal
target as Scheduler does — once, as the schedule's role, with the target's Input (control.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from esmctl.sandbox import SandboxControl
from esmctl.sandbox.control import fire_due_schedules
from tests.sandbox.test_sandbox import ACCOUNT, REGION, deploy, error_of, wait_status

AT = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DELETE_ENDPOINT = "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def scheduler(mocked: SandboxControl, boto_session: Any) -> Any:
    return boto_session.client("scheduler")


def _role(iam: Any, name: str, endpoint: str | None) -> str:
    """A timer role that may delete `endpoint` only (None: no permission at all)."""
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])
    if endpoint is not None:
        iam.put_role_policy(RoleName=name, PolicyName="delete", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sagemaker:DeleteEndpoint",
                "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{endpoint.lower()}"}]}))
    return arn


def _timer(scheduler: Any, name: str, endpoint: str, role_arn: str, *, at: dt.datetime = AT,
           after: str = "NONE") -> None:
    scheduler.create_schedule(
        Name=name, ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})", ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion=after,
        Target={"Arn": DELETE_ENDPOINT, "RoleArn": role_arn, "Input": json.dumps({"EndpointName": endpoint})})


def test_a_due_timer_deletes_its_endpoint_once(sm: Any, iam: Any, scheduler: Any) -> None:
    keep, stop = deploy(sm, "Endpoint-keep")["endpoint"], deploy(sm, "Endpoint-Stop")["endpoint"]
    wait_status(sm, keep, "InService")
    wait_status(sm, stop, "InService")
    _timer(scheduler, "stop-timer", stop, _role(iam, "timer", stop))

    assert fire_due_schedules(now=AT - dt.timedelta(seconds=1)) == []  # not yet
    assert {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]} == {keep, stop}

    (run,) = fire_due_schedules(now=AT)
    assert (run.name, run.target, run.input, run.error) == ("stop-timer", DELETE_ENDPOINT, {"EndpointName": stop}, "")
    assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == [keep]
    assert error_of(sm.describe_endpoint, EndpointName=stop)["Code"] == "ValidationException"
    assert fire_due_schedules(now=AT + dt.timedelta(days=1)) == []  # one-time: it does not run again
    assert scheduler.get_schedule(Name="stop-timer")["Name"] == "stop-timer"  # ActionAfterCompletion NONE keeps it


def test_action_after_completion_delete_removes_the_schedule(sm: Any, iam: Any, scheduler: Any) -> None:
    name = deploy(sm)["endpoint"]
    wait_status(sm, name, "InService")
    _timer(scheduler, "stop-timer", name, _role(iam, "timer", name), after="DELETE")
    (run,) = fire_due_schedules(now=AT)
    assert run.error == ""
    assert scheduler.list_schedules()["Schedules"] == []


def test_timezone_of_the_schedule_is_honoured(sm: Any, iam: Any, scheduler: Any) -> None:
    name = deploy(sm)["endpoint"]
    wait_status(sm, name, "InService")
    scheduler.create_schedule(
        Name="berlin", ScheduleExpression="at(2030-01-02T04:04:05)", ScheduleExpressionTimezone="Europe/Berlin",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": DELETE_ENDPOINT, "RoleArn": _role(iam, "timer", name),
                "Input": json.dumps({"EndpointName": name})})
    assert fire_due_schedules(now=AT - dt.timedelta(seconds=1)) == []  # 04:04:05 in Berlin is 03:04:05 UTC
    assert [r.name for r in fire_due_schedules(now=AT)] == ["berlin"]


def test_the_role_must_allow_deleting_that_endpoint(sm: Any, iam: Any, scheduler: Any) -> None:
    first, second = deploy(sm, "Endpoint-a")["endpoint"], deploy(sm, "Endpoint-b")["endpoint"]
    wait_status(sm, first, "InService")
    wait_status(sm, second, "InService")
    _timer(scheduler, "wrong-endpoint", second, _role(iam, "timer-a", first))  # may delete `first` only
    _timer(scheduler, "no-role", first, f"arn:aws:iam::{ACCOUNT}:role/never-created")
    runs = {r.name: r for r in fire_due_schedules(now=AT)}
    assert runs["wrong-endpoint"].error.startswith("AccessDeniedException: ")
    assert "sagemaker:DeleteEndpoint" in runs["wrong-endpoint"].error
    assert "could not assume role" in runs["no-role"].error
    assert {e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]} == {first, second}


def test_a_gone_endpoint_is_reported_as_the_api_would(sm: Any, iam: Any, scheduler: Any) -> None:
    _timer(scheduler, "stop-timer", "Endpoint-gone", _role(iam, "timer", "Endpoint-gone"))
    (run,) = fire_due_schedules(now=AT)
    assert run.error.startswith("ValidationException: Could not find endpoint")
