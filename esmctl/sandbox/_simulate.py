"""IAM patch: SimulatePrincipalPolicy, evaluated with moto's own policy engine.

moto 5.2.5 does not implement it (in-process NotImplementedError; server: HTTP 500, which botocore
retries for a minute). Here it evaluates the principal's identity-based policies as IAM does for
that API: the user's inline and attached policies and those of its groups, or the role's; an
explicit Deny wins, then any Allow, else an implicit deny. Resources default to "*". Not modelled:
permissions boundaries, SCPs, resource policies, condition context keys.

The sandbox's default caller (moto's `user/moto` for a key IAM does not know) is no IAM user, yet
every call is allowed to it while IAM enforcement is off: it simulates as allowed for everything.
Any other principal that does not exist → NoSuchEntity, as IAM answers.
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import re
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.exceptions import NoSuchEntity, NotFoundException
from moto.iam.models import IAMBackend
from moto.iam.responses import IamResponse

from .patching import replace

# arn:aws:iam::123456789012:user/path/name, ...:role/name, ...:group/name; moto's caller identity
# for an unknown key is arn:aws:sts::ACCOUNT:user/moto.
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<kind>user|role|group)/"
                        r"(?:.*/)?(?P<name>[^/]+)$")
SANDBOX_CALLER = "moto"


def _policies(backend: IAMBackend, kind: str, name: str) -> list[IAMPolicy]:
    if kind == "user":
        user = backend.get_user(name)
        holders: list[Any] = [user, *backend.get_groups_for_user(name)]
    elif kind == "role":
        holders = [backend.get_role(name)]
    else:
        holders = [backend.get_group(name)]
    out = []
    for holder in holders:
        out += [IAMPolicy(doc) for doc in holder.policies.values()]
        out += [IAMPolicy(policy) for policy in holder.managed_policies.values()]
    return out


def _decide(policies: list[IAMPolicy], action: str, resource: str) -> str:
    results = [p.is_action_permitted(action, resource) for p in policies]
    if PermissionResult.DENIED in results:
        return "explicitDeny"
    return "allowed" if PermissionResult.PERMITTED in results else "implicitDeny"


def _simulate_principal_policy(self: IamResponse) -> ActionResult:
    source = str(self._get_param("PolicySourceArn") or "")
    actions = list(self._get_param("ActionNames") or [])
    resources = list(self._get_param("ResourceArns") or []) or ["*"]
    match = _PRINCIPAL.match(source)
    if match is None:
        raise NoSuchEntity(f"The principal {source} cannot be found.")
    backend: IAMBackend = self.backend
    try:
        policies: list[IAMPolicy] | None = _policies(backend, match["kind"], match["name"])
    except (NoSuchEntity, NotFoundException):
        if not (match["kind"] == "user" and match["name"] == SANDBOX_CALLER):
            raise
        policies = None  # the sandbox's default caller: everything is allowed to it
    results = []
    for action in actions:
        for resource in resources:
            decision = "allowed" if policies is None else _decide(policies, action, resource)
            results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
                            "MatchedStatements": [], "MissingContextValues": []})
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    replace(IamResponse, "simulate_principal_policy", _simulate_principal_policy)
