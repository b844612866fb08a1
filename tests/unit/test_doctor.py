"""The doctor's checks and the invoke request/answer handling, with botocore's Stubber for what the
sandbox cannot produce (expired tokens, refused simulations) and plain data for the rest."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from esmctl import config as config_mod
from esmctl import doctor
from esmctl.aws import Aws
from esmctl.errors import AwsError, InvokeFailed
from esmctl.invoke import envelope, invoke_endpoint, parse_answer, request_body
from esmctl.state import ConfigRecord, DeploymentState, EndpointRecord, State

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
USER_ARN = "arn:aws:iam::123456789012:user/alice"


class FakeCredentials:
    """What boto3's RefreshableCredentials show: a method and a private expiry time."""

    def __init__(self, expiry: dt.datetime | None, method: str = "sso") -> None:
        self.method = method
        self._expiry_time = expiry


class FakeSession:
    """A boto3 session whose credentials expire when the test says; clients are real (for Stubber)."""

    def __init__(self, expiry: dt.datetime | None) -> None:
        self._real = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-2")
        self._creds = FakeCredentials(expiry)

    def get_credentials(self) -> FakeCredentials:
        return self._creds

    def client(self, *args: Any, **kwargs: Any) -> Any:
        return self._real.client(*args, **kwargs)


def make_aws(expiry: dt.datetime | None = None) -> Aws:
    return Aws(region="us-east-2", session=FakeSession(expiry))


def stub(aws: Aws, service: str) -> Stubber:
    s = Stubber(aws.client(service))
    s.activate()
    return s


IDENTITY = {"UserId": "AIDAEXAMPLE", "Account": "123456789012", "Arn": USER_ARN}


@pytest.fixture
def cfg(project: Path) -> config_mod.Config:
    return config_mod.load(project / "esmctl.yaml")


# --- credentials ---------------------------------------------------------------------------------


def test_expired_token_from_sts_is_an_error_with_the_sso_fix() -> None:
    aws = make_aws()
    sts = stub(aws, "sts")
    sts.add_client_error("get_caller_identity", service_error_code="ExpiredToken", http_status_code=403,
                         service_message="The security token included in the request is expired")
    findings, ident = doctor.check_credentials(aws, now=NOW)
    assert ident is None
    (f,) = findings
    assert (f.name, f.level) == ("credentials", "error")
    assert "ExpiredToken" in f.message and "aws sso login" in f.fix


def test_credentials_that_expired_are_an_error_without_calling_sts() -> None:
    aws = make_aws(NOW - dt.timedelta(seconds=1))
    sts = stub(aws, "sts")  # nothing queued: a call would fail the test
    findings, ident = doctor.check_credentials(aws, now=NOW)
    assert ident is None and findings[0].level == "error"
    assert findings[0].message == "the AWS credentials (from sso) expired at 2026-11-27T11:59:59Z"
    sts.assert_no_pending_responses()


@pytest.mark.parametrize(("minutes", "level"), [(14, "warning"), (15, "warning"), (16, "ok"), (None, "ok")])
def test_credentials_expiring_within_15_minutes_are_a_warning(minutes: int | None, level: str) -> None:
    aws = make_aws(None if minutes is None else NOW + dt.timedelta(minutes=minutes))
    stub(aws, "sts").add_response("get_caller_identity", IDENTITY)
    (f,), ident = doctor.check_credentials(aws, now=NOW)
    assert ident == IDENTITY and f.level == level
    assert f.message.startswith(f"account 123456789012 as {USER_ARN} (from sso)")
    if level == "warning":
        assert f"they expire in {minutes} min" in f.message and "aws sso login" in f.fix


def test_botocore_runtime_error_for_still_expired_credentials_is_translated() -> None:
    aws = make_aws()

    class Client:
        def get_caller_identity(self) -> None:
            raise RuntimeError("Credentials were refreshed, but the refreshed credentials are still expired.")

    aws._clients["sts"] = Client()
    with pytest.raises(AwsError) as e:
        aws.sts.caller_identity()
    assert e.value.code == "ExpiredToken" and "aws sso login" in e.value.hint


# --- region, subscription -------------------------------------------------------------------------


def test_region_mismatch_names_each_deployment(project: Path) -> None:
    cfg = config_mod.load(project / "esmctl.yaml", region="eu-west-1", check_regions=False)
    (f,) = doctor.check_region(cfg)
    assert f.level == "error" and "prototype_model (ESMC-300M) is in us-east-2" in f.message
    assert "performance_model (ESMC-300M) is in us-east-2" in f.message
    with pytest.raises(config_mod.ConfigError):  # every other command refuses it outright
        config_mod.load(project / "esmctl.yaml", region="eu-west-1")


def test_subscription_is_checked_once_per_package(cfg: config_mod.Config) -> None:
    aws = make_aws()
    sm = stub(aws, "sagemaker")
    pkg = cfg.deployments["prototype_model"].model_package
    sm.add_client_error("describe_model_package", service_error_code="ValidationException",
                        service_message="Caller is not subscribed to the marketplace offering.",
                        expected_params={"ModelPackageName": pkg})
    (f,) = doctor.check_subscriptions(aws, cfg)  # two deployments, one package
    assert f.level == "error" and "used by prototype_model, performance_model" in f.message
    assert f.fix.startswith("Subscribe in AWS Marketplace")
    sm.assert_no_pending_responses()


# --- quotas ---------------------------------------------------------------------------------------


def _dep(itype: str, count: int, *, desired: str = "running", status: str = "InService") -> DeploymentState:
    return DeploymentState(
        selector="ESMC-300M", suffix="00000000", forge_model_name="esmc-300m-2024-12", desired=desired,  # type: ignore[arg-type]
        endpoint_config=ConfigRecord(name="c", created=True, model_name="m", instance_type=itype, instance_count=count),
        endpoint=EndpointRecord(name="e", created=True, status=status))


def test_instances_to_add(cfg: config_mod.Config) -> None:
    # multi_model: prototype_model on ml.g5.2xlarge × 1, performance_model on ml.g5.4xlarge × 1
    assert doctor.instances_to_add(cfg, None) == {"ml.g5.2xlarge": 1, "ml.g5.4xlarge": 1}
    st = State(region="us-east-2", environment="dev")
    st.deployments["prototype_model"] = _dep("ml.g5.2xlarge", 1)  # running as configured: adds none
    st.deployments["performance_model"] = _dep("ml.g5.4xlarge", 3)  # count change: the new fleet comes first
    assert doctor.instances_to_add(cfg, st) == {"ml.g5.2xlarge": 0, "ml.g5.4xlarge": 1}
    st.deployments["performance_model"] = _dep("ml.g5.4xlarge", 1, desired="stopped")  # stays stopped
    st.deployments["prototype_model"] = _dep("ml.g5.2xlarge", 1, status="Failed")  # recreated
    assert doctor.instances_to_add(cfg, st) == {"ml.g5.2xlarge": 1}
    assert doctor.instances_to_add(cfg, None, ["performance_model"]) == {"ml.g5.4xlarge": 1}


def _quota(name: str, value: float) -> dict[str, Any]:
    return {"QuotaName": name, "QuotaCode": "L-1234ABCD", "Value": value, "ServiceCode": "sagemaker"}


def test_quota_found_by_name_across_pages_and_in_the_defaults(cfg: config_mod.Config) -> None:
    aws = make_aws()
    sq = stub(aws, "service-quotas")
    sq.add_response("list_service_quotas", {"Quotas": [_quota("ml.t3.medium for endpoint usage", 2)],
                                            "NextToken": "p2"},
                    {"ServiceCode": "sagemaker", "MaxResults": 100})
    sq.add_response("list_service_quotas", {"Quotas": [_quota("ml.g5.2xlarge for endpoint usage", 1)]},
                    {"ServiceCode": "sagemaker", "MaxResults": 100, "NextToken": "p2"})
    sq.add_response("list_aws_default_service_quotas", {"Quotas": [_quota("ml.g5.4xlarge for endpoint usage", 0)]},
                    {"ServiceCode": "sagemaker", "MaxResults": 100})
    sm = stub(aws, "sagemaker")
    sm.add_response("list_endpoints", {"Endpoints": []})
    findings = {f.name: f for f in doctor.check_quotas(aws, cfg, None)}
    assert findings["quota ml.g5.2xlarge"].level == "ok"
    assert findings["quota ml.g5.2xlarge"].message == "'ml.g5.2xlarge for endpoint usage' is 1: 0 in use + 1 to add"
    assert findings["quota ml.g5.4xlarge"].level == "error"
    assert "--quota-code L-1234ABCD --desired-value 1" in findings["quota ml.g5.4xlarge"].fix


def test_unreadable_quotas_are_a_warning(cfg: config_mod.Config) -> None:
    aws = make_aws()
    stub(aws, "service-quotas").add_client_error("list_service_quotas", service_error_code="AccessDeniedException",
                                                 http_status_code=400)
    findings = doctor.check_quotas(aws, cfg, None)
    assert [f.level for f in findings] == ["warning", "warning"]
    assert "servicequotas:ListServiceQuotas" in findings[0].fix


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AccessDenied", "NoSuchEntity"])
def test_a_simulation_that_cannot_run_is_a_warning(cfg: config_mod.Config, code: str) -> None:
    aws = make_aws()
    stub(aws, "iam").add_client_error("simulate_principal_policy", service_error_code=code, http_status_code=403)
    (f,) = doctor.check_permissions(aws, cfg, USER_ARN)
    assert f.level == "warning" and f.message.startswith("could not check permissions")


def test_an_assumed_role_is_simulated_as_its_role(cfg: config_mod.Config) -> None:
    aws = make_aws()
    iam = stub(aws, "iam")
    role_arn = "arn:aws:iam::123456789012:role/team/Deployer"
    role = {"RoleName": "Deployer", "Arn": role_arn, "Path": "/team/", "RoleId": "AROA1234567890EXAMPLE",
            "CreateDate": NOW, "AssumeRolePolicyDocument": "{}"}
    iam.add_response("get_role", {"Role": role}, {"RoleName": "Deployer"})
    from esmctl import permissions

    actions = doctor.needed_actions(cfg)
    doc = permissions.policy(cfg, None, "all", account="123456789012")
    for acts, resources in permissions.simulations(doc):  # each statement on its own resources
        assert "*" not in "".join(r for r in resources if r != "*")  # concrete names, not patterns
        results = [{"EvalActionName": a, "EvalDecision": "implicitDeny" if a == "iam:PassRole" else "allowed"}
                   for a in acts]
        iam.add_response("simulate_principal_policy", {"EvaluationResults": results, "IsTruncated": False},
                         {"PolicySourceArn": role_arn, "ActionNames": acts, "ResourceArns": resources})
    (f,) = doctor.check_permissions(aws, cfg, "arn:aws:sts::123456789012:assumed-role/Deployer/alice")
    iam.assert_no_pending_responses()
    assert f.level == "error" and f.message == (f"{role_arn} may not call 1 of the {len(actions)} actions esmctl "
                                                "needs: iam:PassRole")


def test_the_root_user_is_not_simulated(cfg: config_mod.Config) -> None:
    (f,) = doctor.check_permissions(make_aws(), cfg, "arn:aws:iam::123456789012:root")
    assert f.level == "warning" and "root user" in f.message


# --- invoke ---------------------------------------------------------------------------------------


def encode_answer(tokens: list[int], **drop: str) -> dict[str, Any]:
    """A complete `encode` answer (what the sandbox's container sends), without the keys in `drop`
    (`where=key`: "top" → the result's own key, "outputs" → a key of outputs)."""
    outputs = {"sequence": tokens, "structure": None, "coordinates": None, "secondary_structure": None,
               "sasa": None, "function": None, "residue_annotation": None}
    result: dict[str, Any] = {"outputs": outputs, "potential_sequence_of_concern": False}
    for where, key in drop.items():
        (outputs if where == "outputs" else result).pop(key)
    return {"endpoint": "encode", "encode": result}


def test_invoke_sends_the_sdk_request_exactly() -> None:
    aws = make_aws()
    answer = json.dumps(encode_answer([0, 5, 6, 2])).encode()
    rt = stub(aws, "sagemaker-runtime")
    # esm/sdk/sagemaker.py ESM3SageMakerClient._post: ContentType, Body, CustomAttributes; no Accept.
    rt.add_response("invoke_endpoint",
                    {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"},
                    {"EndpointName": "Endpoint-ESMC-300M-1-0badcafe", "ContentType": "application/json",
                     "CustomAttributes": "return_bytes=false",
                     "Body": json.dumps({"model": "esmc-300m-2024-12", "request_id": "", "user_id": "",
                                         "api_ver": "v1", "endpoint": "encode",
                                         "encode": {"inputs": {"sequence": "AG", "secondary_structure": None,
                                                               "sasa": None, "coordinates": None},
                                                    "model": "esmc-300m-2024-12",
                                                    "potential_sequence_of_concern": False}}).encode()})
    ticks = iter([10.0, 10.25])
    r = invoke_endpoint(aws.runtime, deployment="d", endpoint_name="Endpoint-ESMC-300M-1-0badcafe",
                        forge_model="esmc-300m-2024-12", sequence="AG", clock=lambda: next(ticks))
    rt.assert_no_pending_responses()
    assert (r.latency_ms, r.token_count, r.response_bytes) == (250.0, 4, len(answer))
    assert r.request_bytes == len(request_body("esmc-300m-2024-12", "AG"))


def test_a_model_error_names_the_logs() -> None:
    aws = make_aws()
    stub(aws, "sagemaker-runtime").add_client_error(
        "invoke_endpoint", service_error_code="ModelError", http_status_code=424,
        service_message='Received client error (422) from primary with message "bad sequence"')
    with pytest.raises(InvokeFailed) as e:
        invoke_endpoint(aws.runtime, deployment="d", endpoint_name="ep", forge_model="m", sequence="AG")
    assert "refused the request" in e.value.message and "/aws/sagemaker/Endpoints/ep" in e.value.hint


@pytest.mark.parametrize(("raw", "expect"), [
    (b"<html>oops</html>", "is not JSON (content type text/html, 17 bytes"),
    (b"[1, 2]", "JSON that is not an object (list)"),
    (b'{"detail": "CUDA out of memory"}', "answered with an error: CUDA out of memory"),
    (b'{"endpoint": "logits", "logits": {}}', "is for Forge endpoint 'logits', not 'encode'"),
    (b'{"endpoint": "encode"}', "has no 'encode': the esm SDK's SageMaker client would fail with KeyError 'encode'"),
    (b'{"encode": {}}', "has no 'endpoint': the esm SDK's SageMaker client would fail with KeyError 'endpoint'"),
    (b'{"endpoint": "encode", "encode": []}', "has 'encode' that is not an object (list)"),
])
def test_bad_answers(raw: bytes, expect: str) -> None:
    with pytest.raises(InvokeFailed) as e:
        parse_answer(raw, "text/html", "ep")
    assert expect in e.value.message


@pytest.mark.parametrize(("drop", "key", "versions"), [
    ({"top": "potential_sequence_of_concern"}, "encode.potential_sequence_of_concern",
     "esm 3.3.0 (Biohub/esm main) and later"),
    ({"top": "outputs"}, "encode.outputs", "esm 3.2.1 and later"),
    ({"outputs": "residue_annotation"}, "encode.outputs.residue_annotation", "esm 3.2.1 and later"),
    ({"outputs": "sequence"}, "encode.outputs.sequence", "esm 3.2.1 and later"),
])
def test_an_answer_the_sdk_cannot_read_names_the_key_and_the_versions(drop: dict[str, str], key: str,
                                                                      versions: str) -> None:
    raw = json.dumps(encode_answer([0, 5, 6, 2], **drop)).encode()
    with pytest.raises(InvokeFailed) as e:
        parse_answer(raw, "application/json", "ep", sequence="AG")
    assert f"has no {key!r}" in e.value.message
    assert f"KeyError {key.rsplit('.', 1)[-1]!r} ({versions};" in e.value.message
    assert "esm/sdk/" in e.value.message


@pytest.mark.parametrize(("tokens", "expect"), [
    ("0 5 6 2", ""),
    ([5, 6, 2], "do not start with 0 (BOS) and end with 2 (EOS)"),
    ([0, 5, 6], "do not start with 0 (BOS) and end with 2 (EOS)"),
    ([0, 5, 2], "3 token ids for 2 residues (expected 4"),
    ([0, 5.0, 6, 2], "not a list of token ids"),
    ("0 5 6 2 x", "not a list of token ids"),
])
def test_the_token_ids_are_checked(tokens: Any, expect: str) -> None:
    if tokens == "0 5 6 2":
        assert parse_answer(json.dumps(encode_answer([0, 5, 6, 2])).encode(), "application/json", "ep",
                            sequence="AG")["outputs"]["sequence"] == [0, 5, 6, 2]
        return
    raw = json.dumps(encode_answer(tokens)).encode()
    with pytest.raises(InvokeFailed) as e:
        parse_answer(raw, "application/json", "ep", sequence="AG")
    assert expect in e.value.message


def test_envelope_shape() -> None:
    # esm/sdk/forge.py ESM3ForgeInferenceClient._process_encode_request, wrapped by
    # esm/sdk/sagemaker.py ESM3SageMakerClient._post (esm 3.2.1 to 3.3.0): key for key.
    assert json.dumps(envelope("esmc-600m-2024-12", "MKT")) == json.dumps({
        "model": "esmc-600m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1", "endpoint": "encode",
        "encode": {"inputs": {"sequence": "MKT", "secondary_structure": None, "sasa": None, "coordinates": None},
                   "model": "esmc-600m-2024-12", "potential_sequence_of_concern": False}})


def test_sequence_check() -> None:
    from esmctl.invoke import check_sequence

    assert check_sequence(" mktay iak\n") == "MKTAYIAK"
    assert check_sequence("MK_TAY|IAKX") == "MK_TAY|IAKX"
    for bad, expect in (("", "empty"), ("hello world 123!", "'!123'")):
        with pytest.raises(InvokeFailed) as e:
            check_sequence(bad)
        assert expect in e.value.message and "amino-acid" in e.value.hint and "MKTAYIAK" in e.value.hint
