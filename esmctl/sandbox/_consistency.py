"""Eventual consistency: what AWS refuses for a few seconds after a change (moto is consistent at once).

See docs/aws-behaviour.md. Each delay is a `control` knob (0 turns it off); times are
time.monotonic(), compared with the knob's current value when the later call arrives.
- A new IAM role (`role_propagation_seconds`): SageMaker CreateModel with it as ExecutionRoleArn
  answers ValidationException "Could not assume role <arn>. Please ensure that the role exists and
  allows principal 'sagemaker.amazonaws.com' to assume the role." (the check is called by
  _sagemaker.py), Scheduler CreateSchedule/UpdateSchedule with it as Target.RoleArn answers
  ValidationException "The execution role you provide must allow AWS EventBridge Scheduler to
  assume the role.". A role that does not exist gets the same answers. Sources:
  terraform-provider-aws internal/service/sagemaker/model.go (retries CreateModel on
  ValidationException for 2 minutes) and internal/service/scheduler/retry.go
  (`retryWhenIAMNotPropagated`, that message, `iamPropagationTimeout = 2 * time.Minute`).
  The same wrappers first check the schedule's expression and time zone (_schedule_rules.py: moto
  accepts any), as CreateSchedule does.
- A new access key (`key_propagation_seconds`): requests signed with it are refused as with an
  unknown key (IAM User Guide, "Changes that I make are not always immediately visible"). The
  server refuses them in faults.FaultMiddleware; in-process `mock_aws` requests here, in moto's
  botocore stubber.
- A force-deleted secret (`secret_deletion_seconds`): "Secrets Manager performs the actual deletion
  with an asynchronous background process" (Secrets Manager API reference, DeleteSecret,
  ForceDeleteWithoutRecovery). Until it is gone the secret stays "scheduled for deletion":
  CreateSecret with its name → InvalidRequestException "You can't create this secret because a
  secret with this name is already scheduled for deletion."; GetSecretValue, PutSecretValue,
  UpdateSecret → InvalidRequestException "You can't perform this operation on the secret because it
  was marked for deletion." (both also for a secret in its recovery window, where moto answers
  ResourceExistsException or nothing). DescribeSecret answers with DeletedDate, as the
  DescribeSecret reference documents for a secret scheduled for deletion.
Imported only by `patching.apply_patches()`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from moto.core.botocore_stubber import BotocoreStubber
from moto.iam.models import AccessKey, IAMBackend, Role, iam_backends
from moto.scheduler.exceptions import ValidationException as SchedulerValidationException
from moto.scheduler.models import EventBridgeSchedulerBackend
from moto.secretsmanager.exceptions import InvalidRequestException
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

from . import faults
from ._schedule_rules import schedule_problem
from .control import control, lock
from .patching import original, replace

ROLE_CREATED = "_esmctl_created"  # attribute on moto's Role: time.monotonic() of its CreateRole
# arn:aws:iam::123456789012:role/name or ...:role/some/path/name
ROLE_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:.+/)?[^/]+$")
SCHEDULER_CANNOT_ASSUME = "The execution role you provide must allow AWS EventBridge Scheduler to assume the role."
SECRET_SCHEDULED = "You can't create this secret because a secret with this name is already scheduled for deletion."
SECRET_MARKED = "You can't perform this operation on the secret because it was marked for deletion."
_DELETED_AT = "_esmctl_secret_deletions"  # on a SecretsManagerBackend: secret name → time.monotonic() of its delete


def sagemaker_cannot_assume(role_arn: str) -> str:
    return (f"Could not assume role {role_arn}. Please ensure that the role exists and allows principal "
            "'sagemaker.amazonaws.com' to assume the role.")


# --------------------------------------------------------------------------------------------
# IAM roles


def _find_role(role_arn: str) -> Role | None:
    """The role with this ARN (any case), without creating IAM backends for unknown accounts."""
    match = ROLE_ARN.match(role_arn or "")
    if match is None:
        return None
    account = dict.get(iam_backends, match["account"])
    backend = dict.get(account, match["partition"]) if account is not None else None
    if backend is None:
        return None
    wanted = role_arn.lower()
    return next((role for role in list(backend.roles.values()) if role.arn.lower() == wanted), None)


def role_assumable(role_arn: str) -> bool:
    """Whether a service can assume `role_arn` now: the role exists and its CreateRole was at least
    `control.role_propagation_seconds` ago. Always true while that knob is 0 (the check is off)."""
    seconds = control.role_propagation_seconds
    if seconds <= 0:
        return True
    role = _find_role(role_arn)
    if role is None:
        return False
    created = role.__dict__.get(ROLE_CREATED)
    return created is None or time.monotonic() - created >= seconds


def _create_role(self: IAMBackend, *args: Any, **kwargs: Any) -> Role:
    """CreateRole, remembering when (a role deleted and re-created starts over)."""
    role: Role = original(IAMBackend, "create_role")(self, *args, **kwargs)
    setattr(role, ROLE_CREATED, time.monotonic())
    return role


def _check_schedule_role(target: Any) -> None:
    role_arn = target.get("RoleArn") if isinstance(target, dict) else None
    if isinstance(role_arn, str) and not role_assumable(role_arn):
        raise SchedulerValidationException(SCHEDULER_CANNOT_ASSUME)


def _check_schedule_expression(kwargs: dict[str, Any]) -> None:
    """The expression and time zone EventBridge Scheduler accepts (moto accepts any): _schedule_rules.py."""
    problem = schedule_problem(kwargs.get("schedule_expression"), kwargs.get("schedule_expression_timezone"))
    if problem is not None:
        raise SchedulerValidationException(problem)


def _create_schedule(self: EventBridgeSchedulerBackend, *args: Any, **kwargs: Any) -> Any:
    _check_schedule_expression(kwargs)
    _check_schedule_role(kwargs.get("target"))
    return original(EventBridgeSchedulerBackend, "create_schedule")(self, *args, **kwargs)


def _update_schedule(self: EventBridgeSchedulerBackend, *args: Any, **kwargs: Any) -> Any:
    _check_schedule_expression(kwargs)
    _check_schedule_role(kwargs.get("target"))
    return original(EventBridgeSchedulerBackend, "update_schedule")(self, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# IAM access keys


def _create_access_key(self: IAMBackend, *args: Any, **kwargs: Any) -> AccessKey:
    key: AccessKey = original(IAMBackend, "create_access_key")(self, *args, **kwargs)
    control.note_access_key(key.access_key_id)
    return key


def _header(headers: Any, name: str) -> str:
    value = headers.get(name) if headers is not None else None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value or "")


def _stubber_process_request(self: BotocoreStubber, request: Any) -> Any:
    """moto's in-process request handler: a request signed with a new access key is refused first."""
    url = str(getattr(request, "url", "") or "")
    query = url.partition("?")[2]
    access_key, service = faults.credential_of(_header(request.headers, "Authorization"), query)
    if access_key and control.access_key_pending(access_key):
        headers = {"X-Amz-Target": _header(request.headers, "X-Amz-Target"),
                   "Content-Type": _header(request.headers, "Content-Type")}
        status, response_headers, body = faults.unknown_key_error(faults.protocol_of(headers, service, query), service)
        return status, dict(response_headers), body
    return original(BotocoreStubber, "process_request")(self, request)


# --------------------------------------------------------------------------------------------
# Secrets Manager: a force-deleted secret is gone only after control.secret_deletion_seconds


def _deletions(backend: SecretsManagerBackend) -> dict[str, float]:
    found: dict[str, float] | None = backend.__dict__.get(_DELETED_AT)
    if found is None:
        found = {}
        setattr(backend, _DELETED_AT, found)
    return found


def _purge(backend: SecretsManagerBackend) -> None:
    """Finish the force deletions whose time is up: the secret (and its name) are gone."""
    deletions = _deletions(backend)
    now = time.monotonic()
    for name, deleted in list(deletions.items()):
        if now - deleted >= control.secret_deletion_seconds:
            del deletions[name]
            dict.pop(backend.secrets, name, None)


def _marked(backend: SecretsManagerBackend, secret_id: Any) -> FakeSecret | None:
    secret = backend.secrets.get(secret_id) if isinstance(secret_id, str) and secret_id else None
    return secret if isinstance(secret, FakeSecret) and secret.is_deleted() else None


def _delete_secret(self: SecretsManagerBackend, *args: Any, **kwargs: Any) -> Any:
    """DeleteSecret; with ForceDeleteWithoutRecovery the secret stays marked for deletion a while."""
    with lock:
        _purge(self)
        secret = self.secrets.get(kwargs.get("secret_id") or (args[0] if args else ""))
        result = original(SecretsManagerBackend, "delete_secret")(self, *args, **kwargs)
        force = kwargs.get("force_delete_without_recovery", args[2] if len(args) > 2 else False)
        if force and isinstance(secret, FakeSecret) and control.secret_deletion_seconds > 0:
            if not secret.is_deleted():
                secret.delete(result[2])  # DeletedDate = now, as DeleteSecret answered
            self.secrets[secret.name] = secret  # back in until the background deletion is done
            _deletions(self).setdefault(secret.name, time.monotonic())
        return result


def _create_secret(self: SecretsManagerBackend, *args: Any, **kwargs: Any) -> Any:
    with lock:
        _purge(self)
        if _marked(self, kwargs.get("name")) is not None:
            raise InvalidRequestException(SECRET_SCHEDULED)
        return original(SecretsManagerBackend, "create_secret")(self, *args, **kwargs)


def _refuse_marked(name: str) -> Any:
    def wrapper(self: SecretsManagerBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            _purge(self)
            if _marked(self, kwargs.get("secret_id", args[0] if args else None)) is not None:
                raise InvalidRequestException(SECRET_MARKED)
            return original(SecretsManagerBackend, name)(self, *args, **kwargs)

    wrapper.__name__ = f"_{name}"
    return wrapper


def _purging(name: str) -> Any:
    def wrapper(self: SecretsManagerBackend, *args: Any, **kwargs: Any) -> Any:
        with lock:
            _purge(self)
            return original(SecretsManagerBackend, name)(self, *args, **kwargs)

    wrapper.__name__ = f"_{name}"
    return wrapper


def _restore_secret(self: SecretsManagerBackend, secret_id: str) -> Any:
    """A force-deleted secret cannot be restored while its deletion completes."""
    with lock:
        _purge(self)
        secret = self.secrets.get(secret_id)
        if isinstance(secret, FakeSecret) and secret.name in _deletions(self):
            raise InvalidRequestException(SECRET_MARKED)
        return original(SecretsManagerBackend, "restore_secret")(self, secret_id)


def install() -> None:
    replace(IAMBackend, "create_role", _create_role)
    replace(IAMBackend, "create_access_key", _create_access_key)
    replace(EventBridgeSchedulerBackend, "create_schedule", _create_schedule)
    replace(EventBridgeSchedulerBackend, "update_schedule", _update_schedule)
    replace(BotocoreStubber, "process_request", _stubber_process_request)
    replace(SecretsManagerBackend, "delete_secret", _delete_secret)
    replace(SecretsManagerBackend, "create_secret", _create_secret)
    for name in ("get_secret_value", "put_secret_value", "update_secret"):
        replace(SecretsManagerBackend, name, _refuse_marked(name))
    for name in ("describe_secret", "list_secrets"):
        replace(SecretsManagerBackend, name, _purging(name))
    replace(SecretsManagerBackend, "restore_secret", _restore_secret)
