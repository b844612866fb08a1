"""The whole lifecycle through the real `esmctl` command against the sandbox server."""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import pytest

from tests.e2e.conftest import AtRequest, Env, deploy

pytestmark = pytest.mark.e2e

PKG = ("arn:aws:sagemaker:us-east-2:057799348421:model-package/"
       "esmc-300m-2024-12-6ad677e3dc243fb1b56e5787b7f93b53")


def tagged(cli: Env) -> dict[str, list[str]]:
    """Every SageMaker resource and IAM role in the account that carries esmctl's tags."""
    sm, iam = cli.client("sagemaker"), cli.client("iam")
    out: dict[str, list[str]] = {"model": [], "endpoint_config": [], "endpoint": [], "role": []}
    for kind, op, key, name_key, arn_key in (
        ("model", "list_models", "Models", "ModelName", "ModelArn"),
        ("endpoint_config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn"),
        ("endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn"),
    ):
        for page in sm.get_paginator(op).paginate():
            for r in page[key]:
                tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=r[arn_key])["Tags"]}
                if tags.get("esmctl:environment") == "dev":
                    out[kind].append(r[name_key])
    for r in iam.list_roles()["Roles"]:
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=r["RoleName"])["Tags"]}
        if tags.get("esmctl:environment") == "dev":
            out["role"].append(r["RoleName"])
    return {k: sorted(v) for k, v in out.items()}


def recorded(cli: Env) -> dict[str, list[str]]:
    """The same sets, as the state file lists them (what it records as existing)."""
    doc = cli.state_doc()
    out: dict[str, list[str]] = {"model": [], "endpoint_config": [], "endpoint": [], "role": []}
    if doc.get("role") and doc["role"]["created"]:
        out["role"].append(doc["role"]["name"])
    for dep in doc["deployments"].values():
        for kind in ("model", "endpoint_config", "endpoint"):
            if dep.get(kind) and dep[kind]["created"]:
                out[kind].append(dep[kind]["name"])
        for r in dep["retired"]:
            out[r["kind"]].append(r["name"])
        if dep.get("stop_schedule"):  # a stop timer's role (tagged as the deployment's), recorded before creation
            out["role"].append(dep["stop_schedule"]["role_name"])
        # office hours' roles (esmctl/resources/office_hours.py), recorded before creation
        out["role"] += (dep.get("records", {}).get("office_hours") or {}).get("roles", {}).values()
    return {k: sorted(v) for k, v in out.items()}


def test_multi_model_deploy_exact_names_properties_and_outputs(cli: Env) -> None:
    assert cli.run("init", "--example", "multi_model").code == 0
    r = deploy(cli)
    assert "Plan: 8 to add, 0 to change, 0 to destroy." in r.err
    sm, iam = cli.client("sagemaker"), cli.client("iam")
    state = json.loads(cli.state_file.read_text())

    role = iam.get_role(RoleName="esm-sagemaker-exec-dev")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"
    attached = iam.list_attached_role_policies(RoleName="esm-sagemaker-exec-dev")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"]

    for name, itype in (("prototype_model", "ml.g5.2xlarge"), ("performance_model", "ml.g5.4xlarge")):
        suffix = state["deployments"][name]["suffix"]
        assert len(suffix) == 8 and int(suffix, 16) >= 0
        model = sm.describe_model(ModelName=f"Model-ESMC-300M-1-{suffix}")
        assert model["ExecutionRoleArn"] == role["Arn"]
        assert model["EnableNetworkIsolation"] is True
        assert model["PrimaryContainer"]["ModelPackageName"] == PKG
        cfg = sm.describe_endpoint_config(EndpointConfigName=f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}")
        (variant,) = cfg["ProductionVariants"]
        assert variant["VariantName"] == "variant-1"
        assert variant["ModelName"] == f"Model-ESMC-300M-1-{suffix}"
        assert (variant["InstanceType"], variant["InitialInstanceCount"]) == (itype, 1)
        assert variant["InitialVariantWeight"] == 1
        assert variant["ModelDataDownloadTimeoutInSeconds"] == 3600
        ep = sm.describe_endpoint(EndpointName=f"Endpoint-ESMC-300M-1-{suffix}")
        assert ep["EndpointStatus"] == "InService"
        assert ep["EndpointConfigName"] == f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}"
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=ep["EndpointArn"])["Tags"]}
        assert tags == {"Environment": "dev", "Project": "esm-partner", "esmctl:environment": "dev",
                        "esmctl:deployment": name}

    out = cli.run("output", "--json")
    assert out.code == 0, out.text
    doc = json.loads(out.out)
    assert set(doc) == {"sagemaker_endpoints", "sagemaker_execution_role", "shared_service_user_name",
                        "shared_service_user_access_key_id", "shared_service_user_secret_access_key"}
    proto = doc["sagemaker_endpoints"]["prototype_model"]
    suffix = state["deployments"]["prototype_model"]["suffix"]
    assert proto == {
        "endpoint_config_name": f"EndpointConfig-Endpoint-ESMC-300M-1-{suffix}",
        "endpoint_name": f"Endpoint-ESMC-300M-1-{suffix}",
        "endpoint_url": f"https://runtime.sagemaker.us-east-2.amazonaws.com/endpoints/Endpoint-ESMC-300M-1-{suffix}/invocations",
        "forge_model_name": "esmc-300m-2024-12",
    }
    assert doc["sagemaker_execution_role"] == "esm-sagemaker-exec-dev"
    assert cli.run("plan", "--detailed-exitcode").code == 0
    assert tagged(cli) == recorded(cli)


def test_update_keeps_endpoint_name_removal_and_destroy(cli: Env) -> None:
    cli.example("multi_model")
    deploy(cli)
    sm = cli.client("sagemaker")
    before = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    ep_name, old_cfg = before["endpoint"]["name"], before["endpoint_config"]["name"]

    text = (cli.folder / "esmctl.yaml").read_text()
    (cli.folder / "esmctl.yaml").write_text(text.replace("instance_type: ml.g5.2xlarge", "instance_type: ml.g5.xlarge"))
    p = cli.run("plan", "--detailed-exitcode")
    assert p.code == 2 and "Plan: 1 to add, 1 to change, 1 to destroy." in p.out, p.text
    deploy(cli)
    ep = sm.describe_endpoint(EndpointName=ep_name)
    assert ep["EndpointStatus"] == "InService"
    assert ep["EndpointConfigName"] != old_cfg
    new_cfg = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert new_cfg["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    assert new_cfg["EndpointConfigName"].startswith("EndpointConfig-Endpoint-ESMC-300M-1-")
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_endpoint_config(EndpointConfigName=old_cfg)
    assert cli.run("plan", "--detailed-exitcode").code == 0
    out = json.loads(cli.run("output", "--json", "sagemaker_endpoints").out)
    assert out["prototype_model"]["endpoint_name"] == ep_name

    # Removing a deployment deletes its three resources.
    perf = json.loads(cli.state_file.read_text())["deployments"]["performance_model"]
    text = (cli.folder / "esmctl.yaml").read_text()
    (cli.folder / "esmctl.yaml").write_text(text.split("  performance_model:")[0])
    deploy(cli)
    for call, key in ((sm.describe_endpoint, "EndpointName"), (sm.describe_endpoint_config, "EndpointConfigName"),
                      (sm.describe_model, "ModelName")):
        kind = {"EndpointName": "endpoint", "EndpointConfigName": "endpoint_config", "ModelName": "model"}[key]
        with pytest.raises(sm.exceptions.ClientError):
            call(**{key: perf[kind]["name"]})
    assert "performance_model" not in json.loads(cli.state_file.read_text())["deployments"]
    assert tagged(cli) == recorded(cli)

    r = cli.run("destroy", "--yes")
    assert r.code == 0, r.text
    assert tagged(cli) == {"model": [], "endpoint_config": [], "endpoint": [], "role": []}
    assert json.loads(cli.state_file.read_text())["deployments"] == {}


def test_rolled_back_update_keeps_old_config_and_exits_1(cli: Env, sandbox: Any) -> None:
    cli.example("basic")
    deploy(cli)
    dep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    sandbox.rollback_next_update(dep["endpoint"]["name"])
    text = (cli.folder / "esmctl.yaml").read_text()
    (cli.folder / "esmctl.yaml").write_text(text.replace("ml.g5.2xlarge", "ml.g5.4xlarge"))
    r = cli.run("deploy", "--yes")
    assert r.code == 1
    assert "rolled the update" in r.err and dep["endpoint_config"]["name"] in r.err
    sm = cli.client("sagemaker")
    ep = sm.describe_endpoint(EndpointName=dep["endpoint"]["name"])
    assert ep["EndpointConfigName"] == dep["endpoint_config"]["name"]
    sm.describe_endpoint_config(EndpointConfigName=dep["endpoint_config"]["name"])  # still there
    assert tagged(cli) == recorded(cli)
    # The next deploy tries the update again and succeeds.
    deploy(cli)
    assert sm.describe_endpoint(EndpointName=dep["endpoint"]["name"])["EndpointConfigName"] != \
        dep["endpoint_config"]["name"]
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_failed_endpoint_reports_reason_and_is_recreated(cli: Env, sandbox: Any) -> None:
    cli.example("multi_model")
    p = cli.run("plan", "--json")
    assert p.code == 0, p.text
    r = cli.run("deploy", "--yes", "--target", "prototype_model")
    assert r.code == 0, r.text
    dep = json.loads(cli.state_file.read_text())["deployments"]["prototype_model"]
    # The next endpoint created under that name fails.
    cli.client("sagemaker").delete_endpoint(EndpointName=dep["endpoint"]["name"])
    sandbox.fail_endpoint(dep["endpoint"]["name"], "The primary container for production variant variant-1 "
                          "did not pass the ping health check.")
    r = cli.run("deploy", "--yes")
    assert r.code == 1
    assert "did not pass the ping health check" in r.err
    assert f"/aws/sagemaker/Endpoints/{dep['endpoint']['name']}" in r.err
    st = json.loads(cli.state_file.read_text())["deployments"]
    assert st["performance_model"]["endpoint"]["status"] == "InService"  # the other one kept going
    drift = cli.run("refresh")
    assert "Failed" in drift.err
    plan = cli.run("plan")
    assert "-/+ prototype_model: endpoint" in plan.out
    deploy(cli)
    assert cli.client("sagemaker").describe_endpoint(EndpointName=dep["endpoint"]["name"])["EndpointStatus"] == \
        "InService"
    assert cli.run("plan", "--detailed-exitcode").code == 0


def test_killed_deploy_is_finished_by_the_next(cli: Env, sandbox: Any) -> None:
    cli.example("multi_model")
    procs: list[Any] = []
    started = threading.Event()

    def kill() -> None:
        started.wait(60)
        procs[0].send_signal(signal.SIGKILL)

    # SIGKILL the run right after the sandbox served its first CreateEndpoint (the other endpoint's
    # create may or may not have been sent): no waiting on a clock, the kill point is the request.
    at = AtRequest("sagemaker", "CreateEndpoint", then=kill)
    sandbox.request_hook = at
    p = cli.popen("deploy", "--yes")
    procs.append(p)
    started.set()
    at.wait()
    p.communicate(timeout=60)
    sandbox.request_hook = None
    assert p.returncode == -signal.SIGKILL
    sandbox.creating_seconds = 0.2
    assert (cli.folder / "state" / "dev.lock").exists()  # a SIGKILL leaves the lock behind
    r = deploy(cli)
    assert "stale lock" in r.err
    got = tagged(cli)
    assert got == recorded(cli)
    assert len(got["endpoint"]) == 2 and len(got["model"]) == 2 and len(got["endpoint_config"]) == 2
    assert cli.run("plan", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("yaml_text, expect", [
    ("selected_models:\n  m:\n    selector: ESMC-3000M\n", "unknown selector 'ESMC-3000M'"),
    ("selected_model:\n  m:\n    selector: ESMC-300M\n", "did you mean 'selected_models'"),
    ("selected_models:\n  m:\n    selector: ESMC-300M\n    instance_count: 0\n", "must be at least 1"),
    ("region: eu-west-1\nselected_models:\n  m:\n    selector: ESMC-300M\n", "is in us-east-2 but region is eu-west-1"),
    ("selected_models:\n  m: [\n", "YAML syntax error"),
])
def test_bad_config_changes_nothing(cli: Env, yaml_text: str, expect: str) -> None:
    cli.example("basic")
    (cli.folder / "esmctl.yaml").write_text(yaml_text)
    r = cli.run("deploy", "--yes")
    assert r.code == 1
    assert expect in r.err and "Traceback" not in r.text
    assert len(r.err.splitlines()) < 25  # one screen
    assert not cli.state_file.exists()
    assert cli.client("sagemaker").list_models()["Models"] == []


def test_corrupt_state_is_refused(cli: Env) -> None:
    cli.example("basic")
    deploy(cli)
    cli.state_file.write_text('{"version": 1, "serial": ')
    r = cli.run("deploy", "--yes")
    assert r.code == 1 and "dev.json.backup" in r.err and "Traceback" not in r.text
    assert cli.state_file.read_text() == '{"version": 1, "serial": '


def test_held_lock_fails_at_once_naming_the_holder(cli: Env) -> None:
    cli.example("basic")
    lock = cli.folder / "state" / "dev.lock"
    lock.parent.mkdir()
    holder = os.getpid()  # a live holder on this host: the test itself
    lock.write_text(json.dumps({"pid": holder, "host": __import__("socket").gethostname(),
                                "command": "esmctl deploy --yes", "since": "2026-11-27T10:00:00Z"}))
    r = cli.run("deploy", "--yes")
    assert r.code == 1
    assert f"pid {holder}" in r.err and "esmctl deploy --yes" in r.err
    assert cli.run("plan").code == 0  # plan needs no lock
    assert cli.run("unlock").code == 1  # holder alive
    assert cli.run("unlock", "--force").code == 0
    assert not lock.exists()


def test_non_interactive_deploy_without_yes_refuses(cli: Env) -> None:
    cli.example("basic")
    r = cli.run("deploy")
    assert r.code == 1 and "--yes" in r.err
    assert cli.client("sagemaker").list_models()["Models"] == []
    assert cli.client("iam").list_roles()["Roles"] == []
