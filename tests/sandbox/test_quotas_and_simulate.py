"""The sandbox's Service Quotas (service code `sagemaker`) and IAM SimulatePrincipalPolicy patches."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from esmctl.sandbox import SandboxControl
from esmctl.sandbox._quotas import DEFAULT_QUOTA, quota_code


@pytest.fixture
def sq(mocked: SandboxControl, boto_session: boto3.Session) -> Any:
    return boto_session.client("service-quotas")


def test_default_and_applied_endpoint_quotas(sq: Any, mocked: SandboxControl) -> None:
    pages = list(sq.get_paginator("list_aws_default_service_quotas").paginate(ServiceCode="sagemaker"))
    assert len(pages) > 1 and all(len(p["Quotas"]) <= 100 for p in pages[:-1])
    defaults = {q["QuotaName"]: q for p in pages for q in p["Quotas"]}
    q = defaults["ml.g5.2xlarge for endpoint usage"]
    assert (q["Value"], q["QuotaCode"], q["ServiceCode"]) == (DEFAULT_QUOTA, quota_code(q["QuotaName"]), "sagemaker")
    assert "ml.g5.2xlarge for training job usage" in defaults
    assert sq.list_service_quotas(ServiceCode="sagemaker")["Quotas"] == []  # nothing applied yet
    mocked.quota_instances["ml.g5.2xlarge"] = 0
    (applied,) = sq.list_service_quotas(ServiceCode="sagemaker")["Quotas"]
    assert (applied["QuotaName"], applied["Value"]) == ("ml.g5.2xlarge for endpoint usage", 0.0)
    assert sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=applied["QuotaCode"])["Quota"]["Value"] == 0.0
    assert sq.get_aws_default_service_quota(ServiceCode="sagemaker",
                                            QuotaCode=applied["QuotaCode"])["Quota"]["Value"] == DEFAULT_QUOTA
    with pytest.raises(sq.exceptions.NoSuchResourceException):
        sq.get_service_quota(ServiceCode="sagemaker", QuotaCode=quota_code("ml.sandbox.xlarge for endpoint usage"))
    assert sq.list_service_quotas(ServiceCode="vpc")["Quotas"]  # moto's own service still answers


def test_simulate_principal_policy(iam: Any) -> None:
    iam.create_user(UserName="u")
    iam.put_user_policy(UserName="u", PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "sagemaker:DeleteModel", "Resource": "*"}]}))
    resp = iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:user/u",
                                         ActionNames=["sagemaker:CreateModel", "sagemaker:DeleteModel", "iam:PassRole"])
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in resp["EvaluationResults"]] == [
        ("sagemaker:CreateModel", "allowed"), ("sagemaker:DeleteModel", "explicitDeny"),
        ("iam:PassRole", "implicitDeny")]
    anyone = iam.simulate_principal_policy(PolicySourceArn="arn:aws:sts::123456789012:user/moto",
                                           ActionNames=["iam:CreateRole"])["EvaluationResults"]
    assert anyone[0]["EvalDecision"] == "allowed"  # the sandbox's default caller may do everything
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:role/nobody", ActionNames=["a:b"])
