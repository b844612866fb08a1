"""IAM patches: deletes that IAM refuses with DeleteConflict, so esmctl's cleanup order is tested.

- DeleteUser while the user still has a login profile, access keys, signing certificates, SSH
  keys, MFA devices, inline or attached policies, or group memberships → DeleteConflict (moto
  only checks policies).
- DeletePolicy while the policy is attached to a user, role or group, or still has non-default
  versions → DeleteConflict (moto deletes it).
- DeleteRole with attached or inline policies is already refused by moto.
Also a speed-up: AWS-managed policies (~1600 of them) are built for the `aws` partition only;
moto builds them for all six partitions on every reset, ~1 s per test, for partitions never used.
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.exceptions import DeleteConflictException
from moto.iam.models import AWSManagedPolicy, IAMBackend, ManagedPolicy
from moto.settings import load_iam_aws_managed_policies

from .patching import original, replace


@functools.cache
def _managed_policy_data() -> dict[str, Any]:
    return json.loads(aws_managed_policies_data)


def _init_aws_policies(self: IAMBackend) -> list[ManagedPolicy]:
    if not load_iam_aws_managed_policies() or self.region_name != "aws":
        return []
    return [
        AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
        for name, data in _managed_policy_data().items()
    ]


def _delete_user(self: IAMBackend, user_name: str) -> None:
    user = self.get_user(user_name)
    blockers = [
        (user.password is not None, "must delete login profile first"),
        (bool(user.access_keys), "must delete access keys first"),
        (bool(user.signing_certificates), "must delete signing certificates first"),
        (bool(user.ssh_public_keys), "must delete SSH public keys first"),
        (bool(user.mfa_devices), "must delete MFA device first"),
        (bool(user.policies), "must delete policies first"),
        (bool(user.managed_policies), "must detach all policies first"),
        (bool(self.get_groups_for_user(user_name)), "must remove users from group first"),
    ]
    for blocked, what in blockers:
        if blocked:
            raise DeleteConflictException(f"Cannot delete entity, {what}.")
    original(IAMBackend, "delete_user")(self, user_name)


def _is_attached(backend: IAMBackend, policy_arn: str) -> bool:
    holders: list[Any] = [*backend.users.values(), *backend.roles.values(), *backend.groups.values()]
    return any(policy_arn in holder.managed_policies for holder in holders)


def _delete_policy(self: IAMBackend, policy_arn: str) -> None:
    policy = self.get_policy(policy_arn)
    if _is_attached(self, policy.arn):
        raise DeleteConflictException("Cannot delete a policy attached to entities.")
    if len(policy.versions) > 1:
        raise DeleteConflictException(
            "This policy has more than one version. Before you delete a policy, you must delete the "
            "policy's versions. The default version is deleted with the policy."
        )
    original(IAMBackend, "delete_policy")(self, policy_arn)


def install() -> None:
    replace(IAMBackend, "_init_aws_policies", _init_aws_policies)
    replace(IAMBackend, "delete_user", _delete_user)
    replace(IAMBackend, "delete_policy", _delete_policy)
