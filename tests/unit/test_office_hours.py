"""Office hours (esmctl/resources/office_hours.py): a deployment's `schedule:` becomes recurring EventBridge
Scheduler schedules that create its endpoint at each range's start and delete it at its end, each through a
role allowed that one call. Whole plans and applies through tests/fakes.py's Env, whose FakeScheduler runs the
schedules' targets (with their roles' permissions) as the fake wall clock passes their times: this machine
can be off. Fixed clocks: Thursday 2026-12-10, 12:00 UTC (13:00 in Berlin, inside Mon-Fri 08:00-19:00) or
20:00 UTC (21:00 in Berlin, outside)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from esmctl import config, naming, permissions
from esmctl.errors import ConfigError
from esmctl.resources import office_hours
from esmctl.state import iso
from tests.fakes import ACCOUNT, REGION, Env, no_fsync

UTC = dt.UTC
PROTO, PERF = "prototype_model", "performance_model"
PLAIN = "    instance_type: ml.g5.2xlarge\n"
BLOCK = PLAIN + """    schedule:
      timezone: Europe/Berlin
      running: Mon-Fri 08:00-19:00
"""
THU_NOON = dt.datetime(2026, 12, 10, 12, tzinfo=UTC)  # 13:00 in Berlin
THU_NIGHT = dt.datetime(2026, 12, 10, 20, tzinfo=UTC)  # 21:00 in Berlin
ON, OFF = "esmctl-dev-prototype_model-on", "esmctl-dev-prototype_model-off"
CREATE = "arn:aws:scheduler:::aws-sdk:sagemaker:createEndpoint"
DELETE = "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> Env:
    """The multi_model example with office hours on prototype_model, on a fake clock at `start` (which
    plans get as `now`; the state's own clock, ESMCTL_NOW, reads the same)."""
    no_fsync(monkeypatch)
    monkeypatch.setenv("ESMCTL_NOW", iso(start) or "")
    env = Env(tmp_path, start=start, clock_plans=True)
    env.edit(PLAIN, BLOCK)
    return env


@pytest.fixture
def inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return make(tmp_path, monkeypatch, THU_NOON)


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    return make(tmp_path, monkeypatch, THU_NIGHT)


def to(env: Env, when: dt.datetime) -> None:
    """The wall clock moves on to `when` (AWS's schedules run on their own meanwhile)."""
    env.clock.advance((when - env.clock.utcnow()).total_seconds())
    env.aws.log.tick()


def endpoint(env: Env, dep: str = PROTO) -> str:
    return naming.endpoint_name(env.config.deployments[dep].endpoint_name, env.state.deployments[dep].suffix)


def config_name(env: Env, dep: str = PROTO) -> str:
    return env.state.deployments[dep].endpoint_config.name  # type: ignore[union-attr]


def status(env: Env, dep: str = PROTO) -> str | None:
    return env.aws.sagemaker.status(endpoint(env, dep))


def role(env: Env, edge: str) -> str:
    return office_hours.role_name("esm", "dev", env.state.deployments[PROTO].suffix, edge)


def steps(p: Any, dep: str | None = None) -> list[tuple[str, str]]:
    return [(a.action, a.deployment) for a in p.shown if dep is None or a.deployment == dep]


def schedules(env: Env) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in env.aws.scheduler.schedules.items() if "At" not in s}


def sm_arn(kind: str, name: str) -> str:
    return naming.sagemaker_arn(REGION, ACCOUNT, kind, name)


def off_note(env: Env, until: str = "Fri 08:00") -> str:
    return f"{PROTO}: endpoint {endpoint(env)} is off (schedule) until {until} Europe/Berlin; not started"


# --- what a deploy makes ---------------------------------------------------------------------------
def test_two_schedules_each_with_a_role_that_may_make_one_call_on_that_endpoint(inside: Env) -> None:
    p = inside.plan()
    assert ("create_office_hours", PROTO) in steps(p) and ("create_office_hours", PERF) not in steps(p)
    (a,) = [a for a in p.shown if a.action == "create_office_hours"]
    assert a.reason == ("Mon-Fri 08:00-19:00 Europe/Berlin: start cron(0 8 ? * MON-FRI *); "
                        "end cron(0 19 ? * MON-FRI *)")
    assert inside.apply(p).failures == []

    assert set(schedules(inside)) == {ON, OFF}
    ep, cfg = endpoint(inside), config_name(inside)
    on, off = schedules(inside)[ON], schedules(inside)[OFF]
    start_role = inside.aws.iam.roles[role(inside, "start").lower()]
    end_role = inside.aws.iam.roles[role(inside, "end").lower()]
    assert (on["ScheduleExpression"], off["ScheduleExpression"]) == ("cron(0 8 ? * MON-FRI *)",
                                                                      "cron(0 19 ? * MON-FRI *)")
    for s in (on, off):
        assert s["ScheduleExpressionTimezone"] == "Europe/Berlin"
        assert s["FlexibleTimeWindow"] == {"Mode": "OFF"} and s["State"] == "ENABLED"
    assert (on["Target"]["Arn"], on["Target"]["RoleArn"]) == (CREATE, start_role["Arn"])
    assert (off["Target"]["Arn"], off["Target"]["RoleArn"]) == (DELETE, end_role["Arn"])
    given = json.loads(on["Target"]["Input"])
    esmctl_tags = inside.aws.sagemaker.tags[sm_arn("endpoint", ep)]  # what deploy tagged the endpoint with
    assert given == {"EndpointName": ep, "EndpointConfigName": cfg,
                     "Tags": [{"Key": k, "Value": v} for k, v in sorted(esmctl_tags.items())]}
    assert json.loads(off["Target"]["Input"]) == {"EndpointName": ep}

    for r in (start_role, end_role):
        assert r["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert r["attached"] == set() and list(r["inline"]) == [office_hours.POLICY_NAME]
    allowed = {edge: [(s["Action"], s["Resource"]) for s in json.loads(r["inline"][office_hours.POLICY_NAME])
                      ["Statement"] if s["Effect"] == "Allow"]
               for edge, r in (("start", start_role), ("end", end_role))}
    assert allowed == {
        "start": [("sagemaker:CreateEndpoint", [sm_arn("endpoint", ep), sm_arn("endpoint-config", cfg)]),
                  ("sagemaker:AddTags", sm_arn("endpoint", ep))],
        "end": [("sagemaker:DeleteEndpoint", sm_arn("endpoint", ep))]}

    rec = office_hours.record(inside.state.deployments[PROTO])
    assert rec is not None and rec.created and (rec.timezone, rec.running) == ("Europe/Berlin", ["Mon-Fri 08:00-19:00"])
    assert inside.saved()["deployments"][PROTO]["records"]["office_hours"]["created"] is True
    assert office_hours.KIND not in inside.state.deployments[PERF].records
    again = inside.plan()
    assert again.actions == () and again.notes == ()


def test_the_schedules_stop_and_start_the_endpoint_with_this_machine_off(inside: Env) -> None:
    assert inside.deploy().failures == []
    to(inside, utc(2026, 12, 10, 18, 5))  # 19:05 in Berlin
    assert status(inside) is None and status(inside, PERF) == "InService"
    assert schedules(inside)[OFF]["runs"] == [(utc(2026, 12, 10, 18), "ok")]
    assert inside.refresh() == []  # off on purpose: not drift
    p = inside.plan()
    assert p.actions == () and p.notes == (off_note(inside),)

    to(inside, utc(2026, 12, 11, 7, 15))  # Friday 08:15 in Berlin: started 07:00 UTC, InService ten minutes on
    assert status(inside) == "InService"
    assert schedules(inside)[ON]["runs"] == [(utc(2026, 12, 11, 7), "ok")]
    assert inside.aws.sagemaker.tags[sm_arn("endpoint", endpoint(inside))] == naming.tags(
        dict(inside.config.settings.tags), "dev", PROTO)  # esmctl's tags, as if deploy had made it
    assert inside.refresh() == []
    assert inside.state.deployments[PROTO].started_at == "2026-12-11T07:00:00Z"  # spent counts from here
    assert inside.plan().actions == ()

    to(inside, utc(2026, 12, 13, 12))  # the weekend: off
    assert status(inside) is None
    assert inside.plan().notes == (off_note(inside, "Mon 08:00"),)
    to(inside, utc(2026, 12, 14, 7, 15))
    assert status(inside) == "InService"


def test_across_the_change_to_summer_time_the_endpoint_starts_at_08_00_in_berlin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = make(tmp_path, monkeypatch, utc(2026, 3, 27, 12))  # Friday before 29 March (UTC+1 → UTC+2)
    assert env.deploy().failures == []
    to(env, utc(2026, 3, 27, 18, 5))  # 19:00 winter time is 18:00 UTC
    assert status(env) is None
    to(env, utc(2026, 3, 30, 6, 15))  # 08:00 summer time is 06:00 UTC
    assert status(env) == "InService"
    assert schedules(env)[ON]["runs"] == [(utc(2026, 3, 30, 6), "ok")]
    assert schedules(env)[OFF]["runs"] == [(utc(2026, 3, 27, 18), "ok")]


# --- outside the hours ----------------------------------------------------------------------------
def test_outside_the_hours_a_new_deployment_gets_everything_but_its_endpoint(outside: Env) -> None:
    p = outside.plan()
    assert steps(p, PROTO) == [("create_model", PROTO), ("create_endpoint_config", PROTO),
                               ("create_office_hours", PROTO)]
    assert ("create_endpoint", PERF) in steps(p)
    assert outside.apply(p).failures == []
    assert p.notes == (off_note(outside),)
    assert status(outside) is None and status(outside, PERF) == "InService"
    assert set(schedules(outside)) == {ON, OFF}
    again = outside.plan()
    assert again.actions == () and again.notes == (off_note(outside),)

    to(outside, utc(2026, 12, 11, 7, 15))  # its schedule starts it on the config deploy made
    assert status(outside) == "InService"
    assert outside.aws.sagemaker.endpoint(endpoint(outside)).config_name == config_name(outside)  # type: ignore[union-attr]


def test_an_endpoint_first_started_by_its_schedule_is_recorded_and_left_alone(outside: Env) -> None:
    assert outside.deploy().failures == []
    to(outside, utc(2026, 12, 11, 7, 15))
    assert outside.refresh() == []
    assert outside.plan().actions == ()  # not "~ endpoint (? → EndpointConfig-…)"
    assert outside.state.deployments[PROTO].endpoint is not None


def test_destroy_deletes_an_endpoint_first_started_by_its_schedule(outside: Env) -> None:
    assert outside.deploy().failures == []
    to(outside, utc(2026, 12, 11, 7, 15))
    assert status(outside) == "InService"
    name = endpoint(outside)
    p = outside.plan(destroy=True)
    assert ("delete_endpoint", PROTO) in steps(p)
    assert outside.apply(p).failures == []
    to(outside, utc(2026, 12, 11, 7, 20))
    assert outside.aws.sagemaker.status(name) is None


def test_start_runs_it_outside_the_hours_until_the_next_scheduled_end(outside: Env) -> None:
    assert outside.deploy().failures == []
    p = outside.plan(targets=(PROTO,), started=(PROTO,))  # `esmctl start prototype_model`
    assert steps(p) == [("create_endpoint", PROTO)] and p.notes == ()
    assert outside.apply(p).failures == []
    assert status(outside) == "InService"
    assert outside.plan().actions == ()  # a later deploy outside the hours leaves it running

    to(outside, utc(2026, 12, 11, 17, 55))  # Friday 18:55 in Berlin: still on (08:00's start found it there)
    assert status(outside) == "InService"
    (run,) = schedules(outside)[ON]["runs"]
    assert run[0] == utc(2026, 12, 11, 7) and "already existing endpoint" in run[1]
    to(outside, utc(2026, 12, 11, 18, 5))
    assert status(outside) is None
    assert outside.refresh() == []


# --- drift: an endpoint gone, a schedule gone --------------------------------------------------------
def test_inside_the_hours_a_vanished_endpoint_is_drift_and_deploy_recreates_it(inside: Env) -> None:
    assert inside.deploy().failures == []
    to(inside, utc(2026, 12, 10, 14))
    inside.aws.sagemaker.vanish(endpoint(inside))
    assert inside.refresh() == [f"{PROTO}: endpoint {endpoint(inside)} deleted outside esmctl"]
    p = inside.plan(refresh=False)
    assert steps(p) == [("create_endpoint", PROTO)] and p.shown[0].reason == "vanished from AWS: recreate"
    assert inside.apply(p).failures == []
    assert status(inside) == "InService"


def test_just_after_a_start_a_missing_endpoint_is_left_to_the_schedule(inside: Env) -> None:
    assert inside.deploy().failures == []
    to(inside, utc(2026, 12, 11, 7, 3))  # Friday 08:03 in Berlin: the start schedule's to create
    inside.aws.sagemaker.vanish(endpoint(inside))
    assert inside.refresh() == []
    p = inside.plan()
    assert p.actions == ()
    assert p.notes == (f"{PROTO}: endpoint {endpoint(inside)} is starting (schedule); not started",)
    to(inside, utc(2026, 12, 11, 7, 6))  # beyond the grace: deploy repairs it
    assert steps(inside.plan()) == [("create_endpoint", PROTO)]


def test_a_schedule_deleted_outside_esmctl_is_made_again(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.aws.scheduler.schedules.pop(OFF)
    p = inside.plan()
    assert steps(p) == [("create_office_hours", PROTO)] and p.shown[0].reason == "missing in AWS"
    assert inside.apply(p).failures == []
    assert set(schedules(inside)) == {ON, OFF} and inside.plan().actions == ()


# --- stop, start, changes, removal ---------------------------------------------------------------------
def test_stop_pauses_the_schedules_and_keeps_the_roles_and_start_puts_them_back(inside: Env) -> None:
    assert inside.deploy().failures == []
    roles = {role(inside, "start").lower(), role(inside, "end").lower()}
    inside.state.deployments[PROTO].desired = "stopped"  # what `esmctl stop prototype_model` sets
    p = inside.plan(targets=(PROTO,))
    assert sorted(steps(p)) == [("delete_endpoint", PROTO), ("delete_office_hours", PROTO)]
    (pause,) = [a for a in p.shown if a.action == "delete_office_hours"]
    assert pause.reason == "stop: paused until `esmctl start`"
    assert inside.apply(p).failures == []
    assert schedules(inside) == {} and roles <= set(inside.aws.iam.roles)
    rec = office_hours.record(inside.state.deployments[PROTO])
    assert rec is not None and not rec.created
    to(inside, utc(2026, 12, 11, 7, 15))  # no schedule: stays stopped
    assert status(inside) is None
    assert steps(inside.plan(targets=(PROTO,))) == []

    inside.aws.reset_calls()
    dep = inside.state.deployments[PROTO]
    dep.desired, dep.stopped_at, dep.stopped_by = "running", None, None  # `esmctl start prototype_model`
    p = inside.plan(targets=(PROTO,), started=(PROTO,))
    assert sorted(steps(p)) == [("create_endpoint", PROTO), ("create_office_hours", PROTO)]
    assert inside.apply(p).failures == []
    assert set(schedules(inside)) == {ON, OFF} and status(inside) == "InService"
    assert inside.aws.count("CreateRole") == 0  # the kept roles (a new role is not assumable at once)
    assert office_hours.record(inside.state.deployments[PROTO]).created  # type: ignore[union-attr]


def test_stop_outside_the_hours_only_pauses_the_schedules(outside: Env) -> None:
    assert outside.deploy().failures == []
    outside.state.deployments[PROTO].desired = "stopped"
    assert steps(outside.plan(targets=(PROTO,))) == [("delete_office_hours", PROTO)]


def test_a_paused_deployment_loses_its_roles_when_the_block_goes_or_on_destroy(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.state.deployments[PROTO].desired = "stopped"
    assert inside.apply(inside.plan(targets=(PROTO,))).failures == []
    inside.edit(BLOCK, PLAIN)
    p = inside.plan(targets=(PROTO,))
    assert steps(p) == [("delete_office_hours", PROTO)] and p.shown[0].reason == "office hours removed"
    assert inside.apply(p).failures == []
    assert not any("-hours-" in r for r in inside.aws.iam.roles)

    inside.edit(PLAIN, BLOCK)
    dep = inside.state.deployments[PROTO]
    dep.desired = "running"
    assert inside.deploy(targets=(PROTO,), started=(PROTO,)).failures == []
    dep.desired = "stopped"
    assert inside.apply(inside.plan(targets=(PROTO,))).failures == []
    assert inside.apply(inside.plan(destroy=True)).failures == []
    assert inside.aws.iam.roles == {} and schedules(inside) == {}


def test_new_tags_reach_the_start_schedule(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.edit("Project: esm-partner", "Project: esm-other")
    assert inside.deploy().failures == []
    tags = json.loads(schedules(inside)[ON]["Target"]["Input"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["Project"] == "esm-other"


def test_new_ranges_update_the_schedules_in_place(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.aws.reset_calls()
    inside.edit("      running: Mon-Fri 08:00-19:00\n",
                "      running:\n        - Mon-Thu 08:00-19:00\n        - Fri 08:00-15:00\n")
    p = inside.plan()
    assert steps(p) == [("update_office_hours", PROTO)]
    assert p.summary() == "Plan: 0 to add, 1 to change, 0 to destroy."
    assert inside.apply(p).failures == []
    got = {n: s["ScheduleExpression"] for n, s in schedules(inside).items()}
    assert got == {ON: "cron(0 8 ? * MON-FRI *)", OFF: "cron(0 15 ? * FRI *)", OFF + "-2": "cron(0 19 ? * MON-THU *)"}
    assert schedules(inside)[OFF + "-2"]["Target"]["RoleArn"] == schedules(inside)[OFF]["Target"]["RoleArn"]
    assert inside.aws.count("UpdateSchedule") == 2 and inside.aws.count("DeleteSchedule") == 0
    assert inside.aws.count("CreateRole") == 0 and inside.aws.count("DeleteRole") == 0
    assert inside.plan().actions == ()
    to(inside, utc(2026, 12, 11, 14, 5))  # Friday 15:05 in Berlin
    assert status(inside) is None

    inside.edit("      running:\n        - Mon-Thu 08:00-19:00\n        - Fri 08:00-15:00\n",
                "      running: Mon-Fri 08:00-19:00\n")
    inside.aws.reset_calls()
    assert inside.deploy().failures == []
    assert set(schedules(inside)) == {ON, OFF} and inside.aws.count("DeleteSchedule", OFF + "-2") == 1
    assert inside.plan().actions == ()


def test_a_new_time_zone_is_an_update(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.edit("timezone: Europe/Berlin", "timezone: America/New_York")
    p = inside.plan()
    assert ("update_office_hours", PROTO) in steps(p)
    assert inside.apply(p).failures == []
    assert {s["ScheduleExpressionTimezone"] for s in schedules(inside).values()} == {"America/New_York"}


def test_a_new_instance_type_points_the_start_schedule_at_the_new_config(inside: Env) -> None:
    assert inside.deploy().failures == []
    old = config_name(inside)
    to(inside, utc(2026, 12, 10, 18, 5))  # off
    inside.edit("instance_type: ml.g5.2xlarge\n    schedule", "instance_type: ml.g5.xlarge\n    schedule")
    p = inside.plan()
    assert steps(p) == [("create_endpoint_config", PROTO), ("update_office_hours", PROTO)]
    assert inside.apply(p).failures == []
    new = config_name(inside)
    assert new != old
    assert json.loads(schedules(inside)[ON]["Target"]["Input"])["EndpointConfigName"] == new
    doc = json.loads(inside.aws.iam.role_policy(role(inside, "start"), office_hours.POLICY_NAME) or "{}")
    assert doc["Statement"][0]["Resource"] == [sm_arn("endpoint", endpoint(inside)), sm_arn("endpoint-config", new)]
    assert inside.plan().actions == ()

    to(inside, utc(2026, 12, 11, 7, 15))
    assert inside.aws.sagemaker.endpoint(endpoint(inside)).config_name == new  # type: ignore[union-attr]
    assert inside.refresh() == []
    assert steps(inside.plan()) == [("delete_endpoint_config", PROTO)]  # the old one, now unused


def test_removing_the_block_deletes_the_schedules_and_roles_and_keeps_the_endpoint(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.edit(BLOCK, PLAIN)
    p = inside.plan()
    assert steps(p) == [("delete_office_hours", PROTO)] and p.shown[0].reason == "office hours removed"
    assert inside.apply(p).failures == []
    assert schedules(inside) == {}
    assert not any("-hours-" in r for r in inside.aws.iam.roles)
    assert office_hours.KIND not in inside.state.deployments[PROTO].records
    assert status(inside) == "InService" and inside.plan().actions == ()
    to(inside, utc(2026, 12, 10, 18, 5))
    assert status(inside) == "InService"  # around the clock now


def test_destroy_deletes_the_schedules_and_roles(inside: Env) -> None:
    assert inside.deploy().failures == []
    p = inside.plan(destroy=True)
    (a,) = [a for a in p.shown if a.action == "delete_office_hours"]
    assert a.deployment == PROTO and a.reason == "destroy"
    assert inside.apply(p).failures == []
    assert schedules(inside) == {} and inside.aws.iam.roles == {}
    assert inside.state.deployments == {}


def test_a_run_killed_half_way_converges_on_the_next(inside: Env) -> None:
    recorded: list[Any] = []
    inside.aws.on("CreateRole", lambda name: recorded.append(
        inside.saved()["deployments"][PROTO]["records"].get("office_hours")) if "-hours-" in name else None)
    inside.aws.fail("CreateSchedule", ON, after=True)  # made in AWS, its answer lost
    out = inside.deploy()
    assert out.failures != []
    assert recorded and recorded[0]["created"] is False  # recorded before anything is made
    assert ON in schedules(inside)
    rec = office_hours.record(inside.state.deployments[PROTO])
    assert rec is not None and not rec.created

    inside.aws.reset_calls()
    assert inside.deploy().failures == []
    assert inside.aws.count("CreateSchedule", ON) == 1 and inside.aws.count("UpdateSchedule", ON) == 1  # Conflict
    assert set(schedules(inside)) == {ON, OFF} and len([r for r in inside.aws.iam.roles if "-hours-" in r]) == 2
    assert office_hours.record(inside.state.deployments[PROTO]).created  # type: ignore[union-attr]
    assert inside.plan().actions == ()


def test_a_create_schedule_failing_for_another_reason_fails_the_step(inside: Env) -> None:
    inside.aws.fail("CreateSchedule", OFF)
    out = inside.deploy()
    assert len(out.failures) == 1 and inside.aws.count("UpdateSchedule") == 0
    assert inside.deploy().failures == []
    assert set(schedules(inside)) == {ON, OFF}


# --- IAM -----------------------------------------------------------------------------------------
def _statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    (s,) = [s for s in doc["Statement"] if s["Sid"] == sid]
    return s


def _covers(patterns: list[str], arn: str) -> bool:
    return any(fnmatch.fnmatchcase(arn, p) for p in patterns)


def test_permissions_scope_the_schedules_and_roles_of_office_hours(inside: Env) -> None:
    doc = permissions.policy(inside.config, None, "deploy", account=ACCOUNT)
    sched, roles = _statement(doc, "OfficeHoursSchedules"), _statement(doc, "OfficeHoursRoles")
    assert set(sched["Action"]) == {"scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                                    "scheduler:DeleteSchedule"}
    assert {"iam:GetRole", "iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy", "iam:PassRole",
            "iam:DeleteRolePolicy", "iam:DeleteRole"} <= set(roles["Action"]) | {
        a for s in doc["Statement"] if s["Sid"].startswith("OfficeHoursRoles") for a in s["Action"]}
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/"
    for name in (ON, OFF, OFF + "-2"):
        assert _covers(sched["Resource"], arn + name)
    assert not _covers(sched["Resource"], arn + "esmctl-prod-prototype_model-on")
    assert not _covers(sched["Resource"], arn + "esmctl-dev-prototype_model-stop")  # a stop timer's: its own scope
    suffix = "0000000a"
    for edge in ("start", "end"):
        assert _covers(roles["Resource"], f"arn:aws:iam::{ACCOUNT}:role/" +
                       office_hours.role_name("esm", "dev", suffix, edge))
    assert "scheduler:ListSchedules" in permissions.actions(inside.config, "deploy")

    inside.edit(BLOCK, PLAIN)
    without = permissions.actions(inside.config, "deploy")
    assert "scheduler:UpdateSchedule" not in without and "scheduler:ListSchedules" not in without
    assert not any(s["Sid"].startswith("OfficeHours") for s in permissions.policy(inside.config)["Statement"])


def test_permissions_stay_while_the_state_still_records_office_hours(inside: Env) -> None:
    assert inside.deploy().failures == []
    inside.edit(BLOCK, PLAIN)  # the next deploy deletes them: it needs the rights to
    assert {"scheduler:DeleteSchedule", "scheduler:ListSchedules", "iam:DeleteRole"} <= set(
        permissions.actions(inside.config, "deploy", inside.state))


def test_permissions_cover_the_shortened_schedule_names_of_a_long_deployment_name(inside: Env) -> None:
    long = "a_deployment_with_a_rather_long_descriptive_name_x"  # 50 characters: "…-off" is 65
    inside.edit(f"  {PROTO}:\n", f"  {long}:\n")
    names = office_hours.schedule_names("dev", long, "start", 1) + office_hours.schedule_names("dev", long, "end", 2)
    assert all(len(n) <= 64 for n in names) and any(not n.endswith(("-on", "-off", "-off-2")) for n in names)
    sched = _statement(permissions.policy(inside.config, None, "deploy", account=ACCOUNT), "OfficeHoursSchedules")
    for n in names:
        assert _covers(sched["Resource"], f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{n}"), n


def test_the_end_role_of_an_autoscaled_endpoint_may_deregister_its_scalable_target() -> None:
    run = SimpleNamespace(config=SimpleNamespace(region=REGION), aws=SimpleNamespace(account_id=lambda: ACCOUNT))
    from esmctl.resources import scaling
    want = SimpleNamespace(autoscaling=object())
    spec = office_hours.OfficeHours(PROTO, endpoint="Endpoint-X", config_name="Config-X",
                                    end_rights=json.dumps(scaling.delete_rights(want)))
    doc = json.loads(office_hours._policy(run, spec, "end"))  # type: ignore[arg-type]
    assert [(s["Action"], s["Resource"]) for s in doc["Statement"]] == [
        ("sagemaker:DeleteEndpoint", sm_arn("endpoint", "Endpoint-X")),
        ("application-autoscaling:DeregisterScalableTarget", "*")]


# --- status ---------------------------------------------------------------------------------------
def test_status_shows_the_ranges_and_the_next_start_and_stop(outside: Env) -> None:
    assert outside.deploy().failures == []
    got = office_hours.status_fields(outside.state.deployments[PROTO], outside.config.deployments[PROTO],
                                     outside.observed, now=THU_NIGHT)
    assert got == {"schedule": {"timezone": "Europe/Berlin", "running": ["Mon-Fri 08:00-19:00"], "active": True,
                                "on_now": False, "next_start": "2026-12-11T07:00:00Z",
                                "next_stop": "2026-12-11T18:00:00Z"}}
    assert office_hours.status_fields(outside.state.deployments[PERF], outside.config.deployments[PERF],
                                      outside.observed, now=THU_NIGHT) == {}


# --- configuration --------------------------------------------------------------------------------
def _problems(env: Env, block: str) -> list[tuple[str, str]]:
    env.edit(BLOCK, PLAIN + block)
    with pytest.raises(ConfigError) as e:
        config.load(env.path)
    return [(p.path, p.message) for p in e.value.problems]


WHERE = "selected_models.prototype_model.schedule"


@pytest.mark.parametrize(("block", "path", "message"), [
    ("    schedule:\n      timezone: Berlin\n      running: Mon-Fri 08:00-19:00\n", "timezone",
     "'Berlin' is not an IANA time zone like Europe/Berlin or America/New_York; did you mean Europe/Berlin?"),
    ("    schedule:\n      timezone: Europe/Berlin\n      running:\n        - Mon-Thu 08:00-19:00\n"
     "        - Fri 8-15\n", "running.1", "'Fri 8-15' is not a range like \"Mon-Fri 08:00-19:00\""),
    ("    schedule:\n      timezone: Europe/Berlin\n      running: Mon-Fri 19:00-19:00\n", "running",
     "starts and ends at the same time; leave out `schedule:` to run around the clock"),
    ("    schedule:\n      timezone: Europe/Berlin\n      running:\n        - Mon-Fri 08:00-12:00\n"
     "        - Mon-Fri 12:00-19:00\n", "running", "two ranges overlap or touch (one's end would stop the other)"),
    ("    schedule:\n      timezone: Europe/Berlin\n      running: []\n", "running",
     "give at least one range, e.g. \"Mon-Fri 08:00-19:00\""),
    ("    schedule:\n      timezone: Europe/Berlin\n      runing: Mon-Fri 08:00-19:00\n", "runing",
     "unknown key 'runing'; did you mean 'running'?"),
    ("    schedule:\n      running: Mon-Fri 08:00-19:00\n", "timezone", "required key is missing"),
])
def test_a_bad_schedule_is_refused_with_where_and_why(inside: Env, block: str, path: str, message: str) -> None:
    got = _problems(inside, block)
    assert any(p == f"{WHERE}.{path}" and message in m for p, m in got), got


def test_a_good_schedule_is_carried_onto_the_deployment(inside: Env) -> None:
    sched = inside.config.deployments[PROTO].schedule
    assert sched is not None and sched.timezone == "Europe/Berlin" and sched.range_texts == ["Mon-Fri 08:00-19:00"]
    assert inside.config.deployments[PERF].schedule is None
