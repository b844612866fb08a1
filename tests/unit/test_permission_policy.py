"""`esmctl permissions`: the policy is derived from what the handlers declare, scoped to this
environment's names, and follows the configuration (offline; the lifecycle test in
tests/e2e/test_permissions.py checks it against what AWS actually served)."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from esmctl import config, permissions, resources
from esmctl.state import DeploymentState, EndpointRecord, SharedAccountRecord, State


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
    used = {m.__name__.rsplit(".", 1)[-1] for m in resources.KINDS
            if not hasattr(m, "applies") or m.applies(cfg, None)}
    declared = {a for h in resources.REGISTRY.values() if h.spec.kind() in used for a in h.iam}
    granted = {a for s in doc["Statement"] for a in s["Action"]}
    assert declared <= granted
    known = set(permissions._SID) | {"sagemaker"} | set(permissions.SCOPES_DECLARED)
    unknown = {(h.action, w) for h in resources.REGISTRY.values() for w in h.iam.values() if w not in known}
    assert not unknown, f"scoped to a kind of resource permissions.py does not know: {unknown}"
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
    assert not allowed(doc, "scheduler:CreateSchedule",  # another environment's ("dev-eu") timer
                       "arn:aws:scheduler:us-east-2:123456789012:schedule/default/esmctl-dev-eu-prototype_model-stop")
    assert not allowed(doc, "iam:CreateRole", "arn:aws:iam::123456789012:role/esm-stop-dev-eu-2df2c3dd")
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


def test_the_policy_fits_a_managed_policy_with_twenty_deployments(project: Path) -> None:
    """IAM: a managed policy may hold 6,144 characters (whitespace not counted); recorded names the
    configuration's patterns cover are not listed again."""
    cfg = _cfg(project, shared=True, extra="state: s3://team-state/esm/\n")
    st = State(region="us-east-2", environment="dev", account_id="123456789012")
    for i in range(20):
        st.deployments[f"d{i}"] = DeploymentState(
            selector="ESMC-300M", suffix=f"{i:08x}", forge_model_name="esmc-300m-2024-12",
            endpoint=EndpointRecord(name=f"Endpoint-ESMC-300M-1-{i:08x}", created=True))
    doc = json.dumps(permissions.policy(cfg, st, "all"), separators=(",", ":"))
    assert len(doc) < 6_144, len(doc)


def test_turning_features_off_keeps_the_rights_to_tear_them_down(project: Path) -> None:
    cfg = _cfg(project, shared=False)
    st = State(region="us-east-2", environment="dev", account_id="123456789012",
               shared_account=SharedAccountRecord(user_name="esm-shared-invoke-dev", user_created=True,
                                                  policy_name="esm-shared-invoke-policy-dev-esm-shared-invoke-dev"))
    assert "iam:DeleteUser" not in permissions.actions(cfg, "deploy")
    with_state = permissions.actions(cfg, "deploy", st)
    assert {"iam:DeleteUser", "iam:DeleteAccessKey", "iam:DetachUserPolicy", "iam:DeletePolicy",
            "secretsmanager:DeleteSecret"} <= set(with_state)


def test_passed_roles_and_the_attached_policy_are_conditioned(project: Path) -> None:
    doc = permissions.policy(_cfg(project, shared=True), None, "all", account="123456789012")
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ExecutionRolePassRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert by_sid["StopTimerRolesPassRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    assert by_sid["ExecutionRoleAttachRolePolicy"]["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"}}
    assert not any("iam:PassRole" in s["Action"] and "Condition" not in s for s in doc["Statement"])
    # the doctor's probe model is created with esmctl's tags
    assert allowed(doc, "sagemaker:AddTags", "arn:aws:sagemaker:us-east-2:123456789012:model/esmctl-probe-1a2b3c4d")


def test_a_kms_alias_is_granted_on_the_keys_with_that_alias(project: Path) -> None:
    cfg = _cfg(project, shared=True, extra="state: s3://team-state/esm/\nstate_kms_key: alias/esmctl-state\n")
    (kms,) = [s for s in permissions.policy(cfg, None, "deploy")["Statement"] if s["Sid"] == "StateKmsKey"]
    assert kms["Resource"] == "arn:aws:kms:us-east-2:*:key/*"
    assert kms["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/esmctl-state"}}
