"""Paying for GPUs only while they work, end to end on the sandbox: autoscaling (Application Auto
Scaling target + target-tracking policy), office hours (recurring EventBridge Scheduler schedules
that the sandbox fires as Scheduler would) and the monthly budget (with a fixed clock, ESMCTL_NOW)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from esmctl import prices
from esmctl.sandbox.control import fire_schedule
from tests.e2e.conftest import Env, deploy

pytestmark = pytest.mark.e2e

PROTO = "prototype_model"
SCALING = """    autoscaling:
      min_instances: 1
      max_instances: 3
      target_invocations_per_instance: 300
"""
HOURS = """    schedule:
      timezone: Europe/Berlin
      running: "Mon-Fri 08:00-19:00"
"""
# Wednesday 2 December 2026: 11:00 in Berlin (inside the hours), 20:30 (outside)
INSIDE, OUTSIDE = "2026-12-02T10:00:00Z", "2026-12-02T19:30:00Z"
NS = {"ServiceNamespace": "sagemaker"}


def at(when: str) -> dict[str, str]:
    return {"ESMCTL_NOW": when}


def add(cli: Env, block: str) -> None:
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("    instance_type: ml.g5.2xlarge\n",
                                             "    instance_type: ml.g5.2xlarge\n" + block, 1))


def edit(cli: Env, old: str, new: str) -> None:
    path = cli.folder / "esmctl.yaml"
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def dep(cli: Env, name: str = PROTO) -> dict[str, Any]:
    return cli.state_doc()["deployments"][name]  # type: ignore[no-any-return]


def status(cli: Env, when: str) -> dict[str, Any]:
    r = cli.run("status", "--json", env=at(when))
    assert r.code == 0, r.text
    return json.loads(r.out)  # type: ignore[no-any-return]


def clean_plan(cli: Env, when: str = INSIDE) -> None:
    p = cli.run("plan", "--detailed-exitcode", env=at(when))
    assert p.code == 0, p.text
    assert "drift" not in p.out


# --- autoscaling -------------------------------------------------------------------------------------
def targets(cli: Env) -> list[dict[str, Any]]:
    return cli.client("application-autoscaling").describe_scalable_targets(**NS)["ScalableTargets"]  # type: ignore[no-any-return]


def policies(cli: Env) -> list[dict[str, Any]]:
    return cli.client("application-autoscaling").describe_scaling_policies(**NS)["ScalingPolicies"]  # type: ignore[no-any-return]


def test_autoscaling_is_created_updated_in_place_survives_a_new_instance_type_and_is_destroyed(
        cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    add(cli, SCALING)
    plan = cli.run("plan")
    assert "+ prototype_model: autoscaling of" in plan.out and "1-3 instances" in plan.out
    assert "est. $1.51/h-$4.54/h" in plan.out  # the $/h range from min to max
    deploy(cli)
    endpoint = dep(cli)["endpoint"]["name"]
    rid = f"endpoint/{endpoint}/variant/variant-1"
    (target,) = targets(cli)
    assert (target["ResourceId"], target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (
        rid, "sagemaker:variant:DesiredInstanceCount", 1, 3)
    (policy,) = policies(cli)
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and tracking["TargetValue"] == 300.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (600, 60)
    clean_plan(cli)

    # Application Auto Scaling moves the count: status shows what runs and what is asked for
    sandbox.scale_variant(endpoint, 2)
    row = status(cli, INSIDE)["deployments"][0]
    assert row["autoscaling"]["desired_instances"] == 2 and row["autoscaling"]["max_instances"] == 3
    clean_plan(cli)  # a count Application Auto Scaling set is not drift

    # a new maximum: the target and policy are updated in place (never deregistered)
    edit(cli, "max_instances: 3", "max_instances: 4")
    calls: list[str] = []
    sandbox.request_hook = lambda r: calls.append(r.operation) if r.service == "application-autoscaling" else None
    r = deploy(cli)
    sandbox.request_hook = None
    assert "~ prototype_model: autoscaling of" in r.err
    assert "DeregisterScalableTarget" not in calls and "RegisterScalableTarget" in calls
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(1, 4)]
    clean_plan(cli)

    # a new instance type: SageMaker refuses UpdateEndpoint while the variant is a scalable target,
    # so esmctl deregisters, updates, waits, registers again — same endpoint name, clean plan after
    edit(cli, "instance_type: ml.g5.2xlarge", "instance_type: ml.g5.4xlarge")
    deploy(cli)
    assert dep(cli)["endpoint"]["name"] == endpoint
    described = cli.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    config = cli.client("sagemaker").describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.4xlarge"
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(rid, 1, 4)]
    assert len(policies(cli)) == 1
    clean_plan(cli)

    assert cli.run("destroy", "--yes").code == 0
    assert targets(cli) == [] and policies(cli) == []


def test_autoscaling_removed_from_the_file_deregisters_and_stop_start_register_again(cli: Env) -> None:
    cli.example("basic")
    add(cli, SCALING)
    deploy(cli)
    assert cli.run("stop", PROTO, "--yes").code == 0
    assert targets(cli) == []  # the endpoint is gone, and its target with it
    assert cli.run("start", PROTO).code == 0
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(1, 3)]
    edit(cli, SCALING, "")
    r = deploy(cli)
    assert "- prototype_model: autoscaling of" in r.err
    assert targets(cli) == [] and policies(cli) == []
    clean_plan(cli)


def test_deploy_no_wait_leaves_the_scaling_to_the_next_command(cli: Env) -> None:
    cli.example("basic")
    add(cli, SCALING)
    assert cli.run("deploy", "--yes", "--no-wait").code == 0
    assert targets(cli) == []  # the endpoint is still Creating: nothing to register yet
    deploy(cli)  # waits for it, then registers
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(1, 3)]


# --- office hours ------------------------------------------------------------------------------------
def schedules(cli: Env) -> dict[str, dict[str, Any]]:
    sch = cli.client("scheduler")
    return {s["Name"]: sch.get_schedule(Name=s["Name"]) for s in sch.list_schedules()["Schedules"]}


def policy_of(cli: Env, role: str) -> dict[str, Any]:
    doc = cli.client("iam").get_role_policy(RoleName=role, PolicyName="esmctl-office-hours")["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc  # type: ignore[no-any-return]


def test_office_hours_stop_and_start_the_endpoint_server_side(cli: Env) -> None:
    cli.example("basic")
    add(cli, HOURS)
    r = cli.run("deploy", "--yes", env=at(INSIDE))
    assert r.code == 0, r.text
    d = dep(cli)
    endpoint, config = d["endpoint"]["name"], d["endpoint_config"]["name"]
    outputs = cli.run("output", "--json").out

    found = schedules(cli)
    assert sorted(found) == ["esmctl-dev-prototype_model-off", "esmctl-dev-prototype_model-on"]
    on, off = found["esmctl-dev-prototype_model-on"], found["esmctl-dev-prototype_model-off"]
    assert (on["ScheduleExpression"], on["ScheduleExpressionTimezone"]) == ("cron(0 8 ? * MON-FRI *)", "Europe/Berlin")
    assert (off["ScheduleExpression"], off["ScheduleExpressionTimezone"]) == ("cron(0 19 ? * MON-FRI *)",
                                                                              "Europe/Berlin")
    assert on["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createEndpoint"
    assert off["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
    start_input = json.loads(on["Target"]["Input"])
    assert (start_input["EndpointName"], start_input["EndpointConfigName"]) == (endpoint, config)
    assert {"Key": "esmctl:deployment", "Value": PROTO} in start_input["Tags"]
    assert json.loads(off["Target"]["Input"]) == {"EndpointName": endpoint}
    arn = f"arn:aws:sagemaker:us-east-2:123456789012:endpoint/{endpoint.lower()}"
    on_role, off_role = (t["Target"]["RoleArn"].rsplit("/", 1)[1] for t in (on, off))
    assert on_role != off_role  # each edge its own role
    on_actions = {a: s["Resource"] for s in policy_of(cli, on_role)["Statement"]
                  for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert on_actions == {"sagemaker:CreateEndpoint": [arn, arn.replace(f"endpoint/{endpoint.lower()}",
                                                                        f"endpoint-config/{config.lower()}")],
                          "sagemaker:AddTags": arn}
    (stmt,) = policy_of(cli, off_role)["Statement"]
    assert (stmt["Action"], stmt["Resource"]) == ("sagemaker:DeleteEndpoint", arn)
    row = status(cli, INSIDE)["deployments"][0]
    assert row["schedule"]["next_stop"] == "2026-12-02T18:00:00Z"

    # 19:00 in Berlin: EventBridge Scheduler deletes the endpoint with the laptop closed
    run = fire_schedule("esmctl-dev-prototype_model-off")
    assert run.error == ""
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []
    row = status(cli, OUTSIDE)["deployments"][0]
    assert row["status"] == "off (schedule) until Thu 08:00 Europe/Berlin"
    assert row["schedule"]["next_start"] == "2026-12-03T07:00:00Z"
    assert row["estimated_cost_per_hour"] == 0.0
    clean_plan(cli, OUTSIDE)  # not drift, and deploy does not start it
    r = cli.run("deploy", "--yes", env=at(OUTSIDE))
    assert r.code == 0 and cli.client("sagemaker").list_endpoints()["Endpoints"] == []

    # 08:00: the start schedule brings it back under the same name, from the kept config
    run = fire_schedule("esmctl-dev-prototype_model-on")
    assert run.error == ""
    described = cli.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert described["EndpointConfigName"] == config
    deploy(cli)  # waits for it (InService) and changes nothing
    assert cli.run("output", "--json").out == outputs
    clean_plan(cli, INSIDE)
    assert status(cli, INSIDE)["deployments"][0]["status"] == "InService"


def test_inside_the_hours_a_missing_endpoint_is_repaired_and_start_runs_it_outside(cli: Env) -> None:
    cli.example("basic")
    add(cli, HOURS)
    assert cli.run("deploy", "--yes", env=at(INSIDE)).code == 0
    endpoint = dep(cli)["endpoint"]["name"]
    cli.client("sagemaker").delete_endpoint(EndpointName=endpoint)
    p = cli.run("plan", env=at(INSIDE))
    assert "+ prototype_model: endpoint" in p.out and "vanished" in p.out

    # outside the hours `start` runs it anyway (until the next scheduled stop)
    r = cli.run("start", PROTO, env=at(OUTSIDE))
    assert r.code == 0, r.text
    assert cli.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    clean_plan(cli, OUTSIDE)  # running outside the hours is not drift either

    # stop pauses the schedules (they would start it again tomorrow); start puts them back
    assert cli.run("stop", PROTO, "--yes", env=at(OUTSIDE)).code == 0
    assert schedules(cli) == {}
    assert cli.run("start", PROTO, env=at(OUTSIDE)).code == 0
    assert sorted(schedules(cli)) == ["esmctl-dev-prototype_model-off", "esmctl-dev-prototype_model-on"]

    assert cli.run("destroy", "--yes").code == 0
    assert schedules(cli) == {} and cli.client("iam").list_roles()["Roles"] == []


def test_a_new_instance_type_moves_the_start_schedule_to_the_new_config(cli: Env) -> None:
    cli.example("basic")
    add(cli, HOURS)
    assert cli.run("deploy", "--yes", env=at(INSIDE)).code == 0
    edit(cli, "instance_type: ml.g5.2xlarge", "instance_type: ml.g5.4xlarge")
    r = cli.run("deploy", "--yes", env=at(INSIDE))
    assert r.code == 0, r.text
    assert "~ prototype_model: office hours of" in r.err
    start = json.loads(schedules(cli)["esmctl-dev-prototype_model-on"]["Target"]["Input"])
    assert start["EndpointConfigName"] == dep(cli)["endpoint_config"]["name"]
    clean_plan(cli)


# --- budget ------------------------------------------------------------------------------------------
def test_deploy_refuses_a_plan_over_budget_and_proceeds_with_over_budget(cli: Env) -> None:
    cli.example("basic")
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "budget:\n  monthly_usd: 500\n")
    t0 = "2026-12-10T12:00:00Z"
    r = cli.run("deploy", "--yes", env=at(t0))
    assert r.code == 1 and "Over budget" in r.err and "--over-budget" in r.err, r.text
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert cli.client("sagemaker").list_models()["Models"] == []
    assert cli.client("iam").list_roles()["Roles"] == []
    assert not cli.state_file.exists() or cli.state_doc()["deployments"] == {}

    r = cli.run("deploy", "--yes", "--over-budget", env=at(t0))
    assert r.code == 0, r.text
    t1 = "2026-12-11T00:00:00Z"  # 12 hours later
    b = status(cli, t1)["budget"]
    per_h = prices.cost("ml.g5.2xlarge", 1, "us-east-2", {})
    assert per_h is not None
    left = (dt.datetime(2027, 1, 1, tzinfo=dt.UTC) - dt.datetime(2026, 12, 11, tzinfo=dt.UTC)).total_seconds() / 3600
    assert b["month"] == "2026-12" and b["hours_left"] == left == 504
    assert b["spent_usd"] == round(per_h * 12, 2)
    assert b["remaining_usd"] == round(per_h * 504, 2)
    assert b["projected_usd"] == round(per_h * 516, 2)
    assert b["budget_usd"] == 500 and b["level"] == "over" and b["share"] == round(per_h * 516 / 500, 4)
    assert b["estimates"] is True

    # with office hours the same endpoint fits: the projection counts only the hours it runs
    edit(cli, "monthly_usd: 500", "monthly_usd: 1000")
    add(cli, HOURS)
    p = json.loads(cli.run("plan", "--json", env=at(t1)).out)
    # spent: the 6 hours of Thursday's range since it was deployed; left: 15 weekdays of 11 hours
    assert p["budget"]["deployments"][PROTO]["scheduled"] is True
    assert (p["budget"]["spent_usd"], p["budget"]["remaining_usd"]) == (round(per_h * 6, 2), round(per_h * 165, 2))
    assert p["budget"]["level"] == "ok"
    assert p["estimated_cost_per_month"][PROTO]["hours"] == round(730 * 55 / 168, 1)


def test_office_hours_with_autoscaling_register_the_new_endpoint_again_server_side(cli: Env) -> None:
    cli.example("basic")
    add(cli, SCALING + HOURS)
    assert cli.run("deploy", "--yes", env=at(INSIDE)).code == 0
    found = schedules(cli)
    assert sorted(found) == ["esmctl-dev-prototype_model-off", "esmctl-dev-prototype_model-on",
                             "esmctl-dev-prototype_model-on-policy", "esmctl-dev-prototype_model-on-register"]
    off, register = found["esmctl-dev-prototype_model-off"], found["esmctl-dev-prototype_model-on-register"]
    actions = [s["Action"] for s in policy_of(cli, off["Target"]["RoleArn"].rsplit("/", 1)[1])["Statement"]]
    assert actions == ["sagemaker:DeleteEndpoint", "application-autoscaling:DeregisterScalableTarget"]
    assert register["ScheduleExpression"] == "cron(30 8 ? * MON-FRI *)"  # 30 minutes after the start
    assert found["esmctl-dev-prototype_model-on-policy"]["ScheduleExpression"] == "cron(32 8 ? * MON-FRI *)"
    assert register["Target"]["Arn"] == "arn:aws:scheduler:::aws-sdk:applicationautoscaling:registerScalableTarget"
    assert len(targets(cli)) == 1

    # 19:00: DeleteEndpoint deregisters the variant (the end role may); nothing scales a deleted endpoint
    assert fire_schedule("esmctl-dev-prototype_model-off").error == ""
    assert targets(cli) == [] and policies(cli) == []
    clean_plan(cli, OUTSIDE)  # off: nothing to scale, nothing to repair

    # 08:00 the endpoint comes back at its starting count; 08:30 and 08:32 register and scale it again,
    # with every laptop closed, as the start role (which may do just that)
    assert fire_schedule("esmctl-dev-prototype_model-on").error == ""
    endpoint = dep(cli)["endpoint"]["name"]
    assert cli.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"] in (
        "Creating", "InService")
    assert fire_schedule("esmctl-dev-prototype_model-on-register").error == ""
    assert fire_schedule("esmctl-dev-prototype_model-on-policy").error == ""
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(1, 3)]
    (policy,) = policies(cli)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 300.0
    deploy(cli)  # waits for the endpoint; nothing else to do
    clean_plan(cli, INSIDE)


def test_a_new_model_keeps_the_instance_count_autoscaling_set(cli: Env, sandbox: Any) -> None:
    """A change that is not the instance type (here the catalog's model package: a new model and config)
    updates the endpoint with RetainAllVariantProperties, so a scaled-out endpoint is not cut back to
    its starting count under load."""
    cli.example("basic")
    add(cli, SCALING)
    deploy(cli)
    endpoint = dep(cli)["endpoint"]["name"]
    sandbox.scale_variant(endpoint, 3)
    deploy(cli)  # waits for the scaling activity to end
    catalog = cli.folder / "models.yaml"
    catalog.write_text(catalog.read_text().replace("esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53",
                                                   "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b54"))
    r = deploy(cli)
    assert "~ prototype_model: endpoint" in r.err
    (variant,) = cli.client("sagemaker").describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (3, 3)
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets(cli)] == [(1, 3)]
    clean_plan(cli)


def test_a_stop_timer_set_before_autoscaling_still_stops_the_endpoint(cli: Env) -> None:
    """DeleteEndpoint deregisters the variant as the caller and is refused without that right: adding
    autoscaling gives the pending timer's role the right too, so the timer still stops the billing."""
    cli.example("basic")
    deploy(cli, "--ttl", "8h")
    add(cli, SCALING)
    deploy(cli)
    timer = dep(cli)["stop_schedule"]
    run = fire_schedule(timer["name"])
    assert run.error == "", run.error
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == [] and targets(cli) == []


def test_office_hours_set_outside_them_stop_the_endpoint_now(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    add(cli, HOURS)
    r = cli.run("deploy", "--yes", env=at(OUTSIDE))
    assert r.code == 0, r.text
    assert "- prototype_model: endpoint" in r.err and "office hours set outside them" in r.err
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert status(cli, OUTSIDE)["deployments"][0]["status"].startswith("off (schedule) until Thu 08:00")
    clean_plan(cli, OUTSIDE)
    # later runs outside the hours leave an endpoint `start` ran alone
    assert cli.run("start", PROTO, env=at(OUTSIDE)).code == 0
    clean_plan(cli, OUTSIDE)
