"""esmctl against the sandbox's real-AWS behaviours: eventual consistency, the Marketplace
subscription, IAM's policy size limit and endpoints that end UpdateRollbackFailed or OutOfService.
See docs/aws-behaviour.md for each behaviour and its source."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import Env, deploy

pytestmark = pytest.mark.e2e
DELAY = 10.0  # seconds IAM and SageMaker keep refusing a just-made role / endpoint config (acceptance 1)


def _slow_aws(sandbox: Any) -> None:
    sandbox.role_propagation_seconds = DELAY
    sandbox.config_lookup_seconds = DELAY
    sandbox.key_propagation_seconds = 3.0
    sandbox.secret_deletion_seconds = 3.0


def test_first_deploy_with_shared_user_waits_for_iam_then_destroy_and_redeploy(cli: Env, sandbox: Any) -> None:
    _slow_aws(sandbox)
    cli.example("basic_shared_user")
    calls: list[str] = []
    sandbox.request_hook = lambda info: calls.append(info.operation) if info.from_esmctl else None
    r = deploy(cli)
    assert "Waiting for IAM to let SageMaker assume the execution role" in r.err
    assert "Waiting for SageMaker to find the endpoint config" in r.err
    state = cli.state_doc()
    assert state["deployments"]["prototype_model"]["endpoint"]["status"] == "InService"
    # The role was made once: the retry re-sent CreateModel, it did not delete and re-create the role.
    assert calls.count("CreateRole") == 1 and "DeleteRole" not in calls and calls.count("CreateModel") > 1
    sandbox.request_hook = None

    assert cli.run("destroy", "--yes").code == 0
    sandbox.secret_deletion_seconds = DELAY  # CreateSecret comes a second or two after DeleteSecret: refused
    r = cli.run("deploy", "--yes")  # at once: the secret's name is still being deleted, the role is new again
    assert r.code == 0, r.text
    assert "Waiting for Secrets Manager to finish deleting the old secret" in r.err
    creds = json.loads(cli.run("creds", "--reveal", "--format", "json").out)
    stored = json.loads(cli.client("secretsmanager").get_secret_value(
        SecretId="esmctl/dev/esm-shared-invoke-dev")["SecretString"])
    assert stored["aws_access_key_id"] == creds["aws_access_key_id"]
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_first_deploy_with_ttl_waits_for_both_roles(cli: Env, sandbox: Any) -> None:
    _slow_aws(sandbox)
    cli.example("multi_model")
    r = deploy(cli, "--ttl", "2h")
    assert "Waiting for IAM to let EventBridge Scheduler assume the stop timer's role" in r.err
    schedules = cli.client("scheduler").list_schedules()["Schedules"]
    assert len(schedules) == 2
    iam = cli.client("iam")
    roles = [x["RoleName"] for x in iam.list_roles()["Roles"] if "-stop-" in x["RoleName"]]
    assert len(roles) == 2
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_rotate_waits_for_the_new_key(cli: Env, sandbox: Any) -> None:
    cli.example("basic_shared_user")
    deploy(cli)
    sandbox.key_propagation_seconds = 3.0
    r = cli.run("creds", "rotate", "--yes")
    assert r.code == 0, r.text
    assert "Waiting for IAM to accept the new access key" in r.err
    assert len(cli.client("iam").list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]) == 1


def test_unsubscribed_account_never_reads_subscribed_and_deploy_creates_nothing_billable(
        cli: Env, sandbox: Any) -> None:
    cli.example("multi_model")
    sandbox.subscribed = False
    r = cli.run("doctor", "--json")
    doc = json.loads(r.out)
    subs = [f for f in doc["findings"] if f["name"].startswith("subscription")]
    assert subs and all(f["level"] != "ok" and "not verified" in f["message"] for f in subs), subs

    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "Traceback" not in r.text
    assert "not subscribed" in r.err and "Subscribe in AWS Marketplace" in r.err
    sm = cli.client("sagemaker")
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []

    # Now an execution role exists: doctor verifies with a probe model and says so plainly.
    r = cli.run("doctor", "--json")
    subs = [f for f in json.loads(r.out)["findings"] if f["name"].startswith("subscription")]
    assert subs and all(f["level"] == "error" and "not subscribed" in f["message"] for f in subs), subs
    assert r.code == 1
    sandbox.subscribed = True
    r = cli.run("doctor", "--json")
    subs = [f for f in json.loads(r.out)["findings"] if f["name"].startswith("subscription")]
    assert subs and all(f["level"] == "ok" and f["message"].startswith("subscribed (verified") for f in subs)
    assert not [m for m in sm.list_models()["Models"] if m["ModelName"].startswith("esmctl-probe-")]
    deploy(cli)


def test_one_unsubscribed_package_stops_every_deployment_before_anything_billable(cli: Env, sandbox: Any) -> None:
    cli.example("multi_model")
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("  performance_model:\n    selector: ESMC-300M",
                                             "  performance_model:\n    selector: ESMC-600M"))
    sandbox.unsubscribed_packages.add("arn:aws:sagemaker:us-east-2:057799348421:model-package/esmc-600m-EXAMPLE")
    r = cli.run("deploy", "--yes")
    assert r.code == 1, r.text
    assert "Stopped before creating any endpoint config or endpoint (nothing billable was made) for " \
           "prototype_model" in r.err
    sm = cli.client("sagemaker")
    # performance_model's model came first, alone, and was refused: nothing else was created
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == [] and sm.list_endpoints()["Endpoints"] == []
    sandbox.unsubscribed_packages.clear()
    deploy(cli)  # once subscribed, the same run picks up where it stopped


def _many(cli: Env, n: int, environment: str = "dev") -> None:
    cli.example("basic_shared_user")
    path = cli.folder / "esmctl.yaml"
    text = path.read_text().replace("environment: dev", f"environment: {environment}")
    head, _, _ = text.partition("selected_models:")
    path.write_text(head + "selected_models:\n" + "".join(f"  m{i:03d}:\n    selector: ESMC-300M\n"
                                                          for i in range(n)))


def test_200_deployments_invoke_policy_fits_iam_and_stays_scoped(cli: Env, sandbox: Any, sandbox_server: Any,
                                                                tmp_path: Any) -> None:
    sandbox.creating_seconds = 0.0
    sandbox.rate_limits = {}  # 600 creates: the rate limits are measured in benchmarks/, not here
    other = Env(tmp_path / "other", cli.url)
    other.folder.mkdir()
    other.example("basic")
    (other.folder / "esmctl.yaml").write_text((other.folder / "esmctl.yaml").read_text().replace(
        "environment: dev", "environment: other").replace("iam_role_name_prefix: esm", "iam_role_name_prefix: oth"))
    deploy(other)
    foreign = json.loads((other.folder / "state" / "other.json").read_text())[
        "deployments"]["prototype_model"]["endpoint"]["name"]

    _many(cli, 200)
    r = cli.run("deploy", "--yes", timeout=600)
    assert r.code == 0, r.text[-3000:]
    iam = cli.client("iam")
    attached = iam.list_attached_user_policies(UserName="esm-shared-invoke-dev")["AttachedPolicies"]
    assert len(attached) >= 3  # ~70 endpoint ARNs fit in one 6,144-character policy
    allowed: list[str] = []
    for p in attached:
        pol = iam.get_policy(PolicyArn=p["PolicyArn"])["Policy"]
        doc = iam.get_policy_version(PolicyArn=p["PolicyArn"], VersionId=pol["DefaultVersionId"])
        text = doc["PolicyVersion"]["Document"]
        text = text if isinstance(text, str) else json.dumps(text)
        assert len("".join(text.split())) <= 6144
        allowed += json.loads(text)["Statement"][0]["Resource"]
    names = [d["endpoint"]["name"] for d in cli.state_doc()["deployments"].values()]
    assert sorted(allowed) == sorted(f"arn:aws:sagemaker:us-east-2:123456789012:endpoint/{n.lower()}"
                                     for n in names)
    assert cli.run("plan", "--detailed-exitcode").code == 0

    creds = json.loads(cli.run("creds", "--reveal", "--format", "json").out)
    shared = boto3.Session(aws_access_key_id=creds["aws_access_key_id"],
                           aws_secret_access_key=creds["aws_secret_access_key"], region_name="us-east-2")
    rt = shared.client("sagemaker-runtime", endpoint_url=cli.url)
    body = json.dumps({"model": "esmc-300m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1",
                       "endpoint": "encode", "encode": {"model": "esmc-300m-2024-12",
                                                        "inputs": {"sequence": "MKTAYIAK"}}})
    requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        for name in (names[0], names[100], names[-1]):  # one endpoint from each policy
            resp = rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=body)
            assert json.loads(resp["Body"].read())["endpoint"] == "encode"
        with pytest.raises(Exception) as e:
            rt.invoke_endpoint(EndpointName=foreign, ContentType="application/json", Body=body)
        assert "AccessDenied" in str(e.value) or "not authorized" in str(e.value)
    finally:
        requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"inf", timeout=10)

    # Fewer endpoints: the policies no longer needed are detached and deleted.
    _many(cli, 5)
    r = cli.run("deploy", "--yes", timeout=600)
    assert r.code == 0, r.text[-3000:]
    assert len(iam.list_attached_user_policies(UserName="esm-shared-invoke-dev")["AttachedPolicies"]) == 1
    assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]
            if p["PolicyName"].startswith("esm-shared-invoke-policy-dev")] == [
        "esm-shared-invoke-policy-dev-esm-shared-invoke-dev"]


def test_update_rollback_failed_is_reported_and_repaired_by_deploy(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("instance_type: ml.g5.2xlarge", "instance_type: ml.g5.4xlarge"))
    ep = cli.state_doc()["deployments"]["prototype_model"]["endpoint"]["name"]
    sandbox.fail_update_rollback(ep)
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "Traceback" not in r.text and "Internal error" not in r.text
    assert "UpdateRollbackFailed" in r.err and "esmctl deploy` updates it again" in r.err
    r = cli.run("deploy", "--yes")
    assert r.code == 0, r.text
    desc = cli.client("sagemaker").describe_endpoint(EndpointName=ep)
    assert desc["EndpointStatus"] == "InService"
    assert desc["EndpointConfigName"] == cli.state_doc()["deployments"]["prototype_model"]["endpoint_config"]["name"]


def test_out_of_service_endpoint_is_replaced_by_deploy(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    ep = cli.state_doc()["deployments"]["prototype_model"]["endpoint"]["name"]
    sandbox.put_out_of_service(ep)
    plan = cli.run("plan")
    assert "-/+" in plan.out and "OutOfService" in plan.out
    deploy(cli)
    assert cli.client("sagemaker").describe_endpoint(EndpointName=ep)["EndpointStatus"] == "InService"
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_wait_timeout_inside_a_replacement_is_an_error_with_the_next_step(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    ep = cli.state_doc()["deployments"]["prototype_model"]["endpoint"]["name"]
    sandbox.put_out_of_service(ep)
    sandbox.deleting_seconds = 30  # the replacement's delete outlasts --timeout
    r = cli.run("deploy", "--yes", "--timeout", "1")
    assert r.code == 1 and "Internal error" not in r.text and "Traceback" not in r.text
    assert "Still waiting after 1 s" in r.err and "esmctl deploy` again" in r.err


def test_html_bad_gateway_is_retried_then_reported(cli: Env, sandbox: Any) -> None:
    from esmctl.sandbox.faults import FaultError

    cli.example("basic")
    calls = {"n": 0}

    def proxy(info: Any) -> Any:
        if info.operation == "ListEndpoints" and info.from_esmctl:
            calls["n"] += 1
            return FaultError(502, "BadGateway", html=True)
        return None

    sandbox.request_hook = proxy
    r = cli.run("plan", env={"AWS_MAX_ATTEMPTS": "3"})  # the AWS SDKs' variable; esmctl's default is 8
    assert r.code == 1 and "Traceback" not in r.text and "Internal error" not in r.text
    assert "sagemaker:ListEndpoints failed: 502" in r.err
    assert calls["n"] == 3, "a 5xx answer is retried, as many times as asked"
