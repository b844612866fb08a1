"""`esmctl permissions`: the policy is derived from what the handlers declare, scoped to this
environment's names, and follows the configuration (offline; the lifecycle test in
tests/e2e/test_permissions.py checks it against what AWS actually served)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from esmctl import config, permissions, resources
from esmctl.state import DeploymentState, EndpointRecord, State


def _cfg(project: Path, *, shared: bool, extra: str = "") -> config.Config:
    path = project / "esmctl.yaml"
    text = path.read_text().replace("enable_shared_service_account: false",
                                    f"enable_shared_service_account: {'true' if shared else 'false'}")
    path.write_text(text + extra)
    return config.load(path)


def allowed(doc: dict, action: str, arn: str) -> bool:
    """Whether some statement allows `action` on `arn` (IAM's wildcard matching, case-sensitive)."""
    for s in doc["Statement"]:
        res = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if action in s["Action"] and any(fnmatch.fnmatchcase(arn, r) for r in res):
            return True
    return False


def test_the_policy_is_a_valid_document_of_every_declared_action(project: Path) -> None:
    cfg = _cfg(project, shared=True)
    doc = permissions.policy(cfg, None, "all")
    assert doc["Version"] == "2012-10-17" and json.loads(json.dumps(doc)) == doc
    assert len({s["Sid"] for s in doc["Statement"]}) == len(doc["Statement"])
    assert all(s["Effect"] == "Allow" and s["Action"] and s["Resource"] for s in doc["Statement"])
    declared = {a for h in resources.REGISTRY.values() for a in h.iam}
    granted = {a for s in doc["Statement"] for a in s["Action"]}
    assert declared <= granted
    # doctor simulates exactly these actions
    from esmctl.doctor import needed_actions
    assert set(needed_actions(cfg)) == granted


def test_resources_are_this_environments_names(project: Path) -> None:
    cfg = _cfg(project, shared=True)
    st = State(region="us-east-2", environment="dev", account_id="123456789012")
    st.deployments["prototype_model"] = DeploymentState(
        selector="ESMC-300M", suffix="2df2c3dd", forge_model_name="esmc-300m-2024-12",
        endpoint=EndpointRecord(name="Endpoint-ESMC-300M-1-2df2c3dd", created=True))
    doc = permissions.policy(cfg, st, "all")
    ep = "arn:aws:sagemaker:us-east-2:123456789012:endpoint/endpoint-esmc-300m-1-2df2c3dd"
    assert allowed(doc, "sagemaker:CreateEndpoint", ep) and allowed(doc, "sagemaker:InvokeEndpoint", ep)
    other = "arn:aws:sagemaker:us-east-2:123456789012:endpoint/someone-elses-endpoint"
    assert not allowed(doc, "sagemaker:DeleteEndpoint", other)
    assert allowed(doc, "iam:PassRole", "arn:aws:iam::123456789012:role/esm-sagemaker-exec-dev")
    assert not allowed(doc, "iam:PassRole", "arn:aws:iam::123456789012:role/admin")
    assert allowed(doc, "iam:CreateRole", "arn:aws:iam::123456789012:role/esm-stop-dev-2df2c3dd")
    assert allowed(doc, "scheduler:CreateSchedule",
                   "arn:aws:scheduler:us-east-2:123456789012:schedule/default/esmctl-dev-prototype_model-stop")
    assert allowed(doc, "iam:CreateAccessKey", "arn:aws:iam::123456789012:user/esm-shared-invoke-dev")
    assert allowed(doc, "secretsmanager:PutSecretValue",
                   "arn:aws:secretsmanager:us-east-2:123456789012:secret:esmctl/dev/esm-shared-invoke-dev-AbCdEf")
    assert allowed(doc, "sagemaker:ListEndpoints", "*")  # List* has no resource-level permissions


def test_scopes_and_settings_decide_what_is_in_it(project: Path) -> None:
    cfg = _cfg(project, shared=False)
    deploy = permissions.actions(cfg, "deploy")
    assert "iam:CreateUser" not in deploy and "secretsmanager:CreateSecret" not in deploy
    assert "sagemaker:CreateModel" in deploy and not any(a.startswith("s3:") for a in deploy)
    invoke = permissions.actions(cfg, "invoke")
    assert "sagemaker:InvokeEndpoint" in invoke and "sagemaker:CreateEndpoint" not in invoke
    assert "iam:SimulatePrincipalPolicy" in permissions.actions(cfg, "all")
    remote = _cfg(project, shared=True, extra="state: s3://team-state/esm/\n")
    doc = permissions.policy(remote, None, "deploy")
    assert allowed(doc, "s3:PutObject", "arn:aws:s3:::team-state/esm/dev.json")
    assert allowed(doc, "s3:PutObject", "arn:aws:s3:::team-state/esm/dev.lock")
    assert not allowed(doc, "s3:PutObject", "arn:aws:s3:::team-state/other/dev.json")
    with pytest.raises(ValueError):
        permissions.policy(cfg, None, "admin")


def test_the_policy_fits_an_inline_role_policy(project: Path) -> None:
    """IAM: an inline role policy may hold 10,240 characters (whitespace not counted)."""
    cfg = _cfg(project, shared=True, extra="state: s3://team-state/esm/\n")
    doc = json.dumps(permissions.policy(cfg, None, "all"), separators=(",", ":"))
    assert len(doc) < 10_240
