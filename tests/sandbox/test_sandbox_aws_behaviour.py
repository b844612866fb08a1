"""The sandbox's real-AWS behaviours that are on by default: eventual consistency, Marketplace
subscriptions, IAM and CloudWatch limits, rate limits, instance types, endpoint end states.

Each test turns its behaviour on (the `ctl` fixture turns the delays and rate limits off for the
other tests) with short delays, and checks the answer AWS gives; docs/aws-behaviour.md has the
sources. In-process tests use `mock_aws` (fixtures `sm`, `iam`, `mocked`), the wire-level ones the
sandbox server (`served`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.config import Config

from esmctl.sandbox import SandboxControl
from esmctl.sandbox.control import DEFAULT_RATE_LIMITS, UPDATE_ROLLBACK_FAILED_REASON, parse_rate_limits
from tests.sandbox.conftest import FrozenClock
from tests.sandbox.test_sandbox import (
    ACCOUNT,
    ENDPOINT,
    ENDPOINT_ARN,
    PACKAGE_ARN,
    REGION,
    create_config,
    deploy,
    encode_request,
    error_of,
    invoke,
    wait_status,
)

DELAY = 2.0  # seconds of "eventual consistency" in these tests: on the sandbox's clock, which the tests
# that use it (fixture `sandbox_clock`) move on themselves
TRUST_SAGEMAKER = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com", "scheduler.amazonaws.com"]},
    "Action": "sts:AssumeRole"}]})
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def statement(resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": resource}


# ---------------------------------------------------------------------------------------------
# the knobs


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROLE_PROPAGATION_SECONDS", "KEY_PROPAGATION_SECONDS", "CONFIG_LOOKUP_SECONDS",
                 "SECRET_DELETION_SECONDS", "SUBSCRIBED", "ENFORCE_IAM_LIMITS", "ENFORCE_METRIC_PERIODS",
                 "RATE_LIMITS"):
        monkeypatch.delenv(f"ESMCTL_SANDBOX_{name}", raising=False)
    fresh = SandboxControl()
    assert (fresh.role_propagation_seconds, fresh.key_propagation_seconds, fresh.config_lookup_seconds,
            fresh.secret_deletion_seconds) == (5.0, 5.0, 1.0, 5.0)
    assert fresh.subscribed and fresh.enforce_iam_limits and fresh.enforce_metric_periods
    assert fresh.rate_limits == DEFAULT_RATE_LIMITS == {"mutate": (5.0, 20.0), "read": (20.0, 50.0)}

    monkeypatch.setenv("ESMCTL_SANDBOX_ROLE_PROPAGATION_SECONDS", "0")
    monkeypatch.setenv("ESMCTL_SANDBOX_KEY_PROPAGATION_SECONDS", "0.5")
    monkeypatch.setenv("ESMCTL_SANDBOX_CONFIG_LOOKUP_SECONDS", "0.25")
    monkeypatch.setenv("ESMCTL_SANDBOX_SECRET_DELETION_SECONDS", "2")
    monkeypatch.setenv("ESMCTL_SANDBOX_SUBSCRIBED", "false")
    monkeypatch.setenv("ESMCTL_SANDBOX_ENFORCE_IAM_LIMITS", "0")
    monkeypatch.setenv("ESMCTL_SANDBOX_ENFORCE_METRIC_PERIODS", "off")
    monkeypatch.setenv("ESMCTL_SANDBOX_RATE_LIMITS", "off")
    fresh.reset()
    assert (fresh.role_propagation_seconds, fresh.key_propagation_seconds, fresh.config_lookup_seconds,
            fresh.secret_deletion_seconds) == (0.0, 0.5, 0.25, 2.0)
    assert not (fresh.subscribed or fresh.enforce_iam_limits or fresh.enforce_metric_periods)
    assert fresh.rate_limits == {}

    monkeypatch.setenv("ESMCTL_SANDBOX_RATE_LIMITS", "mutate=2:4")
    fresh.reset()
    assert fresh.rate_limits == {"mutate": (2.0, 4.0)}
    assert parse_rate_limits("mutate=5:20, read=20:50") == DEFAULT_RATE_LIMITS
    for bad in ("fast", "write=1:2", "mutate=0:1"):
        with pytest.raises(ValueError, match="ESMCTL_SANDBOX_RATE_LIMITS"):
            parse_rate_limits(bad)
    monkeypatch.setenv("ESMCTL_SANDBOX_SUBSCRIBED", "maybe")
    with pytest.raises(ValueError, match="ESMCTL_SANDBOX_SUBSCRIBED"):
        fresh.reset()


# ---------------------------------------------------------------------------------------------
# 1. a new role: SageMaker and Scheduler cannot assume it yet


def test_new_role_cannot_be_assumed_at_once(sm: Any, iam: Any, mocked: SandboxControl,
                                            boto_session: Any, sandbox_clock: FrozenClock) -> None:
    mocked.role_propagation_seconds = DELAY
    scheduler = boto_session.client("scheduler")
    role = iam.create_role(RoleName="esm-sagemaker-exec-dev", AssumeRolePolicyDocument=TRUST_SAGEMAKER)["Role"]
    arn = role["Arn"]

    def create_model(name: str, role_arn: str = arn) -> Any:
        return sm.create_model(ModelName=name, ExecutionRoleArn=role_arn, PrimaryContainer={"Image": "i"})

    def create_schedule(name: str, role_arn: str = arn) -> Any:
        return scheduler.create_schedule(
            Name=name, ScheduleExpression="at(2030-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": role_arn})

    error = error_of(create_model, "m")
    assert (error["Code"], error["Status"]) == ("ValidationException", 400)
    assert error["Message"] == (
        f"Could not assume role {arn}. Please ensure that the role exists and allows principal "
        "'sagemaker.amazonaws.com' to assume the role.")
    error = error_of(create_schedule, "stop")
    assert (error["Code"], error["Message"]) == ("ValidationException", (
        "The execution role you provide must allow AWS EventBridge Scheduler to assume the role."))
    assert sm.list_models()["Models"] == []

    sandbox_clock.advance(DELAY - 0.1)
    assert error_of(create_model, "m")["Code"] == "ValidationException"  # not before the delay is over
    sandbox_clock.advance(0.2)
    create_model("m")
    create_model("m2", arn.replace("esm-sagemaker-exec-dev", "ESM-SageMaker-Exec-Dev"))  # any case
    create_schedule("stop")
    scheduler.update_schedule(Name="stop", ScheduleExpression="at(2031-01-01T00:00:00)",
                              FlexibleTimeWindow={"Mode": "OFF"},
                              Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": arn})

    # A role that does not exist is refused the same way, for good.
    missing = f"arn:aws:iam::{ACCOUNT}:role/nobody"
    assert "Could not assume role" in error_of(create_model, "m3", missing)["Message"]
    assert error_of(create_schedule, "stop2", missing)["Code"] == "ValidationException"

    # Deleted and re-created: the delay starts over.
    iam.delete_role(RoleName="esm-sagemaker-exec-dev")
    iam.create_role(RoleName="esm-sagemaker-exec-dev", AssumeRolePolicyDocument=TRUST_SAGEMAKER)
    assert error_of(create_model, "m4")["Code"] == "ValidationException"
    assert error_of(scheduler.update_schedule, Name="stop", ScheduleExpression="at(2031-01-01T00:00:00)",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": arn},
                    )["Code"] == "ValidationException"

    mocked.role_propagation_seconds = 0  # off: no delay, and any role ARN goes (moto's behaviour)
    create_model("m4")
    create_model("m5", missing)


# ---------------------------------------------------------------------------------------------
# 2. a new access key: refused for a few seconds


def _new_key(iam: Any, user: str = "esm-shared-invoke-dev") -> dict[str, str]:
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def test_new_access_key_is_refused_at_first_server(served: Any, ctl: SandboxControl,
                                                   sandbox_clock: FrozenClock) -> None:
    ctl.key_propagation_seconds = DELAY
    ctl.creating_seconds = 0
    deploy(served("sagemaker"))
    credentials = _new_key(served("iam"))
    sts = served("sts", **credentials)
    runtime = served("sagemaker-runtime", **credentials)

    error = error_of(sts.get_caller_identity)
    assert (error["Code"], error["Status"]) == ("InvalidClientTokenId", 403)  # query protocol, XML
    assert error["Message"] == "The security token included in the request is invalid."
    error = error_of(served("sagemaker", **credentials).list_endpoints)
    assert (error["Code"], error["Status"]) == ("UnrecognizedClientException", 403)  # JSON protocol
    assert error_of(invoke, runtime, ENDPOINT, encode_request())["Code"] == "UnrecognizedClientException"
    assert error_of(served("s3", **credentials).list_buckets)["Code"] == "InvalidAccessKeyId"
    assert served("sts").get_caller_identity()["Account"] == ACCOUNT  # other keys are not affected

    sandbox_clock.advance(DELAY)
    sts.get_caller_identity()
    assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"


def test_new_access_key_is_refused_at_first_in_process(iam: Any, mocked: SandboxControl, boto_session: Any,
                                                       sandbox_clock: FrozenClock) -> None:
    mocked.key_propagation_seconds = DELAY
    credentials = _new_key(iam)
    sts = boto_session.client("sts", **credentials)
    assert error_of(sts.get_caller_identity)["Code"] == "InvalidClientTokenId"
    assert error_of(boto_session.client("sagemaker", **credentials).list_endpoints)["Code"] == (
        "UnrecognizedClientException")
    sandbox_clock.advance(DELAY)
    sts.get_caller_identity()


# ---------------------------------------------------------------------------------------------
# 3. a new endpoint config: CreateEndpoint cannot find it yet


def test_new_endpoint_config_is_not_found_at_first(sm: Any, mocked: SandboxControl, sandbox_clock: FrozenClock) -> None:
    mocked.config_lookup_seconds = DELAY
    mocked.creating_seconds = 0
    sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", PrimaryContainer={"Image": "i"})
    create_config(sm, "EndpointConfig-ESMC", "m")
    error = error_of(sm.create_endpoint, EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-ESMC")
    assert (error["Code"], error["Message"]) == ("ValidationException", (
        f'Could not find endpoint configuration "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/'
        'endpointconfig-esmc".'))
    # DescribeEndpointConfig reads the same store: not found either, until it is; then CreateEndpoint works
    error = error_of(sm.describe_endpoint_config, EndpointConfigName="EndpointConfig-ESMC")
    assert "Could not find" in error["Message"]
    sandbox_clock.advance(DELAY)
    sm.describe_endpoint_config(EndpointConfigName="EndpointConfig-ESMC")
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-ESMC")
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"  # creating_seconds 0

    create_config(sm, "EndpointConfig-new", "m")
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert "Could not find endpoint configuration" in error["Message"]
    sandbox_clock.advance(DELAY)
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")


# ---------------------------------------------------------------------------------------------
# 4. a force-deleted secret: its name stays taken for a while


def test_force_deleted_secret_lingers(mocked: SandboxControl, boto_session: Any, sandbox_clock: FrozenClock) -> None:
    mocked.secret_deletion_seconds = DELAY
    secrets = boto_session.client("secretsmanager")
    name = "esmctl/dev/esm-shared-invoke-dev"
    secrets.create_secret(Name=name, SecretString="{}")
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    error = error_of(secrets.create_secret, Name=name, SecretString="{}")
    assert (error["Code"], error["Message"]) == (
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.")
    marked = "You can't perform this operation on the secret because it was marked for deletion."
    for call in (lambda: secrets.get_secret_value(SecretId=name),
                 lambda: secrets.put_secret_value(SecretId=name, SecretString="{}")):
        error = error_of(call)
        assert (error["Code"], error["Message"]) == ("InvalidRequestException", marked)
    assert "DeletedDate" in secrets.describe_secret(SecretId=name)  # as DescribeSecret documents

    sandbox_clock.advance(DELAY)
    secrets.create_secret(Name=name, SecretString='{"v": 2}')
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == '{"v": 2}'
    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert error_of(secrets.get_secret_value, SecretId=name)["Code"] == "InvalidRequestException"
    sandbox_clock.advance(DELAY)
    assert error_of(secrets.get_secret_value, SecretId=name)["Code"] == "ResourceNotFoundException"


# ---------------------------------------------------------------------------------------------
# 5. Marketplace: DescribeModelPackage for anyone, CreateModel only when subscribed


def test_unsubscribed_account(sm: Any, mocked: SandboxControl) -> None:
    mocked.subscribed = False
    assert sm.describe_model_package(ModelPackageName=PACKAGE_ARN)["ModelPackageArn"] == PACKAGE_ARN
    error = error_of(deploy, sm)
    assert (error["Code"], error["Message"]) == (
        "ValidationException", "Caller is not subscribed to the marketplace offering.")
    assert sm.list_models()["Models"] == []
    sm.create_model(ModelName="own", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                    PrimaryContainer={"Image": "i"})  # not a Marketplace model: fine
    mocked.subscribed = True
    other_region = PACKAGE_ARN.replace("us-east-2", "us-west-2")
    assert "regional" in error_of(sm.create_model, ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
                                  PrimaryContainer={"ModelPackageName": other_region})["Message"]
    deploy(sm)


# ---------------------------------------------------------------------------------------------
# 6. IAM policy sizes


def test_iam_policy_size_limits(iam: Any, mocked: SandboxControl) -> None:
    def document(n: int, pad: str = "") -> str:
        """An invoke policy over `n` endpoint ARNs (about 80 characters each)."""
        resources = [f"{ENDPOINT_ARN}-{i:04d}" for i in range(n)]
        return json.dumps({"Version": "2012-10-17", "Statement": [{**statement("*"), "Resource": resources}]},
                          indent=4 if pad else None)

    small, big = document(60), document(80)
    assert len("".join(small.split())) <= 6144 < len("".join(big.split()))
    policy = iam.create_policy(PolicyName="p", PolicyDocument=document(60, pad=" "))["Policy"]["Arn"]  # whitespace
    error = error_of(iam.create_policy, PolicyName="q", PolicyDocument=big)
    assert (error["Code"], error["Status"], error["Message"]) == (
        "LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")
    assert error_of(iam.create_policy_version, PolicyArn=policy, PolicyDocument=big)["Code"] == "LimitExceeded"

    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST_SAGEMAKER)
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=small)
    iam.put_role_policy(RoleName="r", PolicyName="a", PolicyDocument=small)  # replacing counts once
    error = error_of(iam.put_role_policy, RoleName="r", PolicyName="b", PolicyDocument=small)  # 2 x ~5,000
    assert (error["Code"], error["Message"]) == (
        "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role r")
    iam.create_user(UserName="u")
    error = error_of(iam.put_user_policy, UserName="u", PolicyName="a", PolicyDocument=document(30))
    assert error["Message"] == "Maximum policy size of 2048 bytes exceeded for user u"

    mocked.enforce_iam_limits = False
    iam.create_policy(PolicyName="q", PolicyDocument=big)


# ---------------------------------------------------------------------------------------------
# 7. CloudWatch: the Period must fit how old StartTime is


def test_metric_period_must_fit_the_start_time(mocked: SandboxControl, boto_session: Any) -> None:
    cw = boto_session.client("cloudwatch")
    now = dt.datetime.now(dt.UTC)
    dimensions = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "variant-1"}]
    for days in (20, 2):
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
            "MetricName": "Invocations", "Dimensions": dimensions, "Value": 1.0,
            "Timestamp": now - dt.timedelta(days=days)}])

    def values(days: float, period: int) -> list[float]:
        results = cw.get_metric_data(StartTime=now - dt.timedelta(days=days), EndTime=now, MetricDataQueries=[{
            "Id": "q", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                                                 "Dimensions": dimensions}, "Period": period, "Stat": "Sum"}}])
        assert results["MetricDataResults"][0]["StatusCode"] == "Complete"
        return list(results["MetricDataResults"][0]["Values"])

    assert values(21, 300) == [1.0, 1.0]
    assert values(21, 60) == []  # more than 15 days ago: a multiple of 300
    assert values(3, 120) == [1.0]  # 3 hours to 15 days: a multiple of 60
    assert values(3, 90) == []
    assert values(70, 300) == []  # more than 63 days: a multiple of 3600
    assert values(70, 3600) == [1.0, 1.0]
    statistics = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dimensions,
                                          StartTime=now - dt.timedelta(days=21), EndTime=now, Period=60,
                                          Statistics=["Sum"])
    assert statistics["Datapoints"] == []
    mocked.enforce_metric_periods = False
    assert values(21, 60) == [1.0, 1.0]


# ---------------------------------------------------------------------------------------------
# 8. control-plane rate limits (server)


def test_rate_limits_throttle_control_plane_calls(served: Any, ctl: SandboxControl) -> None:
    ctl.creating_seconds = 0
    deploy(served("sagemaker"))
    ctl.rate_limits = {"mutate": (0.5, 3.0), "read": (0.5, 2.0)}
    sm = served("sagemaker", config=NO_RETRIES)

    for _ in range(3):
        assert error_of(sm.delete_model, ModelName="nope")["Code"] == "ValidationException"  # counted all the same
    error = error_of(sm.delete_model, ModelName="nope")
    assert (error["Code"], error["Status"], error["Message"]) == ("ThrottlingException", 400, "Rate exceeded")
    sm.list_endpoints()
    sm.list_endpoints()
    assert error_of(sm.list_endpoints)["Code"] == "ThrottlingException"  # reads: their own rate
    sm.describe_endpoint(EndpointName=ENDPOINT)  # each operation has its own bucket, as in AWS

    iam = served("iam", config=NO_RETRIES)
    for index in range(3):
        iam.create_user(UserName=f"u{index}")
    error = error_of(iam.create_user, UserName="u3")
    assert (error["Code"], error["Status"]) == ("Throttling", 400)  # IAM: query protocol, XML
    secrets = served("secretsmanager", config=NO_RETRIES)
    for index in range(3):
        secrets.create_secret(Name=f"s{index}", SecretString="{}")
    assert error_of(secrets.create_secret, Name="s3", SecretString="{}")["Code"] == "ThrottlingException"

    # Never throttled: the data plane, S3 and moto's own API.
    runtime = served("sagemaker-runtime", config=NO_RETRIES)
    s3 = served("s3", config=NO_RETRIES)
    s3.create_bucket(Bucket="state", CreateBucketConfiguration={"LocationConstraint": REGION})
    for index in range(5):
        assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"
        s3.put_object(Bucket="state", Key=f"k{index}", Body=b"x")

    # botocore retries these codes (standard mode): a throttled call goes through on a retry.
    ctl.rate_limits = {"read": (2.0, 1.0)}  # the second call comes well within the 0.5 s refill
    retrying = served("sagemaker", config=Config(retries={"total_max_attempts": 4, "mode": "standard"}))
    retrying.list_endpoints()
    assert retrying.list_endpoints()["ResponseMetadata"]["RetryAttempts"] >= 1

    ctl.rate_limits = {}
    for _ in range(10):
        sm.list_endpoints()


# ---------------------------------------------------------------------------------------------
# 9. instance types: exactly botocore's enum


def test_instance_types_are_botocores_enum(sm: Any) -> None:
    from esmctl.sandbox._sagemaker import instance_types

    known = instance_types()
    assert known is not None and "ml.p6-b200.48xlarge" in known and "ml.p6e-gb200.36xlarge" in known
    sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", PrimaryContainer={"Image": "i"})
    create_config(sm, "c1", "m", "ml.p6-b200.48xlarge")
    create_config(sm, "c2", "m", "ml.p6e-gb200.36xlarge")
    error = error_of(create_config, sm, "c3", "m", "ml.g5.3xlarge")  # looks right, does not exist
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        "1 validation error detected: Value 'ml.g5.3xlarge' at 'productionVariants.1.member.instanceType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [ml.t2.medium, ")


# ---------------------------------------------------------------------------------------------
# 10. endpoints that end UpdateRollbackFailed or OutOfService


def test_update_rollback_failed(sm: Any, runtime: Any, mocked: SandboxControl) -> None:
    names = deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    create_config(sm, "EndpointConfig-new", names["model"], "ml.g5.4xlarge")
    mocked.fail_update_rollback(ENDPOINT.lower())
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
    described = wait_status(sm, ENDPOINT, "UpdateRollbackFailed")
    assert described["FailureReason"] == UPDATE_ROLLBACK_FAILED_REASON
    assert described["EndpointConfigName"] == names["config"]
    assert sm.list_endpoints(StatusEquals="UpdateRollbackFailed")["Endpoints"][0]["EndpointName"] == ENDPOINT
    assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"  # still serving

    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")  # the way out
    described = wait_status(sm, ENDPOINT, "InService")
    assert described["EndpointConfigName"] == "EndpointConfig-new" and "FailureReason" not in described

    mocked.fail_update_rollback(ENDPOINT)
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=names["config"])
    wait_status(sm, ENDPOINT, "UpdateRollbackFailed")
    sm.delete_endpoint(EndpointName=ENDPOINT)
    assert sm.list_endpoints()["Endpoints"] == []


def test_out_of_service(sm: Any, runtime: Any, mocked: SandboxControl) -> None:
    names = deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    mocked.put_out_of_service(ENDPOINT.upper())
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "OutOfService"
    assert sm.list_endpoints(StatusEquals="OutOfService")["Endpoints"][0]["EndpointName"] == ENDPOINT
    assert error_of(invoke, runtime, ENDPOINT, encode_request())["Code"] == "ValidationError"
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName=names["config"])
    assert error["Code"] == "ValidationException" and "OutOfService" in error["Message"]
    sm.delete_endpoint(EndpointName=ENDPOINT)
    # One-shot: the endpoint made again comes up.
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=names["config"])
    wait_status(sm, ENDPOINT, "InService")

    mocked.put_out_of_service("Endpoint-later")  # before it exists: once it is created
    sm.create_endpoint(EndpointName="Endpoint-later", EndpointConfigName=names["config"])
    assert sm.describe_endpoint(EndpointName="Endpoint-later")["EndpointStatus"] == "Creating"
    wait_status(sm, "Endpoint-later", "OutOfService")
