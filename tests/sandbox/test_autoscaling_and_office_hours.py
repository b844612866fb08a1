"""Application Auto Scaling of endpoint variants and recurring (office-hours) schedules in the sandbox.

What AWS does and moto 5.2.5 does not (esmctl/sandbox/_autoscaling.py, _schedule_rules.py and the
Scheduler part of control.py cite the sources): SageMaker targets must exist, not-found answers are
ObjectNotFoundException, deregistering removes the policies, UpdateEndpoint refuses a new instance
type for a registered variant, DeleteEndpoint deregisters, `control.scale_variant` scales like a
policy; `fire_schedule` runs any schedule (createEndpoint as a target too), and CreateSchedule checks
cron expressions and time zones. In-process (`mock_aws`) and, for the wire, the sandbox server.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

import pytest

from esmctl.sandbox import SandboxControl
from esmctl.sandbox._autoscaling import DEREGISTER_DENIED, SERVICE_LINKED_ROLE
from esmctl.sandbox._schedule_rules import valid_expression, valid_timezone
from esmctl.sandbox.control import fire_due_schedules, fire_schedule
from esmctl.sandbox.faults import MUTATING
from tests.sandbox.conftest import FAST, FrozenClock
from tests.sandbox.test_sandbox import ACCOUNT, REGION, create_config, deploy, error_of, wait_status

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY = "esmctl-invocations-per-instance"
TRACKING = {"TargetValue": 70.0, "ScaleInCooldown": 300, "ScaleOutCooldown": 60,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
SLR_ARN = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
           f"{SERVICE_LINKED_ROLE}")
CREATE_ENDPOINT = "arn:aws:scheduler:::aws-sdk:sagemaker:createEndpoint"
DELETE_ENDPOINT = "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
MORNING = dt.datetime(2030, 1, 7, 8, 0, tzinfo=dt.UTC)


def rid(endpoint: str, variant: str = "variant-1") -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def register(aas: Any, endpoint: str, low: int | None = 1, high: int | None = 4, **extra: Any) -> dict[str, Any]:
    bounds = {k: v for k, v in (("MinCapacity", low), ("MaxCapacity", high)) if v is not None}
    return dict(aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid(endpoint),
                                             ScalableDimension=DIMENSION, **bounds, **extra))


def put_policy(aas: Any, endpoint: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return dict(aas.put_scaling_policy(
        PolicyName=POLICY, ServiceNamespace="sagemaker", ResourceId=rid(endpoint), ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=config or TRACKING))


def targets(aas: Any, **filters: Any) -> list[dict[str, Any]]:
    return list(aas.describe_scalable_targets(ServiceNamespace="sagemaker", **filters)["ScalableTargets"])


def policies(aas: Any, **filters: Any) -> list[dict[str, Any]]:
    return list(aas.describe_scaling_policies(ServiceNamespace="sagemaker", **filters)["ScalingPolicies"])


def variant(sm: Any, endpoint: str) -> dict[str, Any]:
    (summary,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return dict(summary)


def live(sm: Any, name: str = "Endpoint-Scaled", **kwargs: Any) -> str:
    endpoint = deploy(sm, name, **kwargs)["endpoint"]
    wait_status(sm, endpoint, "InService")
    return endpoint


@pytest.fixture
def aas(mocked: SandboxControl, boto_session: Any) -> Any:
    return boto_session.client("application-autoscaling")


@pytest.fixture
def scheduler(mocked: SandboxControl, boto_session: Any) -> Any:
    return boto_session.client("scheduler")


@pytest.fixture
def cloudwatch(mocked: SandboxControl, boto_session: Any) -> Any:
    return boto_session.client("cloudwatch")


# ---------------------------------------------------------------------------------------------
# RegisterScalableTarget / DescribeScalableTargets


def test_register_needs_an_existing_endpoint_variant(sm: Any, aas: Any) -> None:
    error = error_of(register, aas, "Endpoint-Missing")
    assert error["Code"] == "ValidationException"
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/endpoint-missing" in error["Message"]
    endpoint = live(sm)
    error = error_of(aas.register_scalable_target, ServiceNamespace="sagemaker", ResourceId=rid(endpoint, "other"),
                     ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2)
    assert error["Code"] == "ValidationException" and '"other"' in error["Message"]
    assert targets(aas) == []


def test_burstable_instances_cannot_be_scalable_targets(sm: Any, aas: Any) -> None:
    endpoint = live(sm, instance_type="ml.t2.medium")
    error = error_of(register, aas, endpoint)
    assert (error["Code"], error["Message"]) == ("ValidationException", (
        "You cannot register a variant with ml.t2.medium instance type as a scalable target. This is because the "
        "burstable performance of these instances can lead to unpredictable behavior with Auto Scaling."))


def test_register_then_register_again_updates_the_bounds(sm: Any, aas: Any, iam: Any) -> None:
    endpoint = live(sm)
    assert error_of(register, aas, endpoint, high=None)["Code"] == "ValidationException"  # new: both needed
    assert error_of(register, aas, endpoint, low=5, high=2)["Code"] == "ValidationException"
    arn = register(aas, endpoint)["ScalableTargetARN"]
    assert arn.startswith(f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/")
    (target,) = targets(aas)
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (rid(endpoint), 1, 4)
    assert target["RoleARN"] == SLR_ARN  # the service-linked role, created on first use
    assert iam.get_role(RoleName=SERVICE_LINKED_ROLE)["Role"]["Arn"] == SLR_ARN
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                                        "ScheduledScalingSuspended": False}
    assert register(aas, endpoint, low=None, high=6)["ScalableTargetARN"] == arn  # only the maximum changes
    (target,) = targets(aas)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)
    assert error_of(register, aas, endpoint, low=7, high=None)["Code"] == "ValidationException"  # 7 > 6


def test_registering_a_minimum_above_the_count_scales_the_variant_into_range(
        sm: Any, aas: Any, mocked: SandboxControl) -> None:
    endpoint = live(sm)
    register(aas, endpoint, low=2, high=4)
    assert variant(sm, endpoint)["DesiredInstanceCount"] == 2
    assert wait_status(sm, endpoint, "InService")["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_describe_scalable_targets_pages(sm: Any, aas: Any) -> None:
    names = [live(sm, f"Endpoint-{i}") for i in range(3)]
    for name in names:
        register(aas, name)
    seen, token = [], None
    while True:
        page = aas.describe_scalable_targets(ServiceNamespace="sagemaker", MaxResults=1,
                                             **({"NextToken": token} if token else {}))
        seen += [t["ResourceId"] for t in page["ScalableTargets"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(rid(n) for n in names)
    assert [t["ResourceId"] for t in targets(aas, ResourceIds=[rid(names[1])])] == [rid(names[1])]


# ---------------------------------------------------------------------------------------------
# Policies, not found, deregistering


def test_policies_need_a_registered_target_and_a_variant_metric(sm: Any, aas: Any, cloudwatch: Any) -> None:
    endpoint = live(sm)
    error = error_of(put_policy, aas, endpoint)
    assert (error["Code"], error["Message"]) == ("ObjectNotFoundException", (
        f"No scalable target registered for service namespace: sagemaker, resource ID: {rid(endpoint)}, "
        f"scalable dimension: {DIMENSION}"))
    register(aas, endpoint)
    wrong = {**TRACKING, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}
    assert error_of(put_policy, aas, endpoint, wrong)["Code"] == "ValidationException"
    first = put_policy(aas, endpoint)
    assert len(first["Alarms"]) == 2  # Application Auto Scaling makes the policy's alarms
    assert all(a["AlarmName"].startswith(f"TargetTracking-{rid(endpoint)}-Alarm") for a in first["Alarms"])
    again = put_policy(aas, endpoint, {**TRACKING, "TargetValue": 100.0})  # an update in place
    assert again["PolicyARN"] == first["PolicyARN"]
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 2  # the old alarms were replaced
    (policy,) = policies(aas, ResourceId=rid(endpoint))
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 100.0
    assert policy["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"] == 300
    assert policies(aas, PolicyNames=["another"]) == []
    assert policies(aas, ResourceId=rid(endpoint) + "0") == []  # exact, not a substring


def test_not_found_is_object_not_found_and_deregistering_removes_the_policies(
        sm: Any, aas: Any, cloudwatch: Any) -> None:
    endpoint = live(sm)
    error = error_of(aas.delete_scaling_policy, PolicyName=POLICY, ServiceNamespace="sagemaker",
                     ResourceId=rid(endpoint), ScalableDimension=DIMENSION)
    assert error["Code"] == "ObjectNotFoundException"
    error = error_of(aas.deregister_scalable_target, ServiceNamespace="sagemaker", ResourceId=rid(endpoint),
                     ScalableDimension=DIMENSION)
    assert (error["Code"], error["Message"]) == ("ObjectNotFoundException", (
        f"No scalable target found for service namespace: sagemaker, resource ID: {rid(endpoint)}, "
        f"scalable dimension: {DIMENSION}"))
    register(aas, endpoint)
    put_policy(aas, endpoint)
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid(endpoint), ScalableDimension=DIMENSION)
    assert (targets(aas), policies(aas), cloudwatch.describe_alarms()["MetricAlarms"]) == ([], [], [])
    register(aas, endpoint)
    put_policy(aas, endpoint)
    aas.delete_scaling_policy(PolicyName=POLICY, ServiceNamespace="sagemaker", ResourceId=rid(endpoint),
                              ScalableDimension=DIMENSION)
    assert policies(aas) == [] and len(targets(aas)) == 1


# ---------------------------------------------------------------------------------------------
# SageMaker with a registered variant


def test_update_endpoint_refuses_a_new_instance_type_until_deregistered(sm: Any, aas: Any) -> None:
    names = deploy(sm, "Endpoint-Scaled")
    endpoint = names["endpoint"]
    wait_status(sm, endpoint, "InService")
    register(aas, endpoint)
    create_config(sm, "EndpointConfig-g6", names["model"], instance_type="ml.g6.2xlarge")
    error = error_of(sm.update_endpoint, EndpointName=endpoint, EndpointConfigName="EndpointConfig-g6")
    assert error["Code"] == "ValidationException"
    assert "ml.g5.2xlarge to ml.g6.2xlarge" in error["Message"] and "DeregisterScalableTarget" in error["Message"]
    # Removing the registered variant is refused too.
    sm.create_endpoint_config(EndpointConfigName="EndpointConfig-renamed", ProductionVariants=[{
        "VariantName": "variant-2", "ModelName": names["model"], "InitialInstanceCount": 1,
        "InstanceType": "ml.g5.2xlarge"}])
    assert "remove that variant" in error_of(sm.update_endpoint, EndpointName=endpoint,
                                             EndpointConfigName="EndpointConfig-renamed")["Message"]
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    # The same instance type with another count is allowed, and the target stays.
    create_config(sm, "EndpointConfig-two", names["model"], count=2)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName="EndpointConfig-two")
    assert wait_status(sm, endpoint, "InService")["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert len(targets(aas)) == 1
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid(endpoint), ScalableDimension=DIMENSION)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName="EndpointConfig-g6")
    assert wait_status(sm, endpoint, "InService")["EndpointConfigName"] == "EndpointConfig-g6"


def test_delete_endpoint_deregisters_its_targets(sm: Any, aas: Any, cloudwatch: Any) -> None:
    keep, gone = live(sm, "Endpoint-Keep"), live(sm, "Endpoint-Gone")
    for name in (keep, gone):
        register(aas, name)
        put_policy(aas, name)
    sm.delete_endpoint(EndpointName=gone.lower())  # any case
    assert [t["ResourceId"] for t in targets(aas)] == [rid(keep)]
    assert [p["ResourceId"] for p in policies(aas)] == [rid(keep)]
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 2


def test_scale_variant_changes_desired_then_current_count(
        sm: Any, aas: Any, mocked: SandboxControl, sandbox_clock: FrozenClock) -> None:
    endpoint = deploy(sm, "Endpoint-Scaled")["endpoint"]
    sandbox_clock.advance(FAST)
    wait_status(sm, endpoint, "InService")
    with pytest.raises(ValueError, match="not a registered scalable target"):
        mocked.scale_variant(endpoint, 2)
    register(aas, endpoint, low=1, high=3)
    with pytest.raises(ValueError, match="outside the scalable target's range 1..3"):
        mocked.scale_variant(endpoint, 4)
    with pytest.raises(ValueError, match="No endpoint"):
        mocked.scale_variant("Endpoint-Missing", 2)
    mocked.updating_seconds = 60.0
    assert mocked.scale_variant(endpoint.lower(), 3).endswith(f"endpoint/{endpoint.lower()}")
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Updating"
    assert (described["ProductionVariants"][0]["DesiredInstanceCount"],
            described["ProductionVariants"][0]["CurrentInstanceCount"]) == (3, 1)
    assert "PendingDeploymentSummary" not in described
    with pytest.raises(ValueError, match="Updating"):  # auto scaling waits while the endpoint updates
        mocked.scale_variant(endpoint, 2)
    sandbox_clock.advance(60.0)
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    assert (described["ProductionVariants"][0]["DesiredInstanceCount"],
            described["ProductionVariants"][0]["CurrentInstanceCount"]) == (3, 3)
    # UpdateEndpoint with RetainAllVariantProperties keeps the scaled count (same instance type: allowed).
    create_config(sm, "EndpointConfig-same-type", f"Model-{endpoint}")
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName="EndpointConfig-same-type",
                       RetainAllVariantProperties=True)
    sandbox_clock.advance(60.0)
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", "EndpointConfig-same-type")
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 3
    mocked.scale_variant(endpoint, 1)  # and back in
    sandbox_clock.advance(60.0)
    assert variant(sm, endpoint)["CurrentInstanceCount"] == 1


def test_update_endpoint_weights_and_capacities_finishes(sm: Any, mocked: SandboxControl) -> None:
    endpoint = live(sm)
    sm.update_endpoint_weights_and_capacities(EndpointName=endpoint, DesiredWeightsAndCapacities=[
        {"VariantName": "variant-1", "DesiredInstanceCount": 2}])
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    assert wait_status(sm, endpoint, "InService")["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    error = error_of(sm.update_endpoint_weights_and_capacities, EndpointName=endpoint,
                     DesiredWeightsAndCapacities=[{"VariantName": "nope", "DesiredInstanceCount": 2}])
    assert error["Code"] == "ValidationException"


# ---------------------------------------------------------------------------------------------
# Through the sandbox server


def test_application_autoscaling_through_the_server(served: Any, ctl: SandboxControl) -> None:
    sm, aas = served("sagemaker"), served("application-autoscaling")
    endpoint = live(sm)
    assert error_of(register, aas, "Endpoint-Missing")["Code"] == "ValidationException"
    register(aas, endpoint)
    assert error_of(aas.delete_scaling_policy, PolicyName="nope", ServiceNamespace="sagemaker",
                    ResourceId=rid(endpoint), ScalableDimension=DIMENSION)["Code"] == "ObjectNotFoundException"
    put_policy(aas, endpoint)
    assert [p["PolicyName"] for p in policies(aas, PolicyNames=[POLICY])] == [POLICY]
    create_config(sm, "EndpointConfig-p4", f"Model-{endpoint}", instance_type="ml.p4d.24xlarge")
    error = error_of(sm.update_endpoint, EndpointName=endpoint, EndpointConfigName="EndpointConfig-p4")
    assert error["Code"] == "ValidationException" and "scalable target" in error["Message"]
    ctl.scale_variant(endpoint, 2)
    assert variant(sm, endpoint)["DesiredInstanceCount"] == 2
    assert wait_status(sm, endpoint, "InService")["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    sm.delete_endpoint(EndpointName=endpoint)
    assert targets(aas) == [] and policies(aas) == []
    assert error_of(aas.deregister_scalable_target, ServiceNamespace="sagemaker", ResourceId=rid(endpoint),
                    ScalableDimension=DIMENSION)["Code"] == "ObjectNotFoundException"
    assert {"application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy",
            "application-autoscaling:DescribeScalingPolicies", "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DeregisterScalableTarget"} <= ctl.served_actions()


def _post(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_delete_endpoint_needs_permission_to_deregister(served: Any, server: Any, ctl: SandboxControl) -> None:
    ctl.creating_seconds = 0
    sm, aas, iam = served("sagemaker"), served("application-autoscaling"), served("iam")
    endpoint = live(sm)
    register(aas, endpoint)
    keys = {}
    for user, actions in (("deleter", ["sagemaker:DeleteEndpoint"]),
                          ("scaler", ["sagemaker:DeleteEndpoint", "application-autoscaling:DeregisterScalableTarget"])):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    _post(server.url + "/moto-api/reset-auth", b"0")  # IAM enforcement on (the fixture turns it off)
    error = error_of(served("sagemaker", **keys["deleter"]).delete_endpoint, EndpointName=endpoint)
    assert (error["Code"], error["Message"]) == ("ValidationException", DEREGISTER_DENIED)
    served("sagemaker", **keys["scaler"]).delete_endpoint(EndpointName=endpoint)
    _post(server.url + "/moto-api/reset-auth", b"inf")
    assert targets(aas) == []
    assert error_of(sm.describe_endpoint, EndpointName=endpoint)["Code"] == "ValidationException"


def test_register_and_deregister_count_as_mutating_calls() -> None:
    from esmctl.sandbox._served import operation_of

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/",
               "HTTP_X_AMZ_TARGET": "AnyScaleFrontendService.RegisterScalableTarget",
               "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-2/application-autoscaling/"
                                     "aws4_request, SignedHeaders=host, Signature=0"}
    assert operation_of(environ) == ("application-autoscaling", "RegisterScalableTarget")
    for operation in ("RegisterScalableTarget", "DeregisterScalableTarget", "PutScalingPolicy", "DeleteScalingPolicy"):
        assert MUTATING.match(operation)
    for operation in ("DescribeScalableTargets", "DescribeScalingPolicies"):
        assert not MUTATING.match(operation)


# ---------------------------------------------------------------------------------------------
# Schedules: expressions and time zones


@pytest.mark.parametrize("expression", [
    "cron(0 8 ? * MON-FRI *)", "cron(0 20 * * ? *)", "cron(0/15 8-18 ? * 2-6 *)", "cron(15 10 ? * 6L 2030-2032)",
    "cron(0 9 ? * 2#1 *)", "cron(0 12 L * ? *)", "cron(0 12 3W * ? *)", "cron(30 7 1,15 JAN,JUL ? *)",
    "rate(1 hour)", "rate(5 minutes)", "rate(2 days)", "at(2030-01-02T03:04:05)",
])
def test_expressions_eventbridge_scheduler_accepts(expression: str) -> None:
    assert valid_expression(expression)


@pytest.mark.parametrize("expression", [
    "cron(0 8 * * MON-FRI *)",  # a value in both day fields
    "cron(0 8 ? * ? *)",  # ? in both
    "cron(0 8 * * ?)",  # five fields (Unix cron)
    "cron(0 8 * * ? * *)",  # seven
    "cron(60 8 * * ? *)", "cron(0 24 * * ? *)", "cron(0 8 32 * ? *)", "cron(0 8 ? 13 * *)", "cron(0 8 ? * 8 *)",
    "cron(0 8 ? * MON#6 *)", "cron(0 8 ? * 2#1,3#2 *)", "cron(0 8 * * ? 1969)", "cron(0 8 ? * FOO *)",
    "rate(0 minutes)", "rate(1 week)", "rate(-1 hours)", "at(2030-02-30T00:00:00)", "at(2030-01-02 03:04:05)",
    "every day",
])
def test_expressions_eventbridge_scheduler_refuses(expression: str) -> None:
    assert not valid_expression(expression)


def test_time_zones() -> None:
    assert valid_timezone("Europe/Berlin") and valid_timezone("UTC") and valid_timezone("America/New_York")
    assert not valid_timezone("Mars/Olympus_Mons") and not valid_timezone("CEST+2") and not valid_timezone("")


def _check_schedule_expressions(client: Any) -> None:
    target = {"Arn": DELETE_ENDPOINT, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/timer", "Input": "{}"}
    error = error_of(client.create_schedule, Name="office", ScheduleExpression="cron(0 8 * * MON-FRI *)",
                     FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert (error["Code"], error["Message"]) == (
        "ValidationException", "Invalid Schedule Expression cron(0 8 * * MON-FRI *).")
    error = error_of(client.create_schedule, Name="office", ScheduleExpression="cron(0 8 ? * MON-FRI *)",
                     ScheduleExpressionTimezone="Mars/Olympus_Mons", FlexibleTimeWindow={"Mode": "OFF"},
                     Target=target)
    assert error["Code"] == "ValidationException" and "Mars/Olympus_Mons" in error["Message"]
    client.create_schedule(Name="office", ScheduleExpression="cron(0 8 ? * MON-FRI *)",
                           ScheduleExpressionTimezone="Europe/Berlin", FlexibleTimeWindow={"Mode": "OFF"},
                           Target=target)
    error = error_of(client.update_schedule, Name="office", ScheduleExpression="rate(1 fortnight)",
                     FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    assert error["Code"] == "ValidationException"


def test_create_schedule_checks_the_expression_and_time_zone(scheduler: Any) -> None:
    _check_schedule_expressions(scheduler)


def test_create_schedule_checks_the_expression_and_time_zone_through_the_server(served: Any) -> None:
    _check_schedule_expressions(served("scheduler"))


# ---------------------------------------------------------------------------------------------
# Schedules: fire_schedule, createEndpoint


def _role(iam: Any, name: str, actions: list[str]) -> str:
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])
    if actions:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/endpoint-office",
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/endpointconfig-office"]}]}))
    return arn


def _office_hours(scheduler: Any, name: str, expression: str, target_arn: str, role_arn: str,
                  params: dict[str, Any], **extra: Any) -> None:
    scheduler.create_schedule(Name=name, ScheduleExpression=expression, ScheduleExpressionTimezone="Europe/Berlin",
                              FlexibleTimeWindow={"Mode": "OFF"}, **extra,
                              Target={"Arn": target_arn, "RoleArn": role_arn, "Input": json.dumps(params)})


def _config(sm: Any) -> dict[str, Any]:
    """A model and endpoint config to start from, and no endpoint yet."""
    sm.create_model(ModelName="Model-Office", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec",
                    PrimaryContainer={"Image": "x"})
    create_config(sm, "EndpointConfig-Office", "Model-Office")
    return {"EndpointName": "Endpoint-Office", "EndpointConfigName": "EndpointConfig-Office",
            "Tags": [{"Key": "esmctl:environment", "Value": "dev"}]}


def test_a_recurring_schedule_creates_the_endpoint_every_time_it_fires(sm: Any, iam: Any, scheduler: Any) -> None:
    params = _config(sm)
    role = _role(iam, "office-start", ["sagemaker:CreateEndpoint", "sagemaker:AddTags"])
    _office_hours(scheduler, "office-start", "cron(0 8 ? * MON-FRI *)", CREATE_ENDPOINT, role, params,
                  ActionAfterCompletion="DELETE")
    assert fire_due_schedules(now=MORNING) == []  # recurring schedules are fired by name
    run = fire_schedule("office-start", now=MORNING)
    assert (run.name, run.target, run.input, run.error) == ("office-start", CREATE_ENDPOINT, params, "")
    described = wait_status(sm, "Endpoint-Office", "InService")
    tags = sm.list_tags(ResourceArn=described["EndpointArn"])["Tags"]
    assert {"Key": "esmctl:environment", "Value": "dev"} in tags
    assert scheduler.get_schedule(Name="office-start")["State"] == "ENABLED"  # recurring: never deleted
    again = fire_schedule("office-start", now=MORNING + dt.timedelta(days=1))
    assert again.error.startswith("ValidationException: Cannot create already existing endpoint")


def test_create_endpoint_target_needs_each_permission(sm: Any, iam: Any, scheduler: Any) -> None:
    params = _config(sm)
    for name, actions, missing in (
            ("no-tags", ["sagemaker:CreateEndpoint"], "sagemaker:AddTags"),
            ("nothing", [], "sagemaker:CreateEndpoint")):
        _office_hours(scheduler, name, "rate(1 day)", CREATE_ENDPOINT, _role(iam, name, actions), params)
        run = fire_schedule(name, now=MORNING)
        assert run.error.startswith("AccessDeniedException: ") and missing in run.error, run.error
    error = error_of(sm.describe_endpoint, EndpointName="Endpoint-Office")
    assert error["Code"] == "ValidationException"
    # Without Tags, AddTags is not needed; the endpoint config must be allowed too.
    only_endpoint = _role(iam, "only-endpoint", [])
    iam.put_role_policy(RoleName="only-endpoint", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:CreateEndpoint",
                                                "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/*"}]}))
    untagged = {k: v for k, v in params.items() if k != "Tags"}
    _office_hours(scheduler, "only-endpoint", "rate(1 day)", CREATE_ENDPOINT, only_endpoint, untagged)
    run = fire_schedule("only-endpoint", now=MORNING)
    assert "endpoint-config/endpointconfig-office" in run.error
    _office_hours(scheduler, "untagged", "rate(1 day)", CREATE_ENDPOINT,
                  _role(iam, "untagged", ["sagemaker:CreateEndpoint"]), untagged)
    assert fire_schedule("untagged", now=MORNING).error == ""


def test_fire_schedule_refuses_what_scheduler_would_not_run(sm: Any, iam: Any, scheduler: Any) -> None:
    params = _config(sm)
    role = _role(iam, "office", ["sagemaker:CreateEndpoint", "sagemaker:AddTags"])
    with pytest.raises(ValueError, match="No schedule"):
        fire_schedule("missing")
    _office_hours(scheduler, "off", "cron(0 8 ? * MON-FRI *)", CREATE_ENDPOINT, role, params, State="DISABLED")
    with pytest.raises(ValueError, match="DISABLED"):
        fire_schedule("off", now=MORNING)
    _office_hours(scheduler, "later", "rate(1 day)", CREATE_ENDPOINT, role, params,
                  StartDate=dt.datetime(2031, 1, 1, tzinfo=dt.UTC), EndDate=dt.datetime(2032, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ValueError, match="StartDate"):
        fire_schedule("later", now=MORNING)
    with pytest.raises(ValueError, match="EndDate"):
        fire_schedule("later", now=dt.datetime(2032, 1, 1, tzinfo=dt.UTC))
    assert fire_schedule("later", now=dt.datetime(2031, 6, 1, tzinfo=dt.UTC)).error == ""


def test_fire_schedule_of_a_one_time_schedule_completes_it(sm: Any, iam: Any, scheduler: Any) -> None:
    params = _config(sm)
    role = _role(iam, "office", ["sagemaker:CreateEndpoint", "sagemaker:AddTags"])
    _office_hours(scheduler, "once", "at(2030-01-07T09:00:00)", CREATE_ENDPOINT, role, params,
                  ActionAfterCompletion="DELETE")
    assert fire_schedule("once", now=MORNING).error == ""  # before its time: fired by hand
    assert scheduler.list_schedules()["Schedules"] == []
    assert fire_due_schedules(now=MORNING + dt.timedelta(days=1)) == []


def test_a_stop_timer_role_must_deregister_an_autoscaled_endpoint(
        sm: Any, iam: Any, aas: Any, scheduler: Any) -> None:
    endpoint = live(sm, "Endpoint-Office")
    register(aas, endpoint)
    deleter = _role(iam, "deleter", ["sagemaker:DeleteEndpoint"])
    _office_hours(scheduler, "office-stop", "cron(0 18 ? * MON-FRI *)", DELETE_ENDPOINT, deleter,
                  {"EndpointName": endpoint})
    run = fire_schedule("office-stop", now=MORNING)
    assert run.error == f"ValidationException: {DEREGISTER_DENIED}"
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    iam.put_role_policy(RoleName="deleter", PolicyName="deregister", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": "application-autoscaling:DeregisterScalableTarget"}]}))
    assert fire_schedule("office-stop", now=MORNING).error == ""
    assert targets(aas) == []
    assert scheduler.get_schedule(Name="office-stop")["Name"] == "office-stop"
