"""The least-privilege IAM policy a person or CI role needs to run esmctl for one configuration.

Built from declarations, not written by hand: every handler in esmctl/resources/ lists the IAM
actions it calls and what each is scoped to, every kind lists what its observation reads, and the
calls outside the plan (the state backend, doctor, invoke, `stop --idle-for`, prices) are listed
below next to the module that makes them. Resources are this environment's names where AWS allows
it; List*, GetMetricData, GetProducts and the quotas have no resource-level permissions ("*").

Scopes: `deploy` (plan, deploy, stop/start, timers, destroy, refresh, status, creds, the state),
`invoke` (calling the endpoints through esmctl), `all` (both, and doctor, idle detection, prices).
`esmctl doctor` simulates exactly the actions of `all`; tests/e2e/test_permissions.py runs the
whole lifecycle on the sandbox and fails when it served an action this policy does not allow.
Offline: no AWS call (the account is the state's, or "*").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from esmctl import naming, resources
from esmctl.resources import stop_timer
from esmctl.resources._base import Scope
from esmctl.secrets import secret_name
from esmctl.state import S3Url

if TYPE_CHECKING:
    from esmctl.config import Config
    from esmctl.state import State

SCOPES = ("deploy", "invoke", "all")

# --- calls outside the plan ----------------------------------------------------------------------
# esmctl/remote.py: the state and its lock as S3 objects (conditional writes; versioning checked).
STATE_S3: dict[str, Scope] = {"s3:GetObject": "state-object", "s3:PutObject": "state-object",
                              "s3:DeleteObject": "state-object", "s3:ListBucket": "state-bucket",
                              "s3:GetBucketVersioning": "state-bucket"}
STATE_S3_READ: dict[str, Scope] = {"s3:GetObject": "state-object", "s3:ListBucket": "state-bucket"}
# api/deploy.py refresh: which resources lost esmctl's tags (ListTags per resource).
REFRESH: dict[str, Scope] = {"sagemaker:ListTags": "sagemaker"}
# doctor.py: the checks `deploy` runs first (subscription, quotas) and doctor's own (the free probe
# model, the permission simulation).
PREFLIGHT: dict[str, Scope] = {"sagemaker:DescribeModelPackage": "model-package",
                               "servicequotas:ListServiceQuotas": "any",
                               "servicequotas:ListAWSDefaultServiceQuotas": "any"}
DOCTOR: dict[str, Scope] = {"sagemaker:CreateModel": "probe-model", "sagemaker:DeleteModel": "probe-model",
                            "sagemaker:ListModels": "any", "iam:PassRole": "execution-role",
                            "iam:GetRole": "execution-role", "iam:SimulatePrincipalPolicy": "any"}
# invoke.py: a Forge request to a deployment's endpoint (as the caller, or as the shared user).
INVOKE: dict[str, Scope] = {"sagemaker:InvokeEndpoint": "endpoint", "sagemaker:DescribeEndpoint": "endpoint",
                            "secretsmanager:GetSecretValue": "secret"}
# api/report.py `stop --idle-for`, metrics.py: invocations per endpoint.
IDLE: dict[str, Scope] = {"cloudwatch:GetMetricData": "any"}
# api `prices refresh`: the Price List API.
PRICES: dict[str, Scope] = {"pricing:GetProducts": "any"}

_SID = {"model": "Models", "endpoint-config": "EndpointConfigs", "endpoint": "Endpoints",
        "sagemaker": "TagsOfModelsConfigsEndpoints", "model-package": "ModelPackages",
        "probe-model": "DoctorProbeModels", "execution-role": "ExecutionRole", "timer-role": "StopTimerRoles",
        "schedule": "StopTimers", "user": "SharedUser", "invoke-policy": "SharedUserPolicies",
        "secret": "SharedUserSecret", "state-bucket": "StateBucket", "state-object": "StateObjects",
        "kms": "StateKmsKey", "any": "NoResourceLevelPermissions"}


def needed(config: Config, scope: str = "all") -> dict[str, set[str]]:
    """IAM action → the scopes (kinds of resource) it is needed on, for this configuration."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    parts: list[dict[str, Scope]] = []
    remote = isinstance(config.state_location, S3Url)
    if scope in ("deploy", "all"):
        handlers = [h for h in resources.REGISTRY.values() if _applies(h.spec.kind(), config)]
        parts += [h.iam for h in handlers] + [resources.READS, REFRESH, PREFLIGHT]
        if remote:
            parts.append(STATE_S3)
    if scope in ("invoke", "all"):
        parts.append(INVOKE)
        if remote:
            parts.append(STATE_S3_READ)
    if scope == "all":
        parts += [DOCTOR, IDLE, PRICES]
    out: dict[str, set[str]] = {}
    for part in parts:
        for action, where in part.items():
            if action.startswith("secretsmanager:") and config.settings.secret_store != "secretsmanager":
                continue
            out.setdefault(action, set()).add(where)
    if remote and config.settings.state_kms_key and scope in ("deploy", "all"):  # SSE-KMS (PutObject reference)
        out["kms:GenerateDataKey"] = {"kms"}
        out["kms:Decrypt"] = {"kms"}
    return out


def _applies(kind: str, config: Config) -> bool:
    """Whether this configuration uses a kind at all (no shared-user rights without a shared user)."""
    if kind == "shared_user":
        return config.settings.enable_shared_service_account
    if kind == "role":
        return config.creates_role
    return True


def actions(config: Config, scope: str = "all") -> list[str]:
    return sorted(needed(config, scope))


def policy(config: Config, state: State | None = None, scope: str = "all") -> dict[str, Any]:
    """The policy document: one statement per kind of resource, its actions on this environment's ARNs."""
    account = (state.account_id if state else "") or "*"
    arns = _resources(config, state, account)
    by_where: dict[str, set[str]] = {}
    for action, wheres in needed(config, scope).items():
        for where in wheres:
            by_where.setdefault(where, set()).add(action)
    statements = []
    for where in sorted(by_where, key=lambda w: list(_SID).index(w)):
        resource = arns.get(where) or ["*"]
        statements.append({"Sid": _SID[where], "Effect": "Allow", "Action": sorted(by_where[where]),
                           "Resource": resource if len(resource) > 1 else resource[0]})
    return {"Version": "2012-10-17", "Statement": statements}


def _resources(config: Config, state: State | None, account: str) -> dict[str, list[str]]:
    region, env = config.region, config.environment
    part = naming.partition(region)

    def sm(kind: str, names: Iterable[str]) -> list[str]:
        return sorted({naming.sagemaker_arn(region, account, kind, n) for n in names})

    deps = list(config.deployments.values())
    recorded = list(state.deployments.values()) if state else []
    models = [f"{d.sagemaker_model_name}-*" for d in deps] + [d.model.name for d in recorded if d.model] + [
        r.name for d in recorded for r in d.retired if r.kind == "model"]
    configs = [naming.endpoint_config_name(d.endpoint_name, "*") for d in deps] + [
        d.endpoint_config.name for d in recorded if d.endpoint_config] + [
        r.name for d in recorded for r in d.retired if r.kind == "endpoint_config"]
    endpoints = [naming.endpoint_name(d.endpoint_name, "*") for d in deps] + [
        d.endpoint.name for d in recorded if d.endpoint]
    role = config.settings.execution_role_arn or f"arn:{part}:iam::{account}:role/{config.role_name}"
    timer_role = f"{config.settings.iam_role_name_prefix}-stop-{env}-"  # stop_timer.role_name's start
    schedule = f"esmctl-{env}-"  # stop_timer.schedule_name's start
    out = {
        "model": sm("model", models),
        "probe-model": sm("model", ["esmctl-probe-*"]),
        "endpoint-config": sm("endpoint-config", configs),
        "endpoint": sm("endpoint", endpoints),
        "model-package": sorted({d.model_package for d in deps}),
        "execution-role": [role],
        "timer-role": [f"arn:{part}:iam::{account}:role/{_prefix(timer_role, naming.IAM_ROLE_MAX)}*"],
        "schedule": [f"arn:{part}:scheduler:{region}:{account}:schedule/default/"
                     f"{_prefix(schedule, stop_timer.SCHEDULE_NAME_MAX)}*"],
        "user": [f"arn:{part}:iam::{account}:user/{config.shared_user_name}"],
        "invoke-policy": [naming.iam_policy_arn(region, account, config.shared_policy_name),
                          naming.iam_policy_arn(region, account, config.shared_policy_name + "-*")],
        "secret": [f"arn:{part}:secretsmanager:{region}:{account}:secret:"
                   f"{secret_name(env, config.shared_user_name)}-*"],
    }
    out["sagemaker"] = out["model"] + out["endpoint-config"] + out["endpoint"]
    loc = config.state_location
    if isinstance(loc, S3Url):
        out["state-bucket"] = [f"arn:{part}:s3:::{loc.bucket}"]
        out["state-object"] = [f"arn:{part}:s3:::{loc.bucket}/{loc.prefix}{env}*"]
        if config.settings.state_kms_key:
            out["kms"] = [config.settings.state_kms_key if config.settings.state_kms_key.startswith("arn:")
                          else f"arn:{part}:kms:{region}:{account}:key/{config.settings.state_kms_key}"]
    return out


def _prefix(stem: str, limit: int) -> str:
    """What every generated name starting with `stem` starts with: a name too long for `limit` keeps
    only its first characters before its hash (stop_timer._fit)."""
    return stem[: limit - stop_timer.HASH_CHARS - 1]
