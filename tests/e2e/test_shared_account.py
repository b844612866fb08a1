"""The shared service account: least-privilege key, secret kept out of the state, creds, rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Env, deploy

pytestmark = pytest.mark.e2e


def enable_shared(cli: Env, store: str = "secretsmanager") -> None:
    cli.example("basic_shared_user")
    if store != "secretsmanager":
        path = cli.folder / "esmctl.yaml"
        path.write_text(path.read_text().replace("secret_store: secretsmanager", f"secret_store: {store}"))


def secret_of(cli: Env) -> dict[str, str]:
    r = cli.run("creds", "--reveal", "--format", "json")
    assert r.code == 0, r.text
    return json.loads(r.out)


def policy_doc(cli: Env) -> dict[str, Any]:
    iam = cli.client("iam")
    arn = iam.list_attached_user_policies(UserName="esm-shared-invoke-dev")["AttachedPolicies"][0]["PolicyArn"]
    pol = iam.get_policy(PolicyArn=arn)["Policy"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
    return json.loads(doc) if isinstance(doc, str) else doc


def test_basic_shared_user_resources_and_no_secret_in_state(cli: Env) -> None:
    enable_shared(cli)
    deploy(cli)
    iam = cli.client("iam")
    user = iam.get_user(UserName="esm-shared-invoke-dev")["User"]
    assert {t["Key"]: t["Value"] for t in user["Tags"]}["esmctl:deployment"] == "-"
    (att,) = iam.list_attached_user_policies(UserName="esm-shared-invoke-dev")["AttachedPolicies"]
    assert att["PolicyName"] == "esm-shared-invoke-policy-dev-esm-shared-invoke-dev"
    pol = iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
    assert pol["Description"] == "Policy to allow invoking SageMaker endpoints"
    (stmt,) = policy_doc(cli)["Statement"]
    state = json.loads(cli.state_file.read_text())
    ep = state["deployments"]["prototype_model"]["endpoint"]["name"]
    assert stmt["Effect"] == "Allow"
    assert sorted(stmt["Action"]) == ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
    assert stmt["Resource"] == [f"arn:aws:sagemaker:us-east-2:123456789012:endpoint/{ep.lower()}"]
    (key,) = iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]

    creds = secret_of(cli)
    assert creds["aws_access_key_id"] == key["AccessKeyId"]
    secret = creds["aws_secret_access_key"]
    assert len(secret) >= 20
    for f in (cli.folder / "state").iterdir():
        assert secret not in f.read_text(), f
    sm_secret = cli.client("secretsmanager").get_secret_value(SecretId="esmctl/dev/esm-shared-invoke-dev")
    assert json.loads(sm_secret["SecretString"]) == {"aws_access_key_id": key["AccessKeyId"],
                                                     "aws_secret_access_key": secret}
    masked = cli.run("creds")
    assert secret not in masked.text and "****" + secret[-4:] in masked.out
    plan = cli.run("-v", "plan")
    assert secret not in plan.text

    out = json.loads(cli.run("output", "--json").out)
    assert out["shared_service_user_name"] == {"esm-shared-invoke-dev": "esm-shared-invoke-dev"}
    assert out["shared_service_user_access_key_id"] == {"esm-shared-invoke-dev": key["AccessKeyId"]}
    assert out["shared_service_user_secret_access_key"] == {"esm-shared-invoke-dev": "<sensitive>"}
    plain = cli.run("output")
    assert "shared_service_user_secret_access_key = <sensitive>" in plain.out and secret not in plain.text
    named = json.loads(cli.run("output", "--json", "shared_service_user_secret_access_key").out)
    assert named == {"esm-shared-invoke-dev": secret}
    env = cli.run("creds", "--reveal", "--format", "env").out
    assert f"export AWS_SECRET_ACCESS_KEY={secret}" in env and "export AWS_REGION=us-east-2" in env
    ini = cli.run("creds", "--reveal", "--format", "credentials").out
    assert ini.startswith("[esm-shared-dev]") and f"aws_secret_access_key = {secret}" in ini
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_local_secret_store_is_0600_and_outside_the_state(cli: Env) -> None:
    enable_shared(cli, "local")
    deploy(cli)
    secret_file = cli.folder / "state" / "dev.secret.json"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = json.loads(secret_file.read_text())["aws_secret_access_key"]
    assert secret not in cli.state_file.read_text()
    assert secret_of(cli)["aws_secret_access_key"] == secret
    assert cli.client("secretsmanager").list_secrets()["SecretList"] == []


def test_iam_enforcement_allows_only_this_environments_endpoints(cli: Env, sandbox: Any, sandbox_server: Any) -> None:
    enable_shared(cli)
    deploy(cli)
    sandbox.role_propagation_seconds = sandbox.config_lookup_seconds = 0  # direct calls, no retries
    sandbox.creating_seconds = 0  # the other endpoint below is InService as soon as it is made
    cli.client("iam").create_role(RoleName="x", AssumeRolePolicyDocument="{}")
    sm = cli.client("sagemaker")
    # Another endpoint in the same account that esmctl did not make.
    sm.create_model(ModelName="Other-Model", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                    PrimaryContainer={"Image": "x"})
    sm.create_endpoint_config(EndpointConfigName="Other-Config", ProductionVariants=[{
        "VariantName": "v", "ModelName": "Other-Model", "InitialInstanceCount": 1,
        "InstanceType": "ml.g5.2xlarge"}])
    sm.create_endpoint(EndpointName="Other-Endpoint", EndpointConfigName="Other-Config")
    assert sm.describe_endpoint(EndpointName="Other-Endpoint")["EndpointStatus"] == "InService"
    creds = secret_of(cli)
    ep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]["endpoint"]["name"]
    body = json.dumps({"model": "esmc-300m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1",
                       "endpoint": "encode", "encode": {"model": "esmc-300m-2024-12",
                                                        "inputs": {"sequence": "MKTAYIAK"},
                                                        "potential_sequence_of_concern": False}})
    import boto3
    shared = boto3.Session(aws_access_key_id=creds["aws_access_key_id"],
                           aws_secret_access_key=creds["aws_secret_access_key"], region_name="us-east-2")
    rt = shared.client("sagemaker-runtime", endpoint_url=cli.url)
    shared_sm = shared.client("sagemaker", endpoint_url=cli.url)
    requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        resp = rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=body)
        assert json.loads(resp["Body"].read())["endpoint"] == "encode"
        for call in (lambda: rt.invoke_endpoint(EndpointName="Other-Endpoint", ContentType="application/json",
                                                Body=body),
                     lambda: shared_sm.delete_endpoint(EndpointName=ep),
                     lambda: shared_sm.describe_endpoint(EndpointName=ep)):
            with pytest.raises(Exception) as e:
                call()
            assert "AccessDenied" in str(e.value) or "not authorized" in str(e.value)
    finally:
        requests.post(f"{sandbox_server.url}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_policy_follows_deployments_and_never_exceeds_five_versions(cli: Env) -> None:
    enable_shared(cli)
    deploy(cli)
    path = cli.folder / "esmctl.yaml"
    base = path.read_text()
    extra = ["  second:\n    selector: ESMC-300M\n", "  third:\n    selector: ESMC-300M\n"]
    iam = cli.client("iam")
    for i in range(6):  # add, add, remove, remove, add, add ...
        text = base + "".join(extra[: [1, 2, 1, 0, 1, 2][i]])
        path.write_text(text)
        deploy(cli)
        doc = policy_doc(cli)
        state = json.loads(cli.state_file.read_text())
        eps = sorted(f"arn:aws:sagemaker:us-east-2:123456789012:endpoint/{d['endpoint']['name'].lower()}"
                     for d in state["deployments"].values())
        assert sorted(doc["Statement"][0]["Resource"]) == eps
        arn = iam.list_attached_user_policies(UserName="esm-shared-invoke-dev")["AttachedPolicies"][0]["PolicyArn"]
        assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) <= 5


def test_rotate_leaves_one_new_key(cli: Env) -> None:
    enable_shared(cli)
    deploy(cli)
    before = secret_of(cli)
    r = cli.run("creds", "rotate", "--yes")
    assert r.code == 0, r.text
    after = secret_of(cli)
    assert after["aws_access_key_id"] != before["aws_access_key_id"]
    assert after["aws_secret_access_key"] != before["aws_secret_access_key"]
    keys = cli.client("iam").list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [after["aws_access_key_id"]]
    assert after["aws_secret_access_key"] not in r.text
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_killed_rotate_is_repaired_by_the_next_run(cli: Env, sandbox: Any) -> None:
    enable_shared(cli)
    deploy(cli)
    iam = cli.client("iam")
    # What a rotate killed right after CreateAccessKey leaves: a second key whose secret was never stored.
    orphan = iam.create_access_key(UserName="esm-shared-invoke-dev")["AccessKey"]["AccessKeyId"]
    plan = cli.run("plan")
    assert f"- access key {orphan}" in plan.out
    r = cli.run("creds", "rotate", "--yes")
    assert r.code == 0, r.text
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]]
    assert keys == [secret_of(cli)["aws_access_key_id"]] and orphan not in keys
    # And a deploy converges the same way.
    orphan = iam.create_access_key(UserName="esm-shared-invoke-dev")["AccessKey"]["AccessKeyId"]
    deploy(cli)
    keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="esm-shared-invoke-dev")["AccessKeyMetadata"]]
    assert len(keys) == 1 and orphan not in keys


def test_disabling_removes_user_key_policy_and_secret(cli: Env) -> None:
    enable_shared(cli)
    deploy(cli)
    path = cli.folder / "esmctl.yaml"
    path.write_text(path.read_text().replace("enable_shared_service_account: true",
                                             "enable_shared_service_account: false"))
    r = cli.run("deploy", "--yes")
    assert r.code == 0 and "DeleteConflict" not in r.text, r.text
    iam = cli.client("iam")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == []
    assert [p for p in iam.list_policies(Scope="Local")["Policies"]] == []
    assert cli.client("secretsmanager").list_secrets()["SecretList"] == []
    assert json.loads(cli.state_file.read_text())["shared_account"] is None
    assert cli.run("creds").code == 1
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_destroy_with_shared_account(cli: Env) -> None:
    enable_shared(cli)
    deploy(cli)
    r = cli.run("destroy", "--yes")
    assert r.code == 0, r.text
    iam = cli.client("iam")
    assert iam.list_users()["Users"] == [] and iam.list_roles()["Roles"] == []
    assert cli.client("secretsmanager").list_secrets()["SecretList"] == []


