"""Observe stage: what AWS reports now, read in bulk. The snapshot's shape lives here; each kind's
reading lives in its module (`read` in esmctl/resources/…; kinds added later: `observe` hooks).

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
    """Read everything the planner needs about this environment from AWS: each kind reads its own
    (`read` in its module of esmctl/resources/), one listing per kind."""
    from esmctl.resources import endpoint, endpoint_config, model, role, shared_user

    account = aws.account_id()
    return Observed(account, aws.region, model.read(aws), endpoint_config.read(aws), endpoint.read(aws, state),
                    role.read(aws, config, state), shared_user.read(aws, account, config, state),
                    _kinds("observe", aws, config, state))


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
