"""Stop timers that work with the laptop closed: EventBridge Scheduler one-time schedules whose
universal target calls SageMaker DeleteEndpoint, with a role that may do only that, on only that
endpoint. Planned by `deploy --ttl` and `stop --at`; replaced by `start` or a new timer; removed by
`destroy`. When one has fired, refresh recognises the vanished endpoint as stopped by its schedule.

Names: a schedule's name is 1-64 of [0-9a-zA-Z-_.] (EventBridge Scheduler API reference,
CreateSchedule "Name"), an IAM role's 1-64 of letters, digits and +=,.@_- (IAM API reference,
CreateRole "RoleName"). A name that fits is used as is; a longer one keeps a readable prefix and ends with a
hash of what it names, so two deployments never share a timer or its role.

A new timer for a deployment that has one replaces only the schedule: the role is kept (its
policy put again). A role created moments ago cannot be assumed by EventBridge Scheduler for
several seconds (IAM is eventually consistent), so deleting and re-creating it on every
`stop --at` would make each new timer race that delay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from esmctl import durations, naming
from esmctl.resources._base import Action, Planning, Run, Spec, handler
from esmctl.state import DeploymentState, ScheduleRecord, iso, parse_iso

PLAN_ORDER = 50  # when it plans (after the endpoint it deletes)
SECTION = 60  # where its shared steps run and show (teardown: reverse)

POLICY_NAME = "esmctl-delete-endpoint"
SCHEDULE_NAME_MAX = 64
HASH_CHARS = 10  # hex digits (40 bits) of the hash that ends a shortened name


@dataclass(frozen=True)
class StopTimer(Spec):
    """`name` is the schedule's."""

    at: str = ""  # ISO time, UTC (`stop --at`) …
    ttl: float = 0.0  # … or seconds after the run that sets it (`deploy --ttl`: after the wait)
    endpoint: str = ""
    role_name: str = ""


def fit(name: str, limit: int, *identity: str) -> str:
    """`name` if it fits in `limit` characters; else its first characters, "-" and a hash of
    `identity` (the parts the name is made of, so distinct parts give distinct names even where the
    joined name is ambiguous). A shortened name ends in HASH_CHARS hex digits after a "-", which no
    name that fits ends in ("-stop", or an 8-digit suffix), so the two kinds never collide."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:HASH_CHARS]
    return f"{name[:limit - HASH_CHARS - 1]}-{digest}"


def schedule_name(environment: str, deployment: str) -> str:
    return fit(f"esmctl-{environment}-{deployment}-stop", SCHEDULE_NAME_MAX, environment, deployment)


def role_name(prefix: str, environment: str, suffix: str) -> str:
    return fit(f"{prefix}-stop-{environment}-{suffix}", naming.IAM_ROLE_MAX, prefix, environment, suffix)


def fit_pattern(pattern: str, limit: int) -> str:
    """An IAM pattern matching what `fit` makes of the names `pattern` matches (its "?" each one
    character, so all those names have its length)."""
    return pattern if len(pattern) <= limit else f"{pattern[:limit - HASH_CHARS - 1]}-" + "?" * HASH_CHARS


def role_name_pattern(prefix: str, environment: str) -> str:
    """An IAM pattern matching exactly the timer roles of this environment (a suffix is 8 hex digits)."""
    return fit_pattern(f"{prefix}-stop-{environment}-" + "?" * 8, naming.IAM_ROLE_MAX)


def scheduler_role(run: Run, role: str, deployment: str, description: str, policy_name: str, policy: str) -> str:
    """A role EventBridge Scheduler may assume, kept when it exists, with its one inline policy put
    (again): its ARN. (A new role cannot be assumed for a few seconds; aws/consistency.py waits that out
    at the CreateSchedule that names it.)"""
    iam = run.aws.iam
    found = iam.get_role(role) or iam.create_role(role, tags=run.tags(deployment), service="scheduler.amazonaws.com",
                                                  description=description)
    iam.put_role_policy(role, policy_name, policy)
    return str(found["Arn"])


def drop_role(run: Run, role: str, policy_name: str) -> None:
    """Delete the role and its inline policy (idempotent)."""
    run.aws.iam.delete_role_policy(role, policy_name)
    run.aws.iam.delete_role(role)


def delete_policy(region: str, account: str, endpoint: str, extra: list[dict[str, Any]] | None = None) -> str:
    """The timer role's policy: DeleteEndpoint on that endpoint, and what other kinds add (`extra`,
    endpoint.rights_to_delete)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DeleteThisEndpointOnly", "Effect": "Allow", "Action": "sagemaker:DeleteEndpoint",
        "Resource": naming.sagemaker_arn(region, account, "endpoint", endpoint)}, *(extra or [])]})


def fired(dep: DeploymentState, now: dt.datetime) -> bool:
    """Whether the deployment's timer is due (so a vanished endpoint was stopped by it)."""
    rec = dep.stop_schedule
    at = parse_iso(rec.at) if rec and rec.created else None
    return at is not None and at <= now


def plan(ctx: Planning) -> None:
    """`deploy --ttl`: a timer on each running deployment in scope, counted from the end of the run;
    `start` (or a fired timer) removes the old one; a removed deployment's timer goes with it."""
    for p in ctx.deployments.values():
        timer = p.have.stop_schedule if p.have else None
        if ctx.ttl and p.running and ctx.config is not None:
            ctx.add("create", _timer(ctx, p.name, p.suffix, p.endpoint_name, ttl=ctx.ttl), p.name, "post",
                    reason=f"EventBridge Scheduler deletes {p.endpoint_name} {durations.human(ctx.ttl)} after this "
                    "deploy; works with this machine off")
        elif timer is not None and p.running and (timer.cancel or timer.fired):
            ctx.add("delete", StopTimer(timer.name, role_name=timer.role_name), p.name,
                    reason="replaced by start" if timer.cancel else "fired; the endpoint was stopped by it")
    for name, (have, _) in ctx.removed.items():
        if have.stop_schedule is not None:
            ctx.add("delete", StopTimer(have.stop_schedule.name, role_name=have.stop_schedule.role_name), name)


def plan_at(ctx: Planning, at: dt.datetime) -> None:
    """`stop --at`: a timer on each recorded deployment in scope that runs now; nothing else."""
    for name in sorted(ctx.targets):
        dep = ctx.state.deployments.get(name) if ctx.state else None
        if dep is None or dep.desired != "running" or dep.endpoint is None:
            continue
        when = iso(at) or ""
        ctx.add("create", _timer(ctx, name, dep.suffix, dep.endpoint.name, at=when), name, "post",
                reason=f"EventBridge Scheduler deletes {dep.endpoint.name} at {when}; works with this machine off")


def _timer(ctx: Planning, deployment: str, suffix: str, endpoint: str, *, at: str = "", ttl: float = 0.0) -> StopTimer:
    assert ctx.config is not None
    env, prefix = ctx.config.environment, ctx.config.settings.iam_role_name_prefix
    return StopTimer(schedule_name(env, deployment), at, ttl, endpoint, role_name(prefix, env, suffix))


@handler("create", StopTimer, action="create_stop_timer", symbol="+", resource="stop timer", order=50,
         iam={"iam:GetRole": "timer-role", "iam:CreateRole": "timer-role", "iam:TagRole": "timer-role",
              "iam:PutRolePolicy": "timer-role", "iam:DeleteRolePolicy": "timer-role", "iam:DeleteRole": "timer-role",
              "iam:PassRole": "timer-role", "scheduler:CreateSchedule": "schedule",
              "scheduler:DeleteSchedule": "schedule"})
def create(run: Run, a: Action) -> None:
    """Replace any timer of this deployment with this one. An existing timer's role is kept (no
    DeleteRole/CreateRole); only the schedule is replaced. A timer recorded under other names (made
    by an older esmctl) is removed first, so the state never loses track of it."""
    s = a.spec
    assert isinstance(s, StopTimer) and run.config is not None
    aws, store, config = run.aws, run.store, run.config
    dep = store.state.deployments[a.deployment]
    old = dep.stop_schedule
    if old is not None and old.name != s.name:
        aws.scheduler.delete(old.name)
    if old is not None and old.role_name != s.role_name:
        drop_role(run, old.role_name, POLICY_NAME)
    kept_arn = old.role_arn if old is not None and old.role_name == s.role_name else ""
    at = parse_iso(s.at) if s.at else run.utcnow() + dt.timedelta(seconds=s.ttl)
    assert at is not None and s.endpoint
    rec = ScheduleRecord(name=s.name, at=iso(at) or "", role_name=s.role_name, role_arn=kept_arn)
    with store.change():
        dep.stop_schedule = rec  # recorded before anything is created
    from esmctl.resources.endpoint import rights_to_delete
    extra = rights_to_delete(config.deployments.get(a.deployment))
    role_arn = scheduler_role(run, rec.role_name, a.deployment,
                              f"esmctl stop timer: may only delete SageMaker endpoint {s.endpoint}", POLICY_NAME,
                              delete_policy(config.region, aws.account_id(), s.endpoint, extra))
    # the previous timer of this name, or a leftover of a run that died before recording it
    aws.scheduler.delete(rec.name)
    aws.scheduler.create_stop(rec.name, at=at.strftime("%Y-%m-%dT%H:%M:%S"), endpoint=s.endpoint,
                              role_arn=role_arn)
    with store.change():
        rec.role_arn, rec.created = role_arn, True
    run.ui.ok(f"{a.deployment}: stop timer set — EventBridge Scheduler deletes {s.endpoint} at {rec.at} "
              "(works with this machine off).")


@handler("delete", StopTimer, action="delete_schedule", symbol="-", resource="stop timer", order=5,
         iam={"scheduler:DeleteSchedule": "schedule", "iam:DeleteRolePolicy": "timer-role",
              "iam:DeleteRole": "timer-role"})
def delete(run: Run, a: Action) -> None:
    """Remove the timer, its role and the role's policy (idempotent)."""
    s = a.spec
    assert isinstance(s, StopTimer)
    run.aws.scheduler.delete(s.name)
    drop_role(run, s.role_name, POLICY_NAME)
    with run.store.change() as st:
        dep = st.deployments.get(a.deployment)
        if dep is not None and dep.stop_schedule is not None and dep.stop_schedule.name == s.name:
            dep.stop_schedule = None

