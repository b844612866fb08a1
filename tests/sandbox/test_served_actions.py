"""`control.served`: the IAM action of every request the sandbox server hands to moto (_served.py)."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from esmctl.sandbox import SandboxControl, SandboxServer
from esmctl.sandbox._served import action_of, iam_action, operation_of
from esmctl.sandbox.faults import FaultError

ACCOUNT = "123456789012"
PACKAGE_ARN = (
    "arn:aws:sagemaker:us-east-2:057799348421:model-package/esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53"
)
ROLE_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
SCHEDULER_TRUST = ROLE_TRUST.replace("sagemaker.amazonaws.com", "scheduler.amazonaws.com")


# ---------------------------------------------------------------------------------------------
# the map, without a server


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("sagemaker", "CreateModel", "sagemaker:CreateModel"),
    ("sagemaker-runtime", "InvokeEndpoint", "sagemaker:InvokeEndpoint"),
    ("scheduler", "CreateSchedule", "scheduler:CreateSchedule"),
    ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData"),
    ("monitoring", "GetMetricData", "cloudwatch:GetMetricData"),  # CloudWatch's signing name
    ("service-quotas", "GetServiceQuota", "servicequotas:GetServiceQuota"),
    ("pricing", "GetProducts", "pricing:GetProducts"),
    ("secretsmanager", "GetSecretValue", "secretsmanager:GetSecretValue"),
    ("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
    ("iam", "CreateRole", "iam:CreateRole"),
    ("s3", "GetObject", "s3:GetObject"),
    ("s3", "HeadObject", "s3:GetObject"),
    ("s3", "PutObject", "s3:PutObject"),
    ("s3", "CopyObject", "s3:PutObject"),
    ("s3", "DeleteObject", "s3:DeleteObject"),
    ("s3", "ListObjects", "s3:ListBucket"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
    ("s3", "HeadBucket", "s3:ListBucket"),
    ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
    ("s3", "GetBucketVersioning", "s3:GetBucketVersioning"),
    ("s3", "CreateBucket", "s3:CreateBucket"),
    ("s3", "GetBucketEncryption", "s3:GetEncryptionConfiguration"),
])
def test_iam_action(service: str, operation: str, action: str) -> None:
    assert iam_action(service, operation) == action


def _environ(signing: str, method: str, path: str, query: str = "", **extra: Any) -> dict[str, Any]:
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-2/{signing}/aws4_request, "
                                  "SignedHeaders=host, Signature=0",
            **extra}


@pytest.mark.parametrize(("environ", "found"), [
    (_environ("s3", "PUT", "/b/k"), ("s3", "PutObject")),
    (_environ("s3", "PUT", "/b/k", HTTP_X_AMZ_COPY_SOURCE="b/other"), ("s3", "CopyObject")),
    (_environ("s3", "PUT", "/b/k", "partNumber=1&uploadId=u"), ("s3", "UploadPart")),
    (_environ("s3", "GET", "/b/a/b/c.json", "versionId=v"), ("s3", "GetObject")),
    (_environ("s3", "GET", "/b", "list-type=2&prefix=p"), ("s3", "ListObjectsV2")),
    (_environ("s3", "GET", "/b/"), ("s3", "ListObjects")),
    (_environ("s3", "GET", "/", HTTP_HOST="b.localhost:5000"), ("s3", "ListObjects")),  # virtual-hosted
    (_environ("s3", "GET", "/"), ("s3", "ListBuckets")),
    (_environ("s3", "POST", "/b", "delete"), ("s3", "DeleteObjects")),
    (_environ("scheduler", "GET", "/schedules"), ("scheduler", "ListSchedules")),
    (_environ("scheduler", "DELETE", "/schedules/esmctl-stop-x", "groupName=default"),
     ("scheduler", "DeleteSchedule")),
    (_environ("sagemaker", "POST", "/endpoints/Ep-1/invocations"), ("sagemaker-runtime", "InvokeEndpoint")),
    (_environ("sagemaker", "POST", "/", HTTP_X_AMZ_TARGET="SageMaker.CreateEndpoint"), ("sagemaker", "CreateEndpoint")),
    (_environ("monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/GetMetricData",
              HTTP_SMITHY_PROTOCOL="rpc-v2-cbor"), ("monitoring", "GetMetricData")),
    (_environ("sts", "GET", "/", "Action=GetCallerIdentity&Version=2011-06-15"), ("sts", "GetCallerIdentity")),
    (_environ("scheduler", "PATCH", "/nowhere"), ("scheduler", "?PATCH /nowhere")),  # said, not dropped
    (_environ("s3", "POST", "/moto-api/reset"), None),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/b/k"}, None),  # unsigned: no AWS API call
])
def test_operation_of_a_request(environ: dict[str, Any], found: tuple[str, str] | None) -> None:
    assert operation_of(environ) == found


def test_query_protocol_body_is_read_and_put_back() -> None:
    body = b"Action=CreateRole&Version=2010-05-08&RoleName=r"
    environ = _environ("iam", "POST", "/", CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
                       CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    assert action_of(environ) == "iam:CreateRole"
    assert environ["wsgi.input"].read() == body  # moto reads it again


def test_reset_empties_it_and_note_is_thread_safe(ctl: SandboxControl) -> None:
    before = ctl.served

    def note(n: int) -> None:
        for i in range(200):
            ctl.note_served(f"svc:Op{(n * 200 + i) % 500}")

    threads = [threading.Thread(target=note, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ctl.served_actions() == {f"svc:Op{i}" for i in range(500)}
    ctl.reset()
    assert ctl.served_actions() == frozenset() and len(before) == 500  # a copy taken before stays


# ---------------------------------------------------------------------------------------------
# through the sandbox server


def _wait_in_service(sm: Any, name: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, f"{name} never became InService"
        time.sleep(0.05)


def test_a_deployment_through_the_server_records_its_iam_actions(
        served: Any, server: SandboxServer, ctl: SandboxControl, boto_session: Any) -> None:
    iam, sm, runtime = served("iam"), served("sagemaker"), served("sagemaker-runtime")
    role = iam.create_role(RoleName="esm-exec", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
    sm.create_model(ModelName="Model-A", ExecutionRoleArn=role, PrimaryContainer={"ModelPackageName": PACKAGE_ARN},
                    EnableNetworkIsolation=True)
    sm.create_endpoint_config(EndpointConfigName="Config-A", ProductionVariants=[{
        "VariantName": "variant-1", "ModelName": "Model-A", "InitialInstanceCount": 1,
        "InstanceType": "ml.g5.2xlarge"}])
    sm.create_endpoint(EndpointName="Endpoint-A", EndpointConfigName="Config-A")
    _wait_in_service(sm, "Endpoint-A")
    body = json.dumps({"model": "esmc-300m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1",
                       "endpoint": "encode", "encode": {"model": "esmc-300m-2024-12", "inputs": {"sequence": "MK"},
                                                        "potential_sequence_of_concern": False}})
    runtime.invoke_endpoint(EndpointName="Endpoint-A", ContentType="application/json", Body=body)

    timer_role = iam.create_role(RoleName="esm-timer", AssumeRolePolicyDocument=SCHEDULER_TRUST)["Role"]["Arn"]
    served("scheduler").create_schedule(
        Name="stop-a", ScheduleExpression="at(2099-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint", "RoleArn": timer_role,
                "Input": json.dumps({"EndpointName": "Endpoint-A"})})
    secrets = served("secretsmanager")
    secrets.create_secret(Name="esmctl/dev/user", SecretString="{}")
    secrets.get_secret_value(SecretId="esmctl/dev/user")
    served("sts").get_caller_identity()
    now = dt.datetime.now(dt.UTC)
    served("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker",
                                                                 "MetricName": "Invocations"},
                                                      "Period": 60, "Stat": "Sum"}}],
        StartTime=now - dt.timedelta(hours=1), EndTime=now)
    s3 = served("s3")
    s3.create_bucket(Bucket="state-bucket", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    s3.put_object(Bucket="state-bucket", Key="esmctl/dev.json", Body=b"{}")
    s3.head_object(Bucket="state-bucket", Key="esmctl/dev.json")
    s3.get_object(Bucket="state-bucket", Key="esmctl/dev.json")
    s3.list_objects_v2(Bucket="state-bucket", Prefix="esmctl/")
    s3.get_bucket_versioning(Bucket="state-bucket")
    s3.delete_object(Bucket="state-bucket", Key="esmctl/dev.json")
    # moto serves no Pricing API (it answers 500), but the request reached it: it is recorded.
    pricing = boto_session.client("pricing", region_name="us-east-1", endpoint_url=server.url,
                                  aws_access_key_id="testing", aws_secret_access_key="testing",
                                  config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    with pytest.raises(ClientError):
        pricing.get_products(ServiceCode="AmazonSageMaker", MaxResults=1)

    expected = {
        "iam:CreateRole", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
        "sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint", "scheduler:CreateSchedule",
        "secretsmanager:CreateSecret", "secretsmanager:GetSecretValue", "sts:GetCallerIdentity",
        "cloudwatch:GetMetricData", "pricing:GetProducts",
        "s3:CreateBucket", "s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketVersioning",
        "s3:DeleteObject",
    }
    got = ctl.served_actions()
    assert expected <= got, sorted(expected - got)
    assert got - expected == set(), sorted(got - expected)  # nothing else: no iam:PassRole, no /moto-api
    assert not any(a.startswith(("sagemaker-runtime:", "monitoring:", "?")) for a in got)


def test_requests_refused_before_moto_are_not_served(served: Any, ctl: SandboxControl) -> None:
    sm = served("sagemaker")
    ctl.request_hook = lambda info: FaultError(400, "ValidationException") if info.operation == "ListModels" else None
    with pytest.raises(ClientError):
        sm.list_models()
    sm.list_endpoints()
    assert ctl.served_actions() == {"sagemaker:ListEndpoints"}


def test_concurrent_requests_are_all_recorded(served: Any, ctl: SandboxControl) -> None:
    calls = [(served("sagemaker"), "list_models"), (served("sagemaker"), "list_endpoints"),
             (served("sagemaker"), "list_endpoint_configs"), (served("iam"), "list_roles"),
             (served("iam"), "list_users"), (served("sts"), "get_caller_identity"),
             (served("s3"), "list_buckets"), (served("scheduler"), "list_schedules")]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: getattr(c[0], c[1])(), calls * 5))
    assert ctl.served_actions() == {
        "sagemaker:ListModels", "sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs", "iam:ListRoles",
        "iam:ListUsers", "sts:GetCallerIdentity", "s3:ListAllMyBuckets", "scheduler:ListSchedules"}
