"""`esmctl doctor`, the checks `deploy` runs first, `esmctl invoke` and `deploy --smoke`, through the
real command against the sandbox server."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from esmctl import doctor as doctor_mod
from esmctl.api import Workspace
from esmctl.invoke import DEFAULT_SEQUENCE, envelope
from esmctl.ui import UI
from tests.e2e.conftest import ESMCTL, REGION, Env, Result, deploy

pytestmark = pytest.mark.e2e
PKG = ("arn:aws:sagemaker:us-east-2:057799348421:model-package/"
       "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53")
FORGE_MODEL = "esmc-300m-2024-12"


def run_env(cli: Env, extra: dict[str, str], *args: str) -> Result:
    """`cli.run` with more (or other) environment variables."""
    cmd = [ESMCTL] if ESMCTL else [sys.executable, "-m", "esmctl"]
    p = subprocess.run([*cmd, *args], cwd=cli.folder, env={**cli.env(), **extra}, capture_output=True, text=True,
                       timeout=60, input="")
    return Result(p.returncode, p.stdout, p.stderr)


def doctor_json(cli: Env, *global_args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    r = run_env(cli, env or {}, *global_args, "doctor", "--json")
    assert "Traceback" not in r.text, r.text
    return r.code, json.loads(r.out)


def finding(doc: dict[str, Any], name: str) -> dict[str, Any]:
    (f,) = [f for f in doc["findings"] if f["name"] == name]
    return f


def levels(doc: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["level"] for f in doc["findings"]}


def nothing_created(cli: Env) -> None:
    assert not cli.state_file.exists()
    assert not (cli.folder / "state" / "dev.lock").exists()
    assert cli.client("sagemaker").list_models()["Models"] == []
    assert cli.client("sagemaker").list_endpoints()["Endpoints"] == []
    assert cli.client("iam").list_roles()["Roles"] == []


def state_of(cli: Env) -> dict[str, Any]:
    return json.loads(cli.state_file.read_text())


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[bytes, dict[str, str]]]]:
    """Every InvokeEndpoint request that reaches the sandbox's model container, as (body, headers with
    lower-case names); the server runs in this process. Calls refused before (IAM) are not in it."""
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    seen: list[tuple[bytes, dict[str, str]]] = []
    original = SageMakerRuntimeResponse.invoke_endpoint

    def recording(self: Any) -> Any:
        seen.append((bytes(self.raw_body or b""), {str(k).lower(): str(v) for k, v in self.headers.items()}))
        return original(self)

    monkeypatch.setattr(SageMakerRuntimeResponse, "invoke_endpoint", recording)
    yield seen


# --- doctor ---------------------------------------------------------------------------------------
# Through the command for the healthy and the unsubscribed case; the other findings through the same
# library call (`Workspace.doctor`, in this process, against the same sandbox server), which is faster.


def doctor_in_process(cli: Env, *, region: str | None = None) -> dict[str, Any]:
    ws = Workspace(cli.folder / "esmctl.yaml", region=region, endpoint_url=cli.url, ui=UI(interactive=False))
    return doctor_mod.report(ws.doctor())


def test_doctor_all_ok_on_a_healthy_sandbox(cli: Env) -> None:
    cli.example("multi_model")
    code, doc = doctor_json(cli)
    assert code == 0 and doc["ok"] is True
    # No execution role yet to probe with: the package exists, the subscription is not verified.
    assert levels(doc) == {"configuration": "ok", "credentials": "ok", "region": "ok",
                           "subscription ESMC-300M": "warning", "quota ml.g5.2xlarge": "ok",
                           "quota ml.g5.4xlarge": "ok", "permissions": "ok", "state": "ok"}
    assert doc["summary"] == {"ok": 7, "warning": 1, "error": 0}
    assert "subscription not verified" in finding(doc, "subscription ESMC-300M")["message"]
    assert "account 123456789012 as arn:aws:sts::123456789012:user/moto" in finding(doc, "credentials")["message"]


def test_doctor_reports_an_unsubscribed_package_with_the_marketplace_steps(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)  # the execution role doctor probes the subscription with
    sandbox.unsubscribed_packages.add(PKG)
    r = cli.run("doctor")
    assert r.code == 1 and "Traceback" not in r.text
    assert ("✗ error   subscription ESMC-300M: this AWS account is not subscribed to the AWS Marketplace offering "
            f"of {PKG.rsplit('/', 1)[1]} (used by prototype_model; CreateModel refused a probe model)") in r.out
    assert "fix: Subscribe in AWS Marketplace" in r.out and "Continue to Subscribe" in r.out
    assert "6 ok, 0 warnings, 1 error." in r.out
    assert "doctor found 1 error: subscription ESMC-300M." in r.err


def test_doctor_reports_a_region_mismatch(cli: Env) -> None:
    cli.example("basic")
    doc = doctor_in_process(cli, region="eu-west-1")
    assert doc["ok"] is False
    f = finding(doc, "region")
    assert f["level"] == "error"
    assert f["message"] == ("region is eu-west-1, but the model package of prototype_model (ESMC-300M) is in "
                            "us-east-2")
    assert "deploy in us-east-2" in f["fix"] and "package ARN for eu-west-1" in f["fix"]
    # The rest of the configuration is valid, so the other checks still ran.
    assert levels(doc)["credentials"] == "ok" and levels(doc)["subscription ESMC-300M"] == "warning"


def test_doctor_reports_a_zero_quota_and_an_unknown_one(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "  other:\n    selector: ESMC-300M\n    instance_type: ml.sandbox.xlarge\n")
    sandbox.quota_instances["ml.g5.2xlarge"] = 0
    doc = doctor_in_process(cli)
    assert doc["ok"] is False
    zero = finding(doc, "quota ml.g5.2xlarge")
    assert zero["level"] == "error"
    assert "'ml.g5.2xlarge for endpoint usage' is 0: 0 in use + 1 to add" in zero["message"]
    assert "Service Quotas" in zero["fix"] and "--desired-value 1" in zero["fix"]
    unknown = finding(doc, "quota ml.sandbox.xlarge")
    assert unknown["level"] == "warning" and "quota is unknown" in unknown["message"]
    # A quota of 1 with one instance already running elsewhere in the account is one too few.
    sandbox.quota_instances["ml.g5.2xlarge"] = 1
    sandbox.role_propagation_seconds = sandbox.config_lookup_seconds = 0  # direct calls, no retries
    cli.client("iam").create_role(RoleName="x", AssumeRolePolicyDocument="{}")
    sm = cli.client("sagemaker")
    sm.create_model(ModelName="Other-Model", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                    PrimaryContainer={"Image": "x"})
    sm.create_endpoint_config(EndpointConfigName="Other-Config", ProductionVariants=[{
        "VariantName": "v", "ModelName": "Other-Model", "InitialInstanceCount": 1, "InstanceType": "ml.g5.2xlarge"}])
    sm.create_endpoint(EndpointName="Other-Endpoint", EndpointConfigName="Other-Config")
    doc = doctor_in_process(cli)
    assert "is 1: 1 in use + 1 to add = 2" in finding(doc, "quota ml.g5.2xlarge")["message"]


def test_doctor_reports_expired_and_expiring_credentials(cli: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3 takes an expiry for environment credentials from AWS_CREDENTIAL_EXPIRATION.
    cli.example("basic")
    now = dt.datetime.now(dt.UTC)
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", (now - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    doc = doctor_in_process(cli)
    f = finding(doc, "credentials")
    assert f["level"] == "error" and "(from env) expired at" in f["message"] and "aws sso login" in f["fix"]
    assert levels(doc)["AWS checks"] == "warning"  # nothing else was tried with them
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", (now + dt.timedelta(minutes=12)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    doc = doctor_in_process(cli)
    f = finding(doc, "credentials")
    assert f["level"] == "warning" and "they expire in 11 min" in f["message"] and "aws sso login" in f["fix"]
    assert doc["ok"] is True


def test_doctor_reports_missing_permissions_and_a_held_lock(cli: Env, sandbox: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cli.example("basic")
    sandbox.key_propagation_seconds = 0  # the reader's key is used at once
    iam = cli.client("iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sagemaker:*", "iam:Get*", "iam:PassRole"], "Resource": "*"},
            {"Effect": "Deny", "Action": "sagemaker:DeleteEndpoint", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    lock = cli.folder / "state" / "dev.lock"
    lock.parent.mkdir()
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),  # a live holder: this process
                                "command": "esmctl deploy --yes", "since": "2026-11-27T10:00:00Z"}))
    doc = doctor_in_process(cli)
    perms = finding(doc, "permissions")
    assert perms["level"] == "error" and "arn:aws:iam::123456789012:user/reader may not call" in perms["message"]
    assert "iam:CreateRole" in perms["message"] and "sagemaker:DeleteEndpoint" in perms["message"]
    assert "sagemaker:CreateModel" not in perms["message"]
    held = finding(doc, "lock")
    assert held["level"] == "error" and f"pid {os.getpid()}" in held["message"]


# --- deploy's pre-checks ---------------------------------------------------------------------------


def test_deploy_stops_before_creating_anything_when_a_check_fails(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    sandbox.unsubscribed_packages.add(PKG)
    sandbox.quota_instances["ml.g5.2xlarge"] = 0
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "Traceback" not in r.text
    assert "The pre-deploy checks found 1 error (quota ml.g5.2xlarge); nothing was created." in r.err
    assert "subscription not verified" in r.err and "--skip-checks" in r.err
    assert "esmctl will perform" not in r.err  # stopped before the plan, the lock and any create call
    nothing_created(cli)
    # --skip-checks goes on to the create calls, which AWS then refuses.
    r = cli.run("deploy", "--yes", "--skip-checks")
    assert r.code == 1 and "pre-deploy checks" not in r.err and "sagemaker:CreateModel" in r.err


# --- invoke ---------------------------------------------------------------------------------------


def test_invoke_summary_exact_envelope_and_shared_user(cli: Env, sandbox_server: Any,
                                                       received: list[tuple[bytes, dict[str, str]]]) -> None:
    cli.example("basic_shared_user")
    path = cli.folder / "esmctl.yaml"  # local secret store: reading the key makes no AWS call
    path.write_text(path.read_text().replace("secret_store: secretsmanager", "secret_store: local"))
    assert cli.run("deploy", "--yes").code == 0
    r = cli.run("invoke", "prototype_model")
    assert r.code == 0, r.text
    endpoint = state_of(cli)["deployments"]["prototype_model"]["endpoint"]["name"]
    assert f"{endpoint} answered the encode request." in r.err
    for line in (f"endpoint     {endpoint}", f"forge model  {FORGE_MODEL}", "sequence     76 residues",
                 "tokens       78 (one per residue, plus begin and end)", "response     510 bytes (application/json)"):
        assert line in r.out
    assert "latency" in r.out
    # As the shared service account, with IAM enforced: only its key may call InvokeEndpoint, so
    # the call succeeding with --as-shared-user and failing without shows which key signed it.
    requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        shared = cli.run("invoke", "prototype_model", "--as-shared-user", "--json", "--sequence", "MKTAYIAK")
        plain = cli.run("invoke", "prototype_model")
    finally:
        requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"inf", timeout=10)
    assert shared.code == 0, shared.text
    doc = json.loads(shared.out)
    assert doc["as_shared_user"] is True and doc["token_count"] == 10 and doc["sequence_length"] == 8
    assert doc["endpoint_name"] == endpoint and doc["latency_ms"] > 0
    assert plain.code == 1 and "Traceback" not in plain.text
    # What the model received (the refused call never reached it): byte for byte what the esm SDK's
    # ESM3SageMakerClient.encode sends (esmctl.invoke.envelope cites its source), with its
    # CustomAttributes and, like the SDK, no Accept header.
    assert len(received) == 2
    (first, first_headers), (second, second_headers) = received
    assert json.loads(first) == {
        "model": FORGE_MODEL, "request_id": "", "user_id": "", "api_ver": "v1", "endpoint": "encode",
        "encode": {"inputs": {"sequence": DEFAULT_SEQUENCE, "secondary_structure": None, "sasa": None,
                              "coordinates": None},
                   "model": FORGE_MODEL, "potential_sequence_of_concern": False}}
    assert second == json.dumps(envelope(FORGE_MODEL, "MKTAYIAK")).encode()
    for headers in (first_headers, second_headers):
        assert headers["x-amzn-sagemaker-custom-attributes"] == "return_bytes=false"
        assert headers["content-type"] == "application/json" and "accept" not in headers


def test_invoke_a_refusing_a_missing_and_a_stopped_endpoint(cli: Env) -> None:
    cli.example("basic")
    assert cli.run("deploy", "--yes").code == 0
    # The model refuses the request (ModelError): the container's message and where its logs are.
    r = cli.run("invoke", "prototype_model", "--sequence", "A" * 3000)
    assert r.code == 1 and "refused the request" in r.err and "longer than 2048" in r.err
    endpoint = state_of(cli)["deployments"]["prototype_model"]["endpoint"]["name"]
    assert f"/aws/sagemaker/Endpoints/{endpoint}" in r.err
    # An endpoint deleted behind esmctl's back.
    cli.client("sagemaker").delete_endpoint(EndpointName=endpoint)
    r = cli.run("invoke", "prototype_model")
    assert r.code == 1 and f"The endpoint {endpoint} of prototype_model does not exist or is not InService" in r.err
    assert "esmctl status prototype_model" in r.err
    # A stopped deployment: exit 1, naming the way back.
    assert cli.run("stop", "prototype_model", "--yes").code == 0
    r = cli.run("invoke", "prototype_model")
    assert r.code == 1 and "Traceback" not in r.text
    assert "prototype_model is stopped" in r.err and "start it with `esmctl start prototype_model`" in r.err


def queue_answer(cli: Env, body: str, content_type: str) -> None:
    """The next InvokeEndpoint answer of the sandbox (moto's scripted results)."""
    requests.post(f"{cli.url}/moto-api/static/sagemaker/endpoint-results", timeout=10, json={
        "account_id": "123456789012", "region": REGION, "results": [{"Body": body, "ContentType": content_type}]})


# --- deploy --smoke ---------------------------------------------------------------------------------


def test_deploy_smoke_tests_what_it_created_and_fails_on_a_bad_answer(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    r = cli.run("deploy", "--yes", "--smoke")
    assert r.code == 0, r.text
    assert "smoke test prototype_model: Endpoint-ESMC-300M-1-" in r.err and "78 tokens" in r.err
    assert [(i.api, i.residues, i.outcome) for i in sandbox.invocations()] == [("encode", 76, "ok")]
    # Only what a run created or updated is tested: add a deployment, and break the next answer.
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text() + "  second:\n    selector: ESMC-300M\n")
    sandbox.quota_instances["ml.g5.2xlarge"] = 2  # the pre-deploy check counts the running one once: 1 + 1
    queue_answer(cli, "<html>502 Bad Gateway</html>", "text/html")
    r = cli.run("deploy", "--yes", "--smoke")
    assert r.code == 1 and "Traceback" not in r.text
    assert "smoke test second" in r.err and "answered with something that is not JSON (content type text/html" in r.err
    assert "smoke test prototype_model" not in r.err
    assert "The smoke test failed for second" in r.err
    assert state_of(cli)["deployments"]["second"]["endpoint"]["status"] == "InService"  # deployed all the same
    assert cli.run("deploy", "--yes", "--smoke", "--no-wait").code == 2
