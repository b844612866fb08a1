"""Stop timers through the planner and the executor, against the in-memory fake AWS (tests/fakes.py)
whose EventBridge Scheduler fires on a fake clock: `deploy --ttl` sets a schedule whose role may
delete only that endpoint, a second timer keeps the role, `start` removes the timer."""

from __future__ import annotations

import datetime as dt
import json

from esmctl.plan import plan_only
from esmctl.resources import stop_timer
from tests.fakes import EPOCH, Env

PERF, PROTO = "performance_model", "prototype_model"
HOUR = dt.timedelta(hours=1)


def endpoint_arn(env: Env, dep: str) -> str:
    return env.aws.sagemaker.arn("endpoint", env.state.deployments[dep].endpoint.name)  # type: ignore[union-attr]


def timer_role(env: Env, dep: str) -> str:
    return stop_timer.role_name("esm", "dev", env.state.deployments[dep].suffix)


def set_timers(env: Env, at: dt.datetime, targets: tuple[str, ...] = ()) -> None:
    """What `esmctl stop --at` does: a plan of the timers alone, applied."""
    env.refresh()
    out = env.apply(plan_only(env.planning(targets=targets), lambda ctx: stop_timer.plan_at(ctx, at)))
    assert out.failures == []


def test_deploy_with_a_stop_time_sets_a_schedule_whose_role_may_only_delete_that_endpoint(env: Env) -> None:
    out = env.deploy(ttl=2 * 3600)
    assert out.failures == []
    at = env.clock.utcnow() + 2 * HOUR  # two hours after the run, not after the plan (the wait took a while)
    assert at > EPOCH + 2 * HOUR + dt.timedelta(minutes=5)

    for dep in (PERF, PROTO):
        name = stop_timer.schedule_name("dev", dep)
        schedule = env.aws.scheduler.schedules[name]
        endpoint = env.state.deployments[dep].endpoint.name  # type: ignore[union-attr]
        assert schedule["At"] == at.strftime("%Y-%m-%dT%H:%M:%S") and schedule["Endpoint"] == endpoint
        role = env.aws.iam.roles[timer_role(env, dep).lower()]
        assert schedule["RoleArn"] == role["Arn"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert role["attached"] == set() and list(role["inline"]) == [stop_timer.POLICY_NAME]
        (statement,) = json.loads(role["inline"][stop_timer.POLICY_NAME])["Statement"]
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
            "Allow", "sagemaker:DeleteEndpoint", endpoint_arn(env, dep))
        rec = env.state.deployments[dep].stop_schedule
        assert rec is not None and rec.created and rec.role_arn == role["Arn"]
        # set once the endpoint is there (the plan's last phase)
        assert env.aws.ops("CreateSchedule", "CreateEndpoint")[-1].op == "CreateSchedule"

    env.clock.advance((3 * HOUR).total_seconds())  # this machine could be off: AWS stops the endpoints
    assert [env.aws.sagemaker.status(e) for e in ("Endpoint-ESMC-300M-1-00000001", "Endpoint-ESMC-300M-1-00000002")] \
        == [None, None]
    assert {s["fired"] for s in env.aws.scheduler.schedules.values()} == {"ok"}


def test_a_second_timer_replaces_the_schedule_and_keeps_the_role(env: Env) -> None:
    assert env.deploy(ttl=2 * 3600).failures == []
    first_at = (env.clock.utcnow() + 2 * HOUR).strftime("%Y-%m-%dT%H:%M:%S")
    role = timer_role(env, PROTO)
    arn = env.aws.iam.roles[role.lower()]["Arn"]
    env.aws.reset_calls()

    set_timers(env, EPOCH + 5 * HOUR, targets=(PROTO,))
    assert env.aws.count("CreateRole") == 0 and env.aws.count("DeleteRole") == 0  # a new role is not assumable at once
    assert env.aws.iam.roles[role.lower()]["Arn"] == arn
    schedules = env.aws.scheduler.schedules
    assert schedules[stop_timer.schedule_name("dev", PROTO)]["At"] == "2030-01-01T17:00:00"
    assert schedules[stop_timer.schedule_name("dev", PERF)]["At"] == first_at  # not a target
    assert env.state.deployments[PROTO].stop_schedule.at == "2030-01-01T17:00:00Z"  # type: ignore[union-attr]

    env.clock.advance((3 * HOUR).total_seconds())  # only the untouched timer has fired
    assert env.aws.sagemaker.status(env.state.deployments[PROTO].endpoint.name) == "InService"  # type: ignore[union-attr]
    assert env.aws.sagemaker.status(env.state.deployments[PERF].endpoint.name) is None  # type: ignore[union-attr]


def test_start_after_the_timer_fired_brings_the_endpoint_back_and_removes_the_timer(env: Env) -> None:
    assert env.deploy(ttl=3600).failures == []
    endpoint = env.state.deployments[PROTO].endpoint.name  # type: ignore[union-attr]
    role = timer_role(env, PROTO)
    env.clock.advance((2 * HOUR).total_seconds())
    env.refresh()
    assert env.state.deployments[PROTO].stopped_by == "schedule"

    # `esmctl start prototype_model`: desired running again, and its timer replaced
    dep = env.state.deployments[PROTO]
    dep.desired, dep.stopped_at, dep.stopped_by = "running", None, None
    dep.stop_schedule.cancel = True  # type: ignore[union-attr]
    p = env.plan(refresh=False, targets=(PROTO,))
    assert [a.action for a in p.shown] == ["delete_schedule", "create_endpoint"]
    out = env.apply(p)

    assert out.failures == []
    assert env.aws.sagemaker.status(endpoint) == "InService"
    assert stop_timer.schedule_name("dev", PROTO) not in env.aws.scheduler.schedules
    assert role.lower() not in env.aws.iam.roles
    assert env.state.deployments[PROTO].stop_schedule is None
    assert env.saved()["deployments"][PROTO]["stop_schedule"] is None
    assert stop_timer.schedule_name("dev", PERF) in env.aws.scheduler.schedules  # the other one's stays


def test_start_before_the_timer_fired_removes_the_timer_and_keeps_the_endpoint(env: Env) -> None:
    assert env.deploy(ttl=3600).failures == []
    env.refresh()
    env.state.deployments[PROTO].stop_schedule.cancel = True  # type: ignore[union-attr]
    p = env.plan(refresh=False, targets=(PROTO,))
    assert [a.action for a in p.shown] == ["delete_schedule"]
    assert env.apply(p).failures == []

    env.clock.advance((2 * HOUR).total_seconds())
    assert env.aws.sagemaker.status(env.state.deployments[PROTO].endpoint.name) == "InService"  # type: ignore[union-attr]
    assert env.aws.count("DeleteRolePolicy") == 1 and env.aws.count("DeleteRole") == 1
