"""The least-privilege IAM policy a person or CI role needs to run esmctl for one configuration.

Built from declarations, not written by hand: every handler in esmctl/resources/ lists the IAM
actions it calls and what each is scoped to, every kind lists what its observation reads, and the
calls outside the plan (the state backend, doctor, invoke, `stop --idle-for`, prices) are listed
below next to the module that makes them. A kind counts when the configuration uses it or the state
still records it (so turning the shared user off leaves the rights to delete it). Resources are this
environment's names where AWS allows it; List*, GetMetricData, GetProducts and the quotas have no
resource-level permissions ("*").

Scopes: `deploy` (plan, deploy, stop/start, timers, idle stops, destroy, refresh, status, creds, the
state), `invoke` (calling the endpoints through esmctl), `all` (both, and doctor and prices).
`esmctl doctor` simulates exactly the statements of `all`, each on its own resources
(`simulations`); tests/e2e/test_permissions.py runs the whole lifecycle on the sandbox and fails
when it served an action this policy does not allow. Offline: no AWS call (the account is the
state's, or "*").

What it cannot narrow (docs/team.md): SageMaker names carry the catalog's names, not the
environment's, so two environments of one account with the same models share name patterns; and
the timer roles esmctl creates (`<prefix>-stop-<environment>-…`) are roles with an inline policy,
so whoever may create them holds a privileged policy, as with any deploy role.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from esmctl import naming, resources
from esmctl.resources import stop_timer
from esmctl.resources._base import PASSED_TO as PASSED_TO_DECLARED
from esmctl.resources._base import SCOPES as SCOPES_DECLARED
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
# model, created with esmctl's tags and deleted at once; the permission simulation).
PREFLIGHT: dict[str, Scope] = {"sagemaker:DescribeModelPackage": "model-package",
                               "servicequotas:ListServiceQuotas": "any",
                               "servicequotas:ListAWSDefaultServiceQuotas": "any"}
DOCTOR: dict[str, Scope] = {"sagemaker:CreateModel": "probe-model", "sagemaker:AddTags": "probe-model",
                            "sagemaker:DeleteModel": "probe-model", "sagemaker:ListModels": "any",
                            "iam:PassRole": "execution-role", "iam:GetRole": "execution-role",
                            "iam:SimulatePrincipalPolicy": "any"}
# invoke.py: a Forge request to a deployment's endpoint (as the caller, or as the shared user).
INVOKE: dict[str, Scope] = {"sagemaker:InvokeEndpoint": "endpoint", "sagemaker:DescribeEndpoint": "endpoint",
                            "secretsmanager:GetSecretValue": "secret"}
# api/idle.py `stop --idle-for`, metrics.py: invocations per endpoint.
IDLE: dict[str, Scope] = {"cloudwatch:GetMetricData": "any"}
# api/setup.py `prices refresh`: the Price List API.
PRICES: dict[str, Scope] = {"pricing:GetProducts": "any"}

# Conditions that narrow an action to what esmctl does with it (IAM User Guide: iam:PassedToService,
# iam:PolicyARN condition keys); each such action gets a statement of its own.
_PASSED_TO = {"execution-role": "sagemaker.amazonaws.com", "timer-role": "scheduler.amazonaws.com"}

_SID = {"model": "Models", "endpoint-config": "EndpointConfigs", "endpoint": "Endpoints",
        "model-package": "ModelPackages", "probe-model": "DoctorProbeModels", "execution-role": "ExecutionRole",
        "timer-role": "StopTimerRoles", "schedule": "StopTimers", "user": "SharedUser",
        "invoke-policy": "SharedUserPolicies", "secret": "SharedUserSecret", "state-bucket": "StateBucket",
        "state-object": "StateObjects", "kms": "StateKmsKey", "any": "NoResourceLevelPermissions"}
_SAGEMAKER = ("model", "endpoint-config", "endpoint")  # what "sagemaker" (any of them) stands for
EXACT_SCHEDULES = 10  # up to this many deployments, the stop timers' schedules are named one by one


def needed(config: Config, scope: str = "all", state: State | None = None) -> dict[str, set[str]]:
    """IAM action → the kinds of resource it is needed on, for this configuration (and state)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    parts: list[dict[str, Scope]] = []
    remote = isinstance(config.state_location, S3Url)
    if scope in ("deploy", "all"):
        used = {m.__name__.rsplit(".", 1)[-1] for m in resources.KINDS
                if not hasattr(m, "applies") or m.applies(config, state)}
        parts += [h.iam for h in resources.REGISTRY.values() if h.spec.kind() in used]
        parts += [resources.READS.get(k, {}) for k in sorted(used)] + [REFRESH, PREFLIGHT, IDLE]
        if remote:
            parts.append(STATE_S3)
    if scope in ("invoke", "all"):
        parts.append(INVOKE)
        if remote:
            parts.append(STATE_S3_READ)
    if scope == "all":
        parts += [DOCTOR, PRICES]
    secretsmanager = config.settings.secret_store == "secretsmanager" or bool(
        state and state.shared_account and state.shared_account.secret_store == "secretsmanager")
    out: dict[str, set[str]] = {}
    for part in parts:
        for action, where in part.items():
            if action.startswith("secretsmanager:") and not secretsmanager:
                continue
            for w in (_SAGEMAKER if where == "sagemaker" else (where,)):
                out.setdefault(action, set()).add(w)
    if remote and config.settings.state_kms_key and scope in ("deploy", "all"):  # SSE-KMS (PutObject reference)
        out["kms:GenerateDataKey"] = {"kms"}
        out["kms:Decrypt"] = {"kms"}
    return out


def actions(config: Config, scope: str = "all", state: State | None = None) -> list[str]:
    return sorted(needed(config, scope, state))


def policy(config: Config, state: State | None = None, scope: str = "all", account: str = "") -> dict[str, Any]:
    """The policy document: one statement per kind of resource, its actions on this environment's ARNs
    (plus one per conditioned action)."""
    account = account or (state.account_id if state else "") or "*"
    arns = _resources(config, state, account)
    part = naming.partition(config.region)
    arns |= {name: fn(config, state, account, part) for name, (_, fn) in SCOPES_DECLARED.items()}
    sids = _SID | {name: sid for name, (sid, _) in SCOPES_DECLARED.items()}
    by_where: dict[str, set[str]] = {}
    for action, wheres in needed(config, scope, state).items():
        for where in wheres:
            by_where.setdefault(where, set()).add(action)
    statements = []
    for where in sorted(by_where, key=lambda w: list(sids).index(w)):
        resource = arns.get(where) or ["*"]
        acts = by_where[where]
        for action, condition in _conditions(where, config).items():
            if action in acts:
                acts = acts - {action}
                sid = sids[where] + action.split(":")[1]
                statements.append(_statement(sid, [action], resource, condition))
        if acts:
            statements.append(_statement(sids[where], sorted(acts), resource, _kms_condition(where, config)))
    return {"Version": "2012-10-17", "Statement": statements}


def simulations(doc: dict[str, Any]) -> list[tuple[list[str], list[str]]]:
    """(actions, resource ARNs) to simulate for each statement: a concrete name in place of each
    wildcard, so a policy scoped to this environment's names is judged on them (IAM's
    SimulatePrincipalPolicy uses Resource "*" when none is given, which a scoped policy does not allow)."""
    out = []
    for s in doc["Statement"]:
        res = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        concrete = ["*" if r == "*" else r.replace("*", "esmctl").replace("?", "x") for r in res]
        out.append((list(s["Action"]), concrete))
    return out


def _statement(sid: str, acts: list[str], resource: list[str], condition: dict[str, Any] | None) -> dict[str, Any]:
    st: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": acts,
                          "Resource": resource if len(resource) > 1 else resource[0]}
    if condition:
        st["Condition"] = condition
    return st


def _conditions(where: str, config: Config) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    passed_to = _PASSED_TO | PASSED_TO_DECLARED
    if where in passed_to:
        out["iam:PassRole"] = {"StringEquals": {"iam:PassedToService": passed_to[where]}}
    if where == "execution-role":
        managed = naming.managed_policy_arn(config.region)
        out["iam:AttachRolePolicy"] = {"ArnEquals": {"iam:PolicyARN": managed}}
        out["iam:DetachRolePolicy"] = {"ArnEquals": {"iam:PolicyARN": managed}}
    return out


def _kms_condition(where: str, config: Config) -> dict[str, Any] | None:
    """A key named by an alias: any key, as long as it has that alias (KMS evaluates the key's ARN,
    never the alias's; kms:ResourceAliases condition key)."""
    key = config.settings.state_kms_key
    if where != "kms" or "alias/" not in key:
        return None
    return {"ForAnyValue:StringEquals": {"kms:ResourceAliases": key[key.index("alias/"):]}}


def _resources(config: Config, state: State | None, account: str) -> dict[str, list[str]]:
    region, env = config.region, config.environment
    part = naming.partition(region)

    def sm(kind: str, patterns: list[str], recorded: Iterable[str]) -> list[str]:
        """The patterns, and the recorded names they do not cover (a deployment no longer selected)."""
        names = patterns + [n for n in recorded if not any(fnmatch.fnmatchcase(n.lower(), p.lower())
                                                           for p in patterns)]
        return sorted({naming.sagemaker_arn(region, account, kind, n) for n in names})

    deps = list(config.deployments.values())
    rec = list(state.deployments.values()) if state else []
    models = sm("model", [f"{d.sagemaker_model_name}-*" for d in deps],
                [d.model.name for d in rec if d.model] + [r.name for d in rec for r in d.retired if r.kind == "model"])
    configs = sm("endpoint-config", [naming.endpoint_config_name(d.endpoint_name, "*") for d in deps],
                 [d.endpoint_config.name for d in rec if d.endpoint_config]
                 + [r.name for d in rec for r in d.retired if r.kind == "endpoint_config"])
    endpoints = sm("endpoint", [naming.endpoint_name(d.endpoint_name, "*") for d in deps],
                   [d.endpoint.name for d in rec if d.endpoint])
    role = config.settings.execution_role_arn or f"arn:{part}:iam::{account}:role/{config.role_name}"
    roles = sorted({role} | ({f"arn:{part}:iam::{account}:role/{state.role.name}"} if state and state.role else set()))
    user = state.shared_account.user_name if state and state.shared_account else config.shared_user_name
    users = sorted({config.shared_user_name, user})
    policies = sorted({config.shared_policy_name} | (
        {state.shared_account.policy_name} if state and state.shared_account else set()))
    # Each timer's exact name while there are few (a pattern would also match an environment whose name
    # starts with this one's and a "-"); beyond EXACT_SCHEDULES, the pattern keeps the policy small.
    deployments = sorted(set(config.deployments) | set(state.deployments if state else {}))
    schedules = [stop_timer.schedule_name(env, d) for d in deployments] if len(deployments) <= EXACT_SCHEDULES \
        else [f"esmctl-{env}-*"]
    out = {
        "model": models,
        "probe-model": [naming.sagemaker_arn(region, account, "model", "esmctl-probe-*")],
        "endpoint-config": configs,
        "endpoint": endpoints,
        "model-package": sorted({d.model_package for d in deps}),
        "execution-role": roles,
        "timer-role": [f"arn:{part}:iam::{account}:role/"
                       f"{stop_timer.role_name_pattern(config.settings.iam_role_name_prefix, env)}"],
        "schedule": [f"arn:{part}:scheduler:{region}:{account}:schedule/default/{n}" for n in schedules],
        "user": [f"arn:{part}:iam::{account}:user/{u}" for u in users],
        "invoke-policy": [naming.iam_policy_arn(region, account, p + s) for p in policies for s in ("", "-*")],
        # a secret's ARN ends in "-" and six random characters (Secrets Manager API reference, "Secret ARN")
        "secret": [f"arn:{part}:secretsmanager:{region}:{account}:secret:{secret_name(env, u)}-??????"
                   for u in users],
    }
    loc = config.state_location
    if isinstance(loc, S3Url):
        out["state-bucket"] = [f"arn:{part}:s3:::{loc.bucket}"]
        out["state-object"] = [f"arn:{part}:s3:::{loc.bucket}/{loc.prefix}{env}.*"]
        key = config.settings.state_kms_key
        if key:
            out["kms"] = [f"arn:{part}:kms:{region}:{account}:key/*" if "alias/" in key else
                          key if key.startswith("arn:") else f"arn:{part}:kms:{region}:{account}:key/{key}"]
    return out


__all__ = ["SCOPES", "actions", "needed", "policy", "simulations"]
