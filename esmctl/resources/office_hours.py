"""Office hours that run with the laptop closed: recurring EventBridge Scheduler schedules per
deployment (a selection's `schedule:` block). At each range's start a schedule calls SageMaker
CreateEndpoint with the kept endpoint config (universal target
`arn:aws:scheduler:::aws-sdk:sagemaker:createEndpoint`), at its end another calls DeleteEndpoint (as
a stop timer does). Each edge has its own role, allowed that one call on that deployment's endpoint
only: the start role sagemaker:CreateEndpoint on the endpoint and its config (and sagemaker:AddTags
on the endpoint: the call passes esmctl's tags, which AWS authorizes as AddTags — "tag on create"),
the end role sagemaker:DeleteEndpoint (and what other kinds say deleting the endpoint takes:
endpoint.rights_to_delete, e.g. deregistering an autoscaled variant's target).

Cron: one schedule per distinct time of day of each edge (esmctl/hours.py), in the range's time zone
(ScheduleExpressionTimezone), FlexibleTimeWindow OFF (EventBridge Scheduler API reference,
CreateSchedule). A recurring schedule is never deleted by Scheduler after it runs.

What the state knows: `records["office_hours"]` of the deployment (the zone, the ranges, the
schedules and roles). Outside the hours a missing endpoint is "off (schedule)", not drift, and deploy
does not start it (`off`, asked by the endpoint kind); inside them a missing one is repaired. For
START_GRACE after a range starts, a missing endpoint is the start schedule's to create (Scheduler
runs a schedule within its minute), so deploy leaves it too. `esmctl start` runs it whatever the hour,
until the next scheduled end. `esmctl stop` removes the schedules (the roles stay) until `start`.

Names: `esmctl-<env>-<deployment>-on` / `-off` (then `-on-2` … for more times of day), shortened
with a hash as stop timers are; roles `<prefix>-hours-on|off-<env>-<suffix>`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from esmctl import hours, naming
from esmctl.errors import AwsError
from esmctl.resources._base import Action, Planning, Run, Spec, handler, reads, record_of, scope
from esmctl.resources.endpoint import endpoint_name_of, rights_to_delete
from esmctl.resources.stop_timer import HASH_CHARS, SCHEDULE_NAME_MAX, drop_role, fit, fit_pattern, scheduler_role
from esmctl.state import EndpointRecord, iso, parse_iso

if TYPE_CHECKING:
    from esmctl.config import Config
    from esmctl.state import DeploymentState, State

PLAN_ORDER = 35  # when it plans (after the config the start schedule names, before the endpoint: `off`)
SECTION = 58  # where its shared steps run and show (it has none)

KIND = "office_hours"  # its key in a deployment's `records` and in `Observed.kinds`
POLICY_NAME = "esmctl-office-hours"
START_GRACE = dt.timedelta(minutes=5)
EDGES = {"start": "on", "end": "off"}


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    edge: str  # "start" | "end"
    expression: str


class HoursRecord(BaseModel):
    """`records["office_hours"]` of a deployment."""

    model_config = ConfigDict(extra="forbid")

    timezone: str
    running: list[str]
    endpoint: str
    config_name: str
    end_rights: list[dict[str, Any]] = []  # what the end role may do besides DeleteEndpoint
    after_start: dict[str, Any] = {}  # edge → {"minutes", "action", "input"}: calls schedules make after a start
    start_rights: list[dict[str, Any]] = []
    tags: dict[str, str] = {}  # what the start schedule tags the endpoint with
    roles: dict[str, str]  # edge → role name
    role_arns: dict[str, str] = {}
    schedules: list[ScheduleEntry]
    created: bool = False  # every schedule exists (False: recorded, not yet confirmed; or paused by `stop`)
    since: str = ""  # when its schedules (these ranges) were set: a range that began before has no start run


def record(dep: DeploymentState) -> HoursRecord | None:
    return record_of(dep, KIND, HoursRecord)


def schedule_names(environment: str, deployment: str, edge: str, n: int) -> list[str]:
    base = f"esmctl-{environment}-{deployment}-{EDGES.get(edge, 'on-' + edge)}"
    return [fit(base + (f"-{i + 1}" if i else ""), SCHEDULE_NAME_MAX, environment, deployment, edge, str(i))
            for i in range(n)]


def role_name(prefix: str, environment: str, suffix: str, edge: str) -> str:
    return fit(f"{prefix}-hours-{EDGES[edge]}-{environment}-{suffix}", naming.IAM_ROLE_MAX, prefix, environment,
                suffix, edge)


def _role_patterns(config: Config, _state: Any, account: str, partition: str) -> list[str]:
    prefix, env = config.settings.iam_role_name_prefix, config.environment
    patterns = [fit_pattern(f"{prefix}-hours-{e}-{env}-" + "?" * 8, naming.IAM_ROLE_MAX) for e in EDGES.values()]
    return [f"arn:{partition}:iam::{account}:role/{p}" for p in patterns]


def _schedule_patterns(config: Config, state: State | None, account: str, partition: str) -> list[str]:
    env = config.environment
    deployments = sorted(set(config.deployments) | set(state.deployments if state else {}))
    out = []
    for d in deployments:
        for e in EDGES.values():
            base = f"esmctl-{env}-{d}-{e}"
            keep = SCHEDULE_NAME_MAX - HASH_CHARS - 1  # what a shortened name keeps before "-" and its hash
            names = [base + "*"] if len(base) <= SCHEDULE_NAME_MAX else []  # "-on", "-on-2", "-on-register" …
            if len(base) >= keep:  # names that do not fit start with base[:keep] (shorter bases: "base*" covers)
                names.append(f"{base[:keep]}-" + "?" * HASH_CHARS)
            out += [f"arn:{partition}:scheduler:{config.region}:{account}:schedule/default/{n}" for n in names]
    return out


scope("hours-role", "OfficeHoursRoles", _role_patterns, passed_to="scheduler.amazonaws.com")
scope("hours-schedule", "OfficeHoursSchedules", _schedule_patterns)
reads(__name__, {"scheduler:ListSchedules": "any"})


def applies(config: Config, state: State | None) -> bool:
    """Its rights are in the policy when a deployment has office hours, or the state still records some."""
    return any(d.schedule for d in config.deployments.values()) or bool(
        state and any(KIND in d.records for d in state.deployments.values()))


@dataclass(frozen=True)
class OfficeHours(Spec):
    """`name` is the deployment's; everything its schedules and roles are made from."""

    timezone: str = ""
    running: tuple[str, ...] = ()
    endpoint: str = ""
    config_name: str = ""
    end_rights: str = ""  # JSON: what the end role may do besides DeleteEndpoint (endpoint.rights_to_delete)
    after_start: str = ""  # JSON: edge → {"minutes", "action", "input"} of the calls that follow a start (hooks)
    start_rights: str = ""  # JSON: what the start role may do besides CreateEndpoint, for those calls
    tags: tuple[tuple[str, str], ...] = ()  # the endpoint's tags, which the start schedule passes
    roles: tuple[tuple[str, str], ...] = ()  # (edge, role name)
    schedules: tuple[tuple[str, str, str], ...] = ()  # (name, edge, cron)
    keep_roles: bool = False  # delete: the schedules only (`stop`: `start` puts them back)


def off(dep: DeploymentState, now: dt.datetime) -> str:
    """"off (schedule)" when the recorded office hours say the endpoint is off at `now`; else ""."""
    rec = record(dep)
    if rec is None or not rec.created:
        return ""
    return _off(rec.running, rec.timezone, now, rec)


def _began(running: list[str], timezone: str, now: dt.datetime, rec: HoursRecord | None) -> dt.datetime | None:
    """When the range `now` lies in began, if the start schedule was there to run then (None otherwise)."""
    began = hours.last_start([hours.parse(r) for r in running], hours.zone(timezone), now)
    armed = rec is not None and rec.created and rec.running == list(running) and rec.since
    return began if began is not None and armed and (parse_iso(rec.since) or now) <= began else None  # type: ignore[union-attr]


def _off(running: list[str], timezone: str, now: dt.datetime, rec: HoursRecord | None) -> str:
    """"off (schedule) until …" outside the ranges; "starting (schedule)" in the first START_GRACE of a
    range whose start schedule ran (it is creating the endpoint); "" otherwise."""
    ranges, tz = [hours.parse(r) for r in running], hours.zone(timezone)
    if hours.is_on(ranges, tz, now):
        began = _began(running, timezone, now, rec)
        return "starting (schedule)" if began is not None and now - began < START_GRACE else ""
    start, _ = hours.next_edges(ranges, tz, now)
    return "off (schedule)" + (f" until {start.astimezone(tz):%a %H:%M} {timezone}" if start else "")


def _spec(ctx: Planning, p: Any) -> OfficeHours:
    assert ctx.config is not None
    want, env, prefix = p.want.schedule, ctx.config.environment, ctx.config.settings.iam_role_name_prefix
    endpoint, crons = endpoint_name_of(p), hours.edges(want.ranges)
    schedules = [(n, edge, c) for edge in EDGES for n, c in
                 zip(schedule_names(env, p.name, edge, len(crons[edge])), crons[edge], strict=True)]
    # what must follow a start the schedule makes (autoscaling: register the new endpoint's variant again)
    from esmctl import resources
    after = [f for follows in resources.hooks("after_start") for f in follows(p.want, endpoint)]
    for edge, minutes, _, _ in after:
        later = hours.edges(want.ranges, after_start=minutes)["start"]
        schedules += zip(schedule_names(env, p.name, edge, len(later)), [edge] * len(later), later, strict=True)
    partition = naming.partition(ctx.region)
    start_rights = [st for rights in resources.hooks("after_start_rights")
                    for st in rights(p.want, ctx.region, ctx.account, partition, endpoint, p.config_name)]
    tags = tuple(sorted(naming.tags(dict(ctx.config.settings.tags), env, p.name).items()))
    return OfficeHours(p.name, want.timezone, tuple(want.range_texts), endpoint, p.config_name,
                       json.dumps(rights_to_delete(p.want)),
                       json.dumps({edge: {"minutes": minutes, "action": action, "input": body}
                                   for edge, minutes, action, body in after}),
                       json.dumps(start_rights), tags,
                       tuple((edge, role_name(prefix, env, p.suffix, edge)) for edge in EDGES), tuple(schedules))


def _same(rec: HoursRecord, s: OfficeHours) -> bool:
    return (rec.timezone, rec.running, rec.endpoint.lower(), rec.config_name.lower(), rec.end_rights,
            rec.after_start, rec.start_rights, rec.tags, [(e.name, e.edge, e.expression) for e in rec.schedules]) == (
        s.timezone, list(s.running), s.endpoint.lower(), s.config_name.lower(), _json(s.end_rights),
        _json(s.after_start, {}), _json(s.start_rights), dict(s.tags), list(s.schedules))


def _json(text: str, empty: Any = None) -> Any:
    return json.loads(text) if text else ([] if empty is None else empty)


def plan(ctx: Planning) -> None:
    for p in ctx.deployments.values():
        want, have = p.want.schedule, record(p.have) if p.have else None
        if want is None or not p.running:
            if have is not None and (want is None or have.created or any(
                    ctx.observed.kinds.get(KIND, set()) & {e.name.lower() for e in have.schedules})):
                keep = want is not None
                ctx.add("delete", _gone(p.name, have, keep), p.name,
                        reason="stop: paused until `esmctl start`" if keep else "office hours removed")
            continue
        if ctx.now is not None and p.name not in ctx.started:
            p.off = _off(want.range_texts, want.timezone, ctx.now, have)
            if p.off.startswith("off") and (have is None or not have.created):
                # office hours just set, outside them: the endpoint stops now, not at the next range's end
                p.stop_now = f"{p.off}: office hours set outside them"
        spec = _spec(ctx, p)
        if ctx.now is not None:  # what follows a start the schedule made (autoscaling's registration) is not late
            began = _began(want.range_texts, want.timezone, ctx.now, have)
            after = max([call["minutes"] for call in _json(spec.after_start, {}).values()]
                        + [START_GRACE.total_seconds() / 60])
            p.settling = began is not None and ctx.now - began < dt.timedelta(minutes=after + 3)
        seen = ctx.observed.kinds.get(KIND)
        missing = have is not None and have.created and seen is not None and any(
            e.name.lower() not in seen for e in have.schedules)
        if have is None or not have.created or missing:
            ctx.add("create", spec, p.name, reason="missing in AWS" if missing else _describe(spec))
        elif not _same(have, spec):
            ctx.add("update", spec, p.name, reason=_describe(spec))
    for name, (dep, why) in ctx.removed.items():
        rec = record(dep)
        if rec is not None:
            ctx.add("delete", _gone(name, rec, False), name, reason=why)


def _gone(name: str, rec: HoursRecord, keep_roles: bool) -> OfficeHours:
    return OfficeHours(name, endpoint=rec.endpoint, roles=tuple(rec.roles.items()),
                       schedules=tuple((e.name, e.edge, e.expression) for e in rec.schedules), keep_roles=keep_roles)


def _describe(s: OfficeHours) -> str:
    return f"{', '.join(s.running)} {s.timezone}: " + "; ".join(f"{edge} {c}" for _, edge, c in s.schedules)


# --- handlers ------------------------------------------------------------------------------------
def _policy(run: Run, s: OfficeHours, edge: str) -> str:
    assert run.config is not None
    region, account = run.config.region, run.aws.account_id()
    endpoint = naming.sagemaker_arn(region, account, "endpoint", s.endpoint)
    if edge == "start":
        statements = [{"Sid": "CreateThisEndpointOnly", "Effect": "Allow", "Action": "sagemaker:CreateEndpoint",
                       "Resource": [endpoint, naming.sagemaker_arn(region, account, "endpoint-config", s.config_name)]},
                      {"Sid": "TagItOnCreate", "Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": endpoint},
                      *_json(s.start_rights)]
    else:
        statements = [{"Sid": "DeleteThisEndpointOnly", "Effect": "Allow", "Action": "sagemaker:DeleteEndpoint",
                       "Resource": endpoint}, *_json(s.end_rights)]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _target(run: Run, s: OfficeHours, edge: str, role_arn: str) -> dict[str, Any]:
    part = run.aws.partition
    if edge == "start":
        tags = [{"Key": k, "Value": v} for k, v in s.tags]
        return {"Arn": f"arn:{part}:scheduler:::aws-sdk:sagemaker:createEndpoint", "RoleArn": role_arn,
                "Input": json.dumps({"EndpointName": s.endpoint, "EndpointConfigName": s.config_name, "Tags": tags})}
    if edge == "end":
        return {"Arn": f"arn:{part}:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": role_arn,
                "Input": json.dumps({"EndpointName": s.endpoint})}
    call = _json(s.after_start, {})[edge]  # a call that follows a start, made as the start role
    return {"Arn": f"arn:{part}:scheduler:::aws-sdk:{call['action']}", "RoleArn": role_arn,
            "Input": json.dumps(call["input"])}


_PUT = {"iam:GetRole": "hours-role", "iam:CreateRole": "hours-role", "iam:TagRole": "hours-role",
        "iam:PutRolePolicy": "hours-role", "iam:PassRole": "hours-role",
        "scheduler:CreateSchedule": "hours-schedule", "scheduler:UpdateSchedule": "hours-schedule",
        "scheduler:DeleteSchedule": "hours-schedule"}


@handler("create", OfficeHours, action="create_office_hours", symbol="+", resource="office hours of", order=44,
         iam=_PUT)
def create(run: Run, a: Action) -> None:
    """Roles (kept when they exist) with their policies put again, then every schedule created or
    updated in place; schedules of the deployment's old ranges that are no longer wanted deleted."""
    s = a.spec
    assert isinstance(s, OfficeHours)
    dep = run.store.state.deployments[a.deployment]
    old = record(dep)
    rec = HoursRecord(timezone=s.timezone, running=list(s.running), endpoint=s.endpoint, config_name=s.config_name,
                      end_rights=_json(s.end_rights), after_start=_json(s.after_start, {}),
                      start_rights=_json(s.start_rights), tags=dict(s.tags), roles=dict(s.roles),
                      role_arns=dict(old.role_arns) if old else {},
                      schedules=[ScheduleEntry(name=n, edge=e, expression=c) for n, e, c in s.schedules])
    stale = [e.name for e in old.schedules if e.name not in {n for n, _, _ in s.schedules}] if old else []
    with run.store.change():
        if dep.endpoint is None:  # its endpoint may first be created by the start schedule: refresh adopts it
            dep.endpoint = EndpointRecord(name=s.endpoint, config_name=s.config_name)
        # recorded before anything is created; the old schedules stay listed until deleted
        dep.records[KIND] = rec.model_dump() | {"schedules": [e.model_dump() for e in rec.schedules] + [
            e.model_dump() for e in (old.schedules if old else []) if e.name in stale]}
    scheduler = run.aws.api("scheduler")
    for edge, role in s.roles:
        rec.role_arns[edge] = scheduler_role(run, role, a.deployment,
                                             f"esmctl office hours: may only {edge} SageMaker endpoint {s.endpoint}",
                                             POLICY_NAME, _policy(run, s, edge))
    for name, edge, expression in s.schedules:
        params = {"Name": name, "ScheduleExpression": expression, "ScheduleExpressionTimezone": s.timezone,
                  "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED",
                  "Description": f"esmctl office hours: {edge} SageMaker endpoint {s.endpoint}",
                  "Target": _target(run, s, edge, rec.role_arns[edge if edge in EDGES else "start"])}
        try:
            scheduler.call("CreateSchedule", name, **params)
        except AwsError as e:  # ConflictException: it exists (an earlier run's) — made what it should be
            if e.code != "ConflictException":
                raise
            scheduler.call("UpdateSchedule", name, **params)
    for name in stale:
        run.aws.scheduler.delete(name)
    rec.created = True
    rec.since = old.since if old is not None and old.since and old.running == rec.running else iso(run.utcnow()) or ""
    with run.store.change():
        dep.records[KIND] = rec.model_dump()
    run.ui.ok(f"{a.deployment}: office hours set — EventBridge Scheduler starts and stops {s.endpoint} "
              f"({', '.join(s.running)}, {s.timezone}; works with this machine off).")


handler("update", OfficeHours, action="update_office_hours", symbol="~", resource="office hours of", order=44,
        iam=_PUT)(create)


@handler("delete", OfficeHours, action="delete_office_hours", symbol="-", resource="office hours of", order=39,
         iam={"scheduler:DeleteSchedule": "hours-schedule", "iam:DeleteRolePolicy": "hours-role",
              "iam:DeleteRole": "hours-role"})
def delete(run: Run, a: Action) -> None:
    """Delete the schedules (idempotent), and the roles unless `keep_roles` (a stop pauses them)."""
    s = a.spec
    assert isinstance(s, OfficeHours)
    for name, _, _ in s.schedules:
        run.aws.scheduler.delete(name)
    if not s.keep_roles:
        for _, role in s.roles:
            drop_role(run, role, POLICY_NAME)
    with run.store.change() as st:
        dep = st.deployments.get(a.deployment)
        if dep is None or KIND not in dep.records:
            return
        if s.keep_roles:
            dep.records[KIND]["created"] = False
        else:
            del dep.records[KIND]


# --- observation -----------------------------------------------------------------------------------
def observe(aws: Any, config: Config | None, state: State | None) -> set[str] | None:
    """The lower-cased names of this environment's schedules; None (not read) when no deployment has
    office hours configured or recorded."""
    if not ((config and any(d.schedule for d in config.deployments.values()))
            or (state and any(KIND in d.records for d in state.deployments.values()))):
        return None
    env = config.environment if config else (state.environment if state else "")
    return {s["Name"].lower() for s in aws.api("scheduler").pages("ListSchedules", "Schedules",
                                                                  NamePrefix=f"esmctl-{env}-")}


def from_state(state: State | None) -> set[str] | None:
    """What the state records as created (plan without refresh)."""
    if state is None:
        return None
    return {e.name.lower() for d in state.deployments.values() for r in [record(d)] if r is not None and r.created
            for e in r.schedules}


# --- status ----------------------------------------------------------------------------------------
def status_fields(dep: DeploymentState | None, want: Any, _observed: Any, now: dt.datetime) -> dict[str, Any]:
    """`schedule` of a status row: the ranges, the next start and end (UTC), and whether it is off now."""
    sched = want.schedule if want is not None else None
    rec = record(dep) if dep is not None else None
    if sched is not None:
        running, tz_name = sched.range_texts, sched.timezone
    elif rec is not None:
        running, tz_name = rec.running, rec.timezone
    else:
        return {}
    ranges, tz = [hours.parse(r) for r in running], hours.zone(tz_name)
    start, end = hours.next_edges(ranges, tz, now)
    return {"schedule": {"timezone": tz_name, "running": running, "active": bool(rec and rec.created),
                         "on_now": hours.is_on(ranges, tz, now),
                         "next_start": start.isoformat().replace("+00:00", "Z") if start else None,
                         "next_stop": end.isoformat().replace("+00:00", "Z") if end else None}}
