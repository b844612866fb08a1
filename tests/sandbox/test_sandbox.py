"""The sandbox's patches, each checked against the AWS behaviour it reproduces.

In-process tests use `moto.mock_aws` (fixtures `sm`, `runtime`, `iam`); the important behaviours
are checked again through a local sandbox server (fixture `served`). Endpoints take 0.2 s to
create here (conftest.FAST); tests poll, never sleep long.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from esmctl import vocab
from esmctl.sandbox import (
    DEFAULT_FAILURE_REASON,
    SandboxControl,
    apply_patches,
    serve_forever,
    start_server,
)
from tests.sandbox.conftest import FrozenClock

REGION = "us-east-2"
ACCOUNT = "123456789012"
PACKAGE_ARN = (
    "arn:aws:sagemaker:us-east-2:057799348421:model-package/esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53"
)
ENDPOINT = "Endpoint-ESMC-300M-1-2df2c3dd"
ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/endpoint-esmc-300m-1-2df2c3dd"


# ---------------------------------------------------------------------------------------------
# helpers


def deploy(sm: Any, name: str = ENDPOINT, instance_type: str = "ml.g5.2xlarge", count: int = 1) -> dict[str, str]:
    """Model + endpoint config + endpoint named as esmctl names them; returns the names."""
    model, config = f"Model-{name}", f"EndpointConfig-{name}"
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/esm-sagemaker-exec-dev",
        PrimaryContainer={"ModelPackageName": PACKAGE_ARN},
        EnableNetworkIsolation=True,
    )
    create_config(sm, config, model, instance_type, count)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return {"model": model, "config": config, "endpoint": name}


def create_config(sm: Any, config: str, model: str, instance_type: str = "ml.g5.2xlarge", count: int = 1) -> str:
    return str(sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[{
            "VariantName": "variant-1", "ModelName": model, "InitialInstanceCount": count,
            "InstanceType": instance_type, "InitialVariantWeight": 1, "ModelDataDownloadTimeoutInSeconds": 3600,
        }],
    )["EndpointConfigArn"])


def wait_status(sm: Any, name: str, wanted: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll DescribeEndpoint until the status is `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sm.describe_endpoint(EndpointName=name)
        if description["EndpointStatus"] == wanted:
            return description
        assert time.monotonic() < deadline, f"{name} still {description['EndpointStatus']}, wanted {wanted}"
        time.sleep(0.05)


def error_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The ClientError a call raises: {"Code", "Message", "Status", "response"}."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    return {**response["Error"], "Status": response["ResponseMetadata"]["HTTPStatusCode"], "response": response}


def forge_request(api: str, request: dict[str, Any]) -> bytes:
    return json.dumps({
        "model": "esmc-300m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1", "endpoint": api, api: request,
    }).encode()


def encode_request(sequence: str = "MKTAYIAK") -> bytes:
    return forge_request("encode", {
        "model": "esmc-300m-2024-12", "inputs": {"sequence": sequence}, "potential_sequence_of_concern": False,
    })


def invoke(runtime: Any, name: str, body: bytes) -> dict[str, Any]:
    response = runtime.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
    return {"json": json.loads(response["Body"].read()), "ContentType": response["ContentType"]}


# ---------------------------------------------------------------------------------------------
# package mechanics


def test_import_is_free_of_side_effects() -> None:
    code = (
        "import os, sys; os.environ.pop('MOTO_IAM_LOAD_MANAGED_POLICIES', None); import esmctl.sandbox; "
        "assert 'moto' not in sys.modules and 'boto3' not in sys.modules, sorted(sys.modules); "
        "assert 'MOTO_IAM_LOAD_MANAGED_POLICIES' not in os.environ"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))


def test_apply_patches_is_idempotent(ctl: SandboxControl) -> None:
    from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend

    create, validate = SageMakerModelBackend.create_endpoint, FakeEndpointConfig.validate_instance_type
    apply_patches()
    apply_patches()
    assert SageMakerModelBackend.create_endpoint is create
    assert FakeEndpointConfig.validate_instance_type is validate
    assert os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] == "true"


def test_control_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESMCTL_SANDBOX_CREATING_SECONDS", "0.5")
    monkeypatch.delenv("ESMCTL_SANDBOX_UPDATING_SECONDS", raising=False)
    monkeypatch.setenv("ESMCTL_SANDBOX_DELETING_SECONDS", "0.25")
    fresh = SandboxControl()
    assert (fresh.creating_seconds, fresh.updating_seconds, fresh.deleting_seconds) == (0.5, 0.5, 0.25)
    fresh.creating_seconds = 3
    assert fresh.updating_seconds == 3  # follows creating_seconds until set
    fresh.updating_seconds = 1
    assert fresh.updating_seconds == 1
    monkeypatch.setenv("ESMCTL_SANDBOX_UPDATING_SECONDS", "0.1")
    fresh.reset()
    assert (fresh.creating_seconds, fresh.updating_seconds) == (0.5, 0.1)
    monkeypatch.setenv("ESMCTL_SANDBOX_CREATING_SECONDS", "soon")
    with pytest.raises(ValueError, match="ESMCTL_SANDBOX_CREATING_SECONDS"):
        fresh.reset()


# ---------------------------------------------------------------------------------------------
# 1. instance types


def test_current_instance_types_are_accepted(sm: Any) -> None:
    sm.create_model(ModelName="m", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r", PrimaryContainer={"Image": "i"})
    types = ["ml.g5.2xlarge", "ml.g6.xlarge", "ml.g6e.2xlarge", "ml.p4d.24xlarge", "ml.p5.48xlarge",
             "ml.inf2.xlarge", "ml.trn1.2xlarge", "ml.p6-b200.48xlarge"]
    for index, instance_type in enumerate(types):
        create_config(sm, f"c{index}", "m", instance_type)
    for bad in ("g5.2xlarge", "ml.g5", "ml.G5.2xlarge"):
        error = error_of(create_config, sm, "bad", "m", bad)
        assert error["Code"] == "ValidationException" and bad in error["Message"]


# ---------------------------------------------------------------------------------------------
# 2. lifecycle


def test_endpoint_is_creating_then_in_service(sm: Any) -> None:
    deploy(sm)
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointStatus"] == "Creating"
    assert described["PendingDeploymentSummary"]["EndpointConfigName"] == f"EndpointConfig-{ENDPOINT}"
    assert [e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]] == ["Creating"]
    assert len(sm.list_endpoints(StatusEquals="Creating")["Endpoints"]) == 1
    assert sm.list_endpoints(StatusEquals="InService")["Endpoints"] == []

    described = wait_status(sm, ENDPOINT, "InService")
    assert "PendingDeploymentSummary" not in described and "FailureReason" not in described
    assert described["LastModifiedTime"] > described["CreationTime"]
    assert [e["EndpointName"] for e in sm.list_endpoints(StatusEquals="InService")["Endpoints"]] == [ENDPOINT]
    assert sm.list_endpoints(StatusEquals="Creating")["Endpoints"] == []


def test_fail_endpoint_before_creation_fails_it_once(sm: Any, mocked: SandboxControl) -> None:
    mocked.fail_endpoint(ENDPOINT.lower(), "CUDA out of memory")  # any case
    deploy(sm)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Creating"
    described = wait_status(sm, ENDPOINT, "Failed")
    assert described["FailureReason"] == "CUDA out of memory"
    assert sm.list_endpoints(StatusEquals="Failed")["Endpoints"][0]["EndpointName"] == ENDPOINT

    # The failure is used up: the re-created endpoint comes up.
    sm.delete_endpoint(EndpointName=ENDPOINT)
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"EndpointConfig-{ENDPOINT}")
    wait_status(sm, ENDPOINT, "InService")


def test_fail_endpoint_in_service_fails_at_once(sm: Any, mocked: SandboxControl) -> None:
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    mocked.fail_endpoint(ENDPOINT)
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert (described["EndpointStatus"], described["FailureReason"]) == ("Failed", DEFAULT_FAILURE_REASON)
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName=f"EndpointConfig-{ENDPOINT}")
    assert error["Code"] == "ValidationException"


def test_delete_endpoint_is_immediate_by_default(sm: Any) -> None:
    deploy(sm)
    error = error_of(sm.delete_endpoint, EndpointName=ENDPOINT)  # SageMaker refuses while Creating
    assert error["Code"] == "ValidationException" and "in-progress" in error["Message"]
    wait_status(sm, ENDPOINT, "InService")
    sm.delete_endpoint(EndpointName=ENDPOINT)
    error = error_of(sm.describe_endpoint, EndpointName=ENDPOINT)
    assert error["Code"] == "ValidationException" and error["Message"].startswith("Could not find endpoint")
    assert sm.list_endpoints()["Endpoints"] == []


def test_delete_endpoint_can_show_deleting(sm: Any, mocked: SandboxControl, sandbox_clock: FrozenClock) -> None:
    mocked.creating_seconds = 0
    mocked.deleting_seconds = 0.2
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    sm.delete_endpoint(EndpointName=ENDPOINT)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Deleting"
    assert sm.list_endpoints(StatusEquals="Deleting")["Endpoints"][0]["EndpointName"] == ENDPOINT
    error = error_of(sm.create_endpoint, EndpointName=ENDPOINT, EndpointConfigName=f"EndpointConfig-{ENDPOINT}")
    assert "already existing" in error["Message"]
    sandbox_clock.advance(0.1)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Deleting"
    sandbox_clock.advance(0.2)
    assert sm.list_endpoints()["Endpoints"] == []
    assert error_of(sm.describe_endpoint, EndpointName=ENDPOINT)["Code"] == "ValidationException"


# ---------------------------------------------------------------------------------------------
# 3. UpdateEndpoint


def test_update_endpoint_moves_to_the_new_config(sm: Any) -> None:
    names = deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    create_config(sm, "EndpointConfig-new", names["model"], "ml.g5.4xlarge", count=2)
    response = sm.update_endpoint(EndpointName=ENDPOINT.lower(), EndpointConfigName="EndpointConfig-new")
    assert response["EndpointArn"] == ENDPOINT_ARN

    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointStatus"] == "Updating"
    assert described["EndpointConfigName"] == names["config"]  # the old one until the update is done
    assert described["PendingDeploymentSummary"]["EndpointConfigName"] == "EndpointConfig-new"
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert error["Code"] == "ValidationException" and "in-progress" in error["Message"]

    described = wait_status(sm, ENDPOINT, "InService")
    assert described["EndpointConfigName"] == "EndpointConfig-new"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_update_endpoint_rolls_back_when_asked(sm: Any, mocked: SandboxControl) -> None:
    names = deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    create_config(sm, "EndpointConfig-new", names["model"], count=3)
    mocked.rollback_next_update(ENDPOINT.upper())
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
    described = wait_status(sm, ENDPOINT, "InService")
    assert described["EndpointConfigName"] == names["config"]
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert "rolled back" in described["FailureReason"]

    # Only the next update rolls back.
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert wait_status(sm, ENDPOINT, "InService")["EndpointConfigName"] == "EndpointConfig-new"


def test_update_endpoint_errors(sm: Any) -> None:
    names = deploy(sm)
    error = error_of(sm.update_endpoint, EndpointName="nope", EndpointConfigName=names["config"])
    assert error["Code"] == "ValidationException" and error["Message"].startswith("Could not find endpoint")
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName=names["config"])
    assert "in-progress" in error["Message"]  # still Creating
    wait_status(sm, ENDPOINT, "InService")
    error = error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName="missing-config")
    assert error["Code"] == "ValidationException" and "Could not find endpoint configuration" in error["Message"]


# ---------------------------------------------------------------------------------------------
# 4-7. duplicates, network isolation, ARNs, tags


def test_duplicate_names_are_refused_in_any_case(sm: Any) -> None:
    names = deploy(sm)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    error = error_of(sm.create_model, ModelName=names["model"].upper(), ExecutionRoleArn="arn:aws:iam::1:role/r",
                     PrimaryContainer={"Image": "i"})
    assert error["Code"] == "ValidationException"
    assert error["Message"] == f'Cannot create already existing model "{arn}:model/{names["model"].lower()}".'
    error = error_of(create_config, sm, names["config"].lower(), names["model"])
    assert error["Message"] == (
        f'Cannot create already existing endpoint configuration "{arn}:endpoint-config/{names["config"].lower()}".'
    )
    error = error_of(sm.create_endpoint, EndpointName=ENDPOINT, EndpointConfigName=names["config"])
    assert error["Message"] == f'Cannot create already existing endpoint "{ENDPOINT_ARN}".'


def test_network_isolation_is_kept(sm: Any) -> None:
    deploy(sm)
    sm.create_model(ModelName="plain", ExecutionRoleArn="arn:aws:iam::1:role/r", PrimaryContainer={"Image": "i"})
    described = sm.describe_model(ModelName=f"Model-{ENDPOINT}")
    assert described["EnableNetworkIsolation"] is True
    assert described["PrimaryContainer"]["ModelPackageName"] == PACKAGE_ARN
    assert sm.describe_model(ModelName="plain")["EnableNetworkIsolation"] is False


def test_arns_are_lowercase_and_names_keep_their_case(sm: Any) -> None:
    names = deploy(sm)
    model = sm.describe_model(ModelName=names["model"])
    config = sm.describe_endpoint_config(EndpointConfigName=names["config"].lower())
    endpoint = sm.describe_endpoint(EndpointName=ENDPOINT.lower())
    assert model["ModelArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{names['model'].lower()}"
    assert config["EndpointConfigArn"].endswith(f":endpoint-config/{names['config'].lower()}")
    assert endpoint["EndpointArn"] == ENDPOINT_ARN
    assert (model["ModelName"], config["EndpointConfigName"], endpoint["EndpointName"]) == (
        names["model"], names["config"], ENDPOINT)
    assert sm.list_endpoints()["Endpoints"][0]["EndpointName"] == ENDPOINT
    assert sm.list_models()["Models"][0]["ModelName"] == names["model"]


def test_tags_work_with_lowercase_arns_and_upsert(sm: Any) -> None:
    names = deploy(sm)
    model_arn = sm.describe_model(ModelName=names["model"])["ModelArn"]
    for arn in (ENDPOINT_ARN, model_arn):
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "esmctl:environment", "Value": "dev"}])
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "esmctl:environment", "Value": "prod"}, {"Key": "x", "Value": "1"}])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [
            {"Key": "esmctl:environment", "Value": "prod"}, {"Key": "x", "Value": "1"}]
        sm.delete_tags(ResourceArn=arn, TagKeys=["x"])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "esmctl:environment", "Value": "prod"}]
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/missing"
    for call in (lambda: sm.list_tags(ResourceArn=missing),
                 lambda: sm.add_tags(ResourceArn=missing, Tags=[{"Key": "k", "Value": "v"}])):
        assert error_of(call)["Code"] == "ValidationException"


# ---------------------------------------------------------------------------------------------
# 8. List*: order, page size, tokens, filters


def test_list_endpoints_pages_newest_first(sm: Any, mocked: SandboxControl) -> None:
    mocked.creating_seconds = 0
    sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::1:role/r", PrimaryContainer={"Image": "i"})
    create_config(sm, "c", "m")
    names = [f"Endpoint-{index:02d}" for index in range(12)]
    for name in names:
        sm.create_endpoint(EndpointName=name, EndpointConfigName="c")
    sm.create_endpoint(EndpointName="other", EndpointConfigName="c")

    first = sm.list_endpoints(NameContains="endpoint-")  # case-insensitive
    assert [e["EndpointName"] for e in first["Endpoints"]] == names[::-1][:10]
    assert all(e["EndpointStatus"] == "InService" for e in first["Endpoints"])
    second = sm.list_endpoints(NameContains="endpoint-", NextToken=first["NextToken"])
    assert [e["EndpointName"] for e in second["Endpoints"]] == names[1::-1]
    assert "NextToken" not in second

    assert len(sm.list_endpoints(MaxResults=100)["Endpoints"]) == 13
    ascending = sm.list_endpoints(SortOrder="Ascending", MaxResults=3)["Endpoints"]
    assert [e["EndpointName"] for e in ascending] == names[:3]
    by_name = sm.list_endpoints(SortBy="Name", SortOrder="Ascending", MaxResults=2)["Endpoints"]
    assert [e["EndpointName"] for e in by_name] == names[:2]
    paged = [e["EndpointName"] for page in sm.get_paginator("list_endpoints").paginate() for e in page["Endpoints"]]
    assert sorted(paged) == sorted([*names, "other"])
    assert error_of(sm.list_endpoints, MaxResults=101)["Code"] == "ValidationException"
    assert error_of(sm.list_endpoints, NextToken="garbage")["Code"] == "ValidationException"


def test_list_models_and_configs_honour_filters(sm: Any) -> None:
    for index in range(12):
        sm.create_model(ModelName=f"Model-ESMC-{index}", ExecutionRoleArn="arn:aws:iam::1:role/r",
                        PrimaryContainer={"Image": "i"})
        create_config(sm, f"EndpointConfig-ESMC-{index}", f"Model-ESMC-{index}")
    sm.create_model(ModelName="unrelated", ExecutionRoleArn="arn:aws:iam::1:role/r", PrimaryContainer={"Image": "i"})

    for operation, key, name_key in (("list_models", "Models", "ModelName"),
                                      ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName")):
        first = getattr(sm, operation)(NameContains="esmc")
        assert len(first[key]) == 10 and first[key][0][name_key].endswith("ESMC-11")
        rest = getattr(sm, operation)(NameContains="esmc", NextToken=first["NextToken"])
        assert [item[name_key][-6:] for item in rest[key]] == ["ESMC-1", "ESMC-0"]
        assert "NextToken" not in rest
        assert len(getattr(sm, operation)(MaxResults=3)[key]) == 3
    assert len(sm.list_models(MaxResults=100)["Models"]) == 13


# ---------------------------------------------------------------------------------------------
# 9. IAM


def test_iam_delete_user_conflicts(iam: Any) -> None:
    iam.create_user(UserName="esm-shared-invoke-dev")
    key = iam.create_access_key(UserName="esm-shared-invoke-dev")["AccessKey"]["AccessKeyId"]
    policy = iam.create_policy(PolicyName="p", PolicyDocument=_invoke_policy("*"))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="esm-shared-invoke-dev", PolicyArn=policy)
    iam.put_user_policy(UserName="esm-shared-invoke-dev", PolicyName="inline", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }))

    def delete_user() -> dict[str, Any]:
        return error_of(iam.delete_user, UserName="esm-shared-invoke-dev")

    assert (delete_user()["Code"], delete_user()["Status"]) == ("DeleteConflict", 409)
    assert "access keys" in delete_user()["Message"]
    iam.delete_access_key(UserName="esm-shared-invoke-dev", AccessKeyId=key)
    assert "delete policies" in delete_user()["Message"]
    iam.delete_user_policy(UserName="esm-shared-invoke-dev", PolicyName="inline")
    assert "detach all policies" in delete_user()["Message"]

    error = error_of(iam.delete_policy, PolicyArn=policy)
    assert error["Code"] == "DeleteConflict" and "attached" in error["Message"]
    iam.detach_user_policy(UserName="esm-shared-invoke-dev", PolicyArn=policy)
    iam.delete_user(UserName="esm-shared-invoke-dev")

    iam.create_policy_version(PolicyArn=policy, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }), SetAsDefault=True)
    assert error_of(iam.delete_policy, PolicyArn=policy)["Code"] == "DeleteConflict"
    iam.delete_policy_version(PolicyArn=policy, VersionId="v1")
    iam.delete_policy(PolicyArn=policy)


def test_iam_managed_policies_exist_and_delete_role_conflicts(iam: Any) -> None:
    iam.create_role(RoleName="esm-sagemaker-exec-dev", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}],
    }))
    managed = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    iam.attach_role_policy(RoleName="esm-sagemaker-exec-dev", PolicyArn=managed)
    assert error_of(iam.delete_role, RoleName="esm-sagemaker-exec-dev")["Code"] == "DeleteConflict"
    iam.detach_role_policy(RoleName="esm-sagemaker-exec-dev", PolicyArn=managed)
    iam.delete_role(RoleName="esm-sagemaker-exec-dev")


# ---------------------------------------------------------------------------------------------
# 10. InvokeEndpoint


def test_invoke_answers_forge_encode(sm: Any, runtime: Any) -> None:
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    answer = invoke(runtime, ENDPOINT, encode_request("MKTAYIAK"))
    assert answer["ContentType"] == "application/json"
    assert answer["json"] == {"endpoint": "encode", "encode": {"outputs": {
        "sequence": [0, 20, 15, 11, 5, 19, 12, 5, 15, 2], "structure": None, "coordinates": None,
        "secondary_structure": None, "sasa": None, "function": None, "residue_annotation": None},
        "potential_sequence_of_concern": False}}


def test_invoke_answers_logits(sm: Any, runtime: Any) -> None:
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    tokens = vocab.tokenize("MKT")
    request = {"model": "esmc-300m-2024-12", "inputs": {"sequence": tokens},
               "logits_config": {"sequence": True, "return_embeddings": True}}
    answer = invoke(runtime, ENDPOINT, forge_request("logits", request))["json"]
    assert answer["endpoint"] == "logits"
    (rows,) = answer["logits"]["logits"]["sequence"]  # batch of one
    assert len(rows) == len(tokens) and all(len(row) == vocab.LOGITS_WIDTH for row in rows)
    assert [row.index(max(row)) for row in rows] == tokens
    (embeddings,) = answer["logits"]["embeddings"]
    assert len(embeddings) == len(tokens) and len(embeddings[0]) == 960


def test_invoke_unknown_or_not_in_service_endpoint(sm: Any, runtime: Any) -> None:
    error = error_of(runtime.invoke_endpoint, EndpointName="nope", ContentType="application/json", Body=b"{}")
    assert (error["Code"], error["Status"]) == ("ValidationError", 400)
    assert error["Message"] == f"Endpoint nope of account {ACCOUNT} not found."
    deploy(sm)
    assert error_of(invoke, runtime, ENDPOINT, encode_request())["Code"] == "ValidationError"  # Creating
    wait_status(sm, ENDPOINT, "InService")
    # SageMaker: "the case is preserved and must be matched in InvokeEndpoint".
    assert error_of(invoke, runtime, ENDPOINT.lower(), encode_request())["Code"] == "ValidationError"
    assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"


def test_invoke_bad_requests_are_model_errors(sm: Any, runtime: Any) -> None:
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    for body in (b"not json", forge_request("fold", {"inputs": {}}), b'{"endpoint": "encode"}'):
        error = error_of(invoke, runtime, ENDPOINT, body)
        assert error["Code"] == "ModelError" and 400 <= error["Status"] < 500
        assert error["response"]["OriginalStatusCode"] in (400, 404, 422)
        assert f"/aws/sagemaker/Endpoints/{ENDPOINT}" in error["Message"]


def test_invoke_keeps_serving_while_updating(sm: Any, runtime: Any) -> None:
    names = deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    create_config(sm, "EndpointConfig-new", names["model"])
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"


# ---------------------------------------------------------------------------------------------
# 12-13. Marketplace packages and quotas


def test_marketplace_model_package(sm: Any, mocked: SandboxControl) -> None:
    described = sm.describe_model_package(ModelPackageName=PACKAGE_ARN)
    assert described["ModelPackageArn"] == PACKAGE_ARN
    assert described["ModelPackageName"] == "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53"
    assert (described["ModelPackageStatus"], described["CertifyForMarketplace"]) == ("Completed", True)

    mocked.unsubscribed_packages.add(PACKAGE_ARN)
    # DescribeModelPackage proves the ARN exists, not a subscription: CreateModel is refused.
    assert sm.describe_model_package(ModelPackageName=PACKAGE_ARN)["ModelPackageArn"] == PACKAGE_ARN
    error = error_of(deploy, sm)
    assert (error["Code"], error["Message"]) == ("ValidationException",
                                                 "Caller is not subscribed to the marketplace offering.")
    assert sm.list_models()["Models"] == []


def test_instance_quota(sm: Any, mocked: SandboxControl) -> None:
    mocked.creating_seconds = 0
    mocked.quota_instances["ml.g5.2xlarge"] = 1
    names = deploy(sm)
    create_config(sm, "second", names["model"])
    error = error_of(sm.create_endpoint, EndpointName="Endpoint-2", EndpointConfigName="second")
    assert error["Code"] == "ResourceLimitExceeded"
    assert error["Message"] == (
        "The account-level service limit 'ml.g5.2xlarge for endpoint usage' is 1 Instances, with current "
        "utilization of 1 Instances and a request delta of 1 Instances. Please use AWS Service Quotas to "
        "request an increase for this quota.")
    create_config(sm, "bigger", names["model"], "ml.g5.4xlarge", count=2)
    mocked.quota_instances["ml.g5.4xlarge"] = 0
    assert error_of(sm.update_endpoint, EndpointName=ENDPOINT, EndpointConfigName="bigger")["Code"] == (
        "ResourceLimitExceeded")
    mocked.quota_instances["ml.g5.4xlarge"] = 2
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="bigger")
    wait_status(sm, ENDPOINT, "InService")
    sm.create_endpoint(EndpointName="Endpoint-2", EndpointConfigName="second")  # the g5.2xlarge is free again


# ---------------------------------------------------------------------------------------------
# server mode


def test_server_lifecycle_update_and_invoke(served: Any, ctl: SandboxControl, sandbox_clock: FrozenClock) -> None:
    """Endpoint transitions on the sandbox's frozen clock: each state holds until the test moves on."""
    ctl.creating_seconds = ctl.updating_seconds = 60
    sm, runtime = served("sagemaker"), served("sagemaker-runtime")
    names = deploy(sm)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Creating"
    assert error_of(invoke, runtime, ENDPOINT, encode_request())["Code"] == "ValidationError"
    sandbox_clock.advance(61)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    assert invoke(runtime, ENDPOINT, encode_request("MK"))["json"]["encode"]["outputs"]["sequence"] == [0, 20, 15, 2]
    assert error_of(invoke, runtime, ENDPOINT, b"{")["Code"] == "ModelError"

    create_config(sm, "EndpointConfig-new", names["model"], "ml.g6.xlarge")
    ctl.rollback_next_update(ENDPOINT)
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    sandbox_clock.advance(61)
    assert wait_status(sm, ENDPOINT, "InService")["EndpointConfigName"] == names["config"]
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="EndpointConfig-new")
    assert sm.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "Updating"
    sandbox_clock.advance(61)
    assert wait_status(sm, ENDPOINT, "InService")["EndpointConfigName"] == "EndpointConfig-new"

    ctl.fail_endpoint(ENDPOINT)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Failed"
    sm.delete_endpoint(EndpointName=ENDPOINT)
    assert error_of(sm.describe_endpoint, EndpointName=ENDPOINT)["Code"] == "ValidationException"


def _invoke_policy(resource: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": resource}]})


def test_server_iam_checks_the_lowercase_endpoint_arn(served: Any, server: Any, ctl: SandboxControl) -> None:
    ctl.creating_seconds = 0
    sm, iam = served("sagemaker"), served("iam")
    deploy(sm)
    deploy(sm, name="Endpoint-Other")
    keys = {}
    for user, resource in (("lowercase", ENDPOINT_ARN), ("mixedcase", ENDPOINT_ARN.replace(
            "endpoint-esmc-300m-1-2df2c3dd", ENDPOINT))):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="invoke", PolicyDocument=_invoke_policy(resource))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    _post(server.url + "/moto-api/reset-auth", b"0")  # IAM enforcement on (the fixture turns it off)

    def client(service: str, user: str) -> Any:
        return served(service, **keys[user])

    allowed = client("sagemaker-runtime", "lowercase")
    assert invoke(allowed, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"
    error = error_of(invoke, allowed, "Endpoint-Other", encode_request())
    assert error["Code"] == "AccessDeniedException"
    assert "arn:aws:sagemaker:us-east-2:123456789012:endpoint/endpoint-other" in error["Message"]
    # A policy spelling the endpoint's name as written (mixed case) allows nothing, as in AWS.
    assert error_of(invoke, client("sagemaker-runtime", "mixedcase"), ENDPOINT, encode_request())["Code"] == (
        "AccessDeniedException")
    assert error_of(client("sagemaker", "lowercase").describe_endpoint, EndpointName=ENDPOINT)["Code"] == (
        "AccessDeniedException")
    # The default credentials are no IAM user of the sandbox once enforcement is on.
    assert error_of(invoke, served("sagemaker-runtime"), ENDPOINT, encode_request())["Code"] == (
        "UnrecognizedClientException")


def _post(url: str, data: bytes) -> None:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_start_server_reports_a_busy_port() -> None:
    """An error, not a hang (moto's own start() waits forever for a port it cannot bind)."""
    outcome: list[object] = []

    def start_again(port: int) -> None:
        try:
            outcome.append(start_server(port=port))
        except Exception as error:  # handed to the test thread
            outcome.append(error)

    with start_server() as first:
        attempt = threading.Thread(target=start_again, args=(first.port,), daemon=True)
        attempt.start()
        attempt.join(timeout=60)  # a bound for a hang, not a measurement
        assert not attempt.is_alive(), "start_server hangs on a busy port"
        (error,) = outcome
        assert isinstance(error, OSError) and str(first.port) in str(error), error


def test_serve_forever_stops_on_ctrl_c() -> None:
    seen: list[str] = []

    def ready(server: Any) -> None:
        with urllib.request.urlopen(server.url + "/moto-api/data.json", timeout=5) as response:
            assert response.status == 200
        seen.append(server.url)
        raise KeyboardInterrupt

    serve_forever(0, on_ready=ready)
    assert seen and seen[0].startswith("http://127.0.0.1:")
    with pytest.raises(OSError):
        urllib.request.urlopen(seen[0] + "/moto-api/data.json", timeout=2)


def test_in_process_iam_enforcement(sm: Any, iam: Any, mocked: SandboxControl, boto_session: Any) -> None:
    from moto.core import set_initial_no_auth_action_count

    mocked.creating_seconds = 0
    deploy(sm)
    iam.create_user(UserName="u")
    iam.put_user_policy(UserName="u", PolicyName="invoke", PolicyDocument=_invoke_policy(ENDPOINT_ARN))
    key = iam.create_access_key(UserName="u")["AccessKey"]
    credentials = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    runtime = boto_session.client("sagemaker-runtime", **credentials)
    user_sm = boto_session.client("sagemaker", **credentials)

    @set_initial_no_auth_action_count(0)
    def calls() -> None:
        assert invoke(runtime, ENDPOINT, encode_request())["json"]["endpoint"] == "encode"
        error = error_of(user_sm.describe_endpoint, EndpointName=ENDPOINT)
        assert error["Code"] == "AccessDeniedException"
        assert f"on resource: {ENDPOINT_ARN}" in error["Message"]

    calls()

