"""Observe stage: what AWS reports now, read in bulk.

One paginated List* call per resource kind (100 per page) instead of a Describe per resource;
`DescribeEndpoint` only for what List cannot tell (the config an endpoint runs on, while an update
may be pending, and the FailureReason of a failed endpoint). Names are compared case-insensitively,
as SageMaker does. This module never mutates anything and never imports boto3 itself: the typed
adapters come in as arguments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from esmctl import naming

if TYPE_CHECKING:
    from esmctl.aws import Aws
    from esmctl.config import Config
    from esmctl.state import State

# Endpoint statuses (DescribeEndpoint reference, EndpointStatus). An endpoint in SETTLED changes no
# more by itself; FAILED ones need esmctl: `Failed` and `OutOfService` are replaced, an
# `UpdateRollbackFailed` endpoint (both the update and its rollback failed; it serves on a mix of
# the old and new configs) is updated again, which is how AWS says to recover from it.
SETTLED = {"InService", "Failed", "OutOfService", "UpdateRollbackFailed"}
FAILED = {"Failed", "OutOfService", "UpdateRollbackFailed"}
BUSY = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


@dataclass(frozen=True)
class ObservedEndpoint:
    name: str
    arn: str
    status: str
    config_name: str | None = None  # None: not described in this refresh
    failure_reason: str = ""
    created: dt.datetime | None = None


@dataclass(frozen=True)
class ObservedRole:
    name: str
    arn: str
    policy_attached: bool
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedShared:
    """The shared user as IAM reports it, and which key id the secret store holds."""

    user_name: str
    user_arn: str = ""  # "" = no such user
    user_tags: dict[str, str] = field(default_factory=dict)
    policy_arn: str = ""  # "" = no such policy
    attached: bool = False
    keys: tuple[str, ...] = ()
    stored_key_id: str | None = None
    parts: dict[str, bool] = field(default_factory=dict)  # further invoke policies that exist → attached


@dataclass(frozen=True)
class Observed:
    """A snapshot of the account, keyed by lowercased name."""

    account_id: str
    region: str
    models: dict[str, str] = field(default_factory=dict)  # lower name -> arn
    configs: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, ObservedEndpoint] = field(default_factory=dict)
    role: ObservedRole | None = None
    shared: ObservedShared | None = None
    # What kinds added later read for themselves (their `observe` / `from_state` hooks), by kind.
    kinds: dict[str, Any] = field(default_factory=dict)

    def endpoint(self, name: str) -> ObservedEndpoint | None:
        return self.endpoints.get(name.lower())

    def has_model(self, name: str) -> bool:
        return name.lower() in self.models

    def has_config(self, name: str) -> bool:
        return name.lower() in self.configs


def observe(aws: Aws, config: Config | None, state: State | None) -> Observed:
    """Read everything the planner needs about this environment from AWS."""
    account = aws.account_id()
    sm = aws.sagemaker
    models = {m["ModelName"].lower(): m["ModelArn"] for m in sm.list_models()}
    configs = {c["EndpointConfigName"].lower(): c["EndpointConfigArn"] for c in sm.list_endpoint_configs()}
    endpoints: dict[str, ObservedEndpoint] = {}
    for e in sm.list_endpoints():
        endpoints[e["EndpointName"].lower()] = ObservedEndpoint(
            name=e["EndpointName"], arn=e["EndpointArn"], status=e["EndpointStatus"],
            created=e.get("CreationTime"),
        )
    for name in _to_describe(endpoints, state):
        d = sm.describe_endpoint(name)
        if d is not None:
            endpoints[name.lower()] = ObservedEndpoint(
                name=d["EndpointName"], arn=d["EndpointArn"], status=d["EndpointStatus"],
                config_name=d.get("EndpointConfigName"), failure_reason=d.get("FailureReason", ""),
                created=d.get("CreationTime"),
            )
    role = None
    role_name = _role_name(config, state)
    if role_name:
        r = aws.iam.get_role(role_name)
        if r is not None:
            attached = {p["PolicyArn"] for p in aws.iam.list_attached_role_policies(role_name)}
            role = ObservedRole(
                name=r["RoleName"], arn=r["Arn"], policy_attached=naming.managed_policy_arn(aws.region) in attached,
                tags={t["Key"]: t["Value"] for t in r.get("Tags", [])},
            )
    return Observed(account, aws.region, models, configs, endpoints, role,
                    _observe_shared(aws, account, config, state), _kinds("observe", aws, config, state))


def _observe_shared(aws: Aws, account: str, config: Config | None, state: State | None) -> ObservedShared | None:
    from esmctl import secrets

    rec = state.shared_account if state else None
    if rec is None and (config is None or not config.settings.enable_shared_service_account):
        return None
    if rec is not None:
        user, policy, store_kind = rec.user_name, rec.policy_name, rec.secret_store
    else:
        assert config is not None
        user = config.shared_user_name
        policy = config.shared_policy_name
        store_kind = config.settings.secret_store
    u = aws.iam.get_user(user)
    if u is None:
        return ObservedShared(user)
    policy_arn = naming.iam_policy_arn(aws.region, account, policy)
    attached = {p["PolicyArn"] for p in aws.iam.list_attached_user_policies(user)}
    exists = policy_arn in attached or aws.iam.get_policy(policy_arn) is not None
    parts: dict[str, bool] = {}  # the further invoke policies (policy_part_name): attached, or recorded
    for name in (arn.rsplit("/", 1)[-1] for arn in attached):
        if (naming.part_number(policy, name) or 1) > 1:
            parts[name] = True
    for part in rec.policy_parts if rec is not None else []:
        if part.name not in parts and aws.iam.get_policy(naming.iam_policy_arn(aws.region, account, part.name)):
            parts[part.name] = False
    stored = None
    if config is not None:
        doc = secrets.store_for(config, aws, store_kind, user).read()
        stored = (doc or {}).get("aws_access_key_id")
    return ObservedShared(
        user_name=user, user_arn=u["Arn"], user_tags={t["Key"]: t["Value"] for t in u.get("Tags", [])},
        policy_arn=policy_arn if exists else "", attached=policy_arn in attached,
        keys=tuple(k["AccessKeyId"] for k in aws.iam.list_access_keys(user)), stored_key_id=stored, parts=parts,
    )


def _role_name(config: Config | None, state: State | None) -> str | None:
    if state is not None and state.role is not None and state.role.created_by_esmctl:
        return state.role.name
    if config is not None and config.creates_role:
        return config.role_name
    return None


def _to_describe(endpoints: dict[str, ObservedEndpoint], state: State | None) -> list[str]:
    """Endpoints whose config or failure reason List cannot tell and the planner needs."""
    if state is None:
        return []
    out = []
    for dep in state.deployments.values():
        ep = dep.endpoint
        if ep is None or ep.name.lower() not in endpoints:
            continue
        seen = endpoints[ep.name.lower()]
        current = dep.endpoint_config.name if dep.endpoint_config else ""
        # A Creating endpoint runs the config it was created with (recorded): nothing to learn.
        if seen.status in FAILED or (seen.status in BUSY and seen.status != "Creating") \
                or ep.config_name.lower() != current.lower():
            out.append(ep.name)
    return out


def from_state(state: State | None, region: str) -> Observed:
    """What AWS would report if the state were exact (for `--no-refresh`)."""
    if state is None:
        return Observed(account_id="", region=region)
    models, configs, endpoints = {}, {}, {}
    for dep in state.deployments.values():
        if dep.model and dep.model.created:
            models[dep.model.name.lower()] = dep.model.arn
        if dep.endpoint_config and dep.endpoint_config.created:
            configs[dep.endpoint_config.name.lower()] = dep.endpoint_config.arn
        for r in dep.retired:
            (models if r.kind == "model" else configs)[r.name.lower()] = ""
        ep = dep.endpoint
        if ep and ep.created and dep.desired == "running":
            endpoints[ep.name.lower()] = ObservedEndpoint(
                ep.name, ep.arn, ep.status or "InService", ep.config_name or None, ep.failure_reason)
    role = None
    if state.role and state.role.created:
        role = ObservedRole(state.role.name, state.role.arn, state.role.policy_attached,
                            {naming.TAG_ENVIRONMENT: state.environment})
    shared = None
    rec = state.shared_account
    if rec is not None:
        key = (rec.access_key_id,) if rec.access_key_id else ()
        shared = ObservedShared(rec.user_name, rec.user_arn if rec.user_created else "",
                                {naming.TAG_ENVIRONMENT: state.environment},
                                rec.policy_arn if rec.policy_created else "", rec.policy_attached,
                                key, rec.access_key_id or None,
                                {p.name: p.attached for p in rec.policy_parts if p.created})
    return Observed(state.account_id, state.region, models, configs, endpoints, role, shared,
                    _kinds("from_state", state))


def _kinds(hook: str, *args: Any) -> dict[str, Any]:
    """Each kind that reads for itself (a module of esmctl/resources/ with this hook): what it read."""
    from esmctl import resources

    return {m.__name__.rsplit(".", 1)[-1]: getattr(m, hook)(*args) for m in resources.KINDS if hasattr(m, hook)}
