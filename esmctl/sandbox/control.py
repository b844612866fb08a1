"""The sandbox's knobs: endpoint timings and failures, AWS's eventual consistency, limits, rate limits.

One module-level `control` is read by the patched moto on every request, so tests (and `esmctl
demo`) running in the same process as the sandbox change its behaviour by assigning attributes.
By default the sandbox behaves like AWS (delays, limits and throttling included); each behaviour
has a knob to turn it off, listed on `SandboxControl`, and docs/aws-behaviour.md says where each
comes from. Everything here is plain Python: importing this module imports neither moto nor boto3.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

# One re-entrant lock guards the sandbox's mutable state: this control object and the lifecycle
# bookkeeping the patches attach to moto's endpoints. The sandbox server is threaded.
lock = threading.RLock()

# What SageMaker reports when a model container never becomes healthy: the most common reason a
# real endpoint ends up `Failed`.
DEFAULT_FAILURE_REASON = (
    "The primary container for production variant variant-1 did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)
# What an endpoint shows after SageMaker rolled an update back: InService, on the old config.
ROLLBACK_FAILURE_REASON = (
    "Unable to update endpoint: the primary container for production variant variant-1 did not pass "
    "the ping health check. The endpoint was rolled back to its previous endpoint configuration."
)
# What an endpoint shows when both the update and its automatic rollback failed (the status is
# `UpdateRollbackFailed`: "in service with a mix of the old and new endpoint configurations",
# DescribeEndpoint API reference, EndpointStatus). The wording is the sandbox's own.
UPDATE_ROLLBACK_FAILED_REASON = (
    "Unable to update endpoint: the primary container for production variant variant-1 did not pass "
    "the ping health check, and rolling back to the previous endpoint configuration failed."
)
# Control-plane rate limits per service and API family: (requests per second, burst). AWS throttles
# every API per account and region ("ThrottlingException ... Rate exceeded", AWS re:Post Knowledge
# Center "sagemaker-python-throttlingexception") but publishes no numbers for SageMaker's or IAM's
# control plane: these defaults are the sandbox's (a few mutating calls a second, more reads), so a
# tool that fires dozens of calls at once without backoff is throttled here as it would be there.
DEFAULT_RATE_LIMITS: dict[str, tuple[float, float]] = {"mutate": (5.0, 20.0), "read": (20.0, 50.0)}


def _env_seconds(name: str, default: float | None) -> float | None:
    """A duration in seconds from the environment, or `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {raw!r}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    """A switch from the environment: "false"/"0"/"no"/"off" → False, "true"/"1"/"yes"/"on" → True."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def parse_rate_limits(raw: str) -> dict[str, tuple[float, float]]:
    """`"off"` → {}; `"mutate=5:20,read=20:50"` → {"mutate": (5.0, 20.0), "read": (20.0, 50.0)}.

    A family not listed is not limited.
    """
    text = raw.strip().lower()
    if text in ("off", "none", "0", "false"):
        return {}
    limits: dict[str, tuple[float, float]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        family, _, spec = part.partition("=")
        rate, _, burst = spec.partition(":")
        try:
            limits[family.strip()] = (float(rate), float(burst or rate))
        except ValueError:
            raise ValueError(
                f"ESMCTL_SANDBOX_RATE_LIMITS must be 'off' or like 'mutate=5:20,read=20:50', got {raw!r}"
            ) from None
        if family.strip() not in ("mutate", "read") or limits[family.strip()][0] <= 0:
            raise ValueError(f"ESMCTL_SANDBOX_RATE_LIMITS: bad entry {part!r} (families: mutate, read; rate > 0)")
    return limits


class _Bucket:
    """A token bucket: `burst` tokens, refilled at `rate` a second (time.monotonic())."""

    __slots__ = ("tokens", "updated")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.updated = now

    def take(self, rate: float, burst: float, now: float) -> bool:
        self.tokens = min(burst, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class SandboxControl:
    """How the sandbox behaves; mutable at any time (thread-safe). `reset()` reads the defaults.

    Endpoints:
    - `creating_seconds`: how long a new endpoint stays `Creating` (env ESMCTL_SANDBOX_CREATING_SECONDS,
      default 2.0); the duration is fixed when CreateEndpoint is called.
    - `updating_seconds`: how long UpdateEndpoint stays `Updating` (env ESMCTL_SANDBOX_UPDATING_SECONDS);
      while not set it follows `creating_seconds`.
    - `deleting_seconds`: how long a deleted endpoint shows `Deleting` before it disappears (env
      ESMCTL_SANDBOX_DELETING_SECONDS, default 0: gone at once).
    - `quota_instances`: per instance type, the account's "<type> for endpoint usage" quota;
      CreateEndpoint/UpdateEndpoint beyond it raise ResourceLimitExceeded. Empty = no limit.
    - one-shot outcomes: `fail_endpoint`, `rollback_next_update`, `fail_update_rollback`,
      `put_out_of_service` (see each).

    AWS Marketplace:
    - `subscribed`: whether this account is subscribed to the Marketplace model packages it uses
      (env ESMCTL_SANDBOX_SUBSCRIBED, default true). When false, CreateModel with another account's
      model package answers "Caller is not subscribed to the marketplace offering.";
      DescribeModelPackage still describes it (it proves the ARN exists, not a subscription).
    - `unsubscribed_packages`: model package ARNs refused that way even while `subscribed` is true.

    Eventual consistency (AWS refuses these for a while after the change; 0 turns each off):
    - `role_propagation_seconds` (env ESMCTL_SANDBOX_ROLE_PROPAGATION_SECONDS, default 5.0): after
      iam:CreateRole, SageMaker CreateModel and Scheduler Create/UpdateSchedule with that role as
      execution role answer ValidationException ("Could not assume role ..." / "The execution role
      you provide must allow AWS EventBridge Scheduler to assume the role."); so does a role that
      does not exist. 0 turns the whole check off: any role ARN is accepted, as moto does.
    - `key_propagation_seconds` (env ESMCTL_SANDBOX_KEY_PROPAGATION_SECONDS, default 5.0): after
      iam:CreateAccessKey, requests signed with the new key answer InvalidClientTokenId (query/XML
      services) or UnrecognizedClientException (JSON services), HTTP 403.
    - `config_lookup_seconds` (env ESMCTL_SANDBOX_CONFIG_LOOKUP_SECONDS, default 1.0): after
      CreateEndpointConfig, CreateEndpoint/UpdateEndpoint naming it answer "Could not find endpoint
      configuration".
    - `secret_deletion_seconds` (env ESMCTL_SANDBOX_SECRET_DELETION_SECONDS, default 5.0): after
      secretsmanager:DeleteSecret with ForceDeleteWithoutRecovery the secret is still "marked for
      deletion": its name cannot be re-used and Get/Put/UpdateSecret refuse it; then it is gone.

    Limits and throttling:
    - `enforce_iam_limits` (env ESMCTL_SANDBOX_ENFORCE_IAM_LIMITS, default true): IAM policy sizes
      (managed 6,144; inline per role 10,240, per user 2,048, per group 5,120 characters without
      whitespace) → LimitExceeded.
    - `enforce_metric_periods` (env ESMCTL_SANDBOX_ENFORCE_METRIC_PERIODS, default true): CloudWatch
      GetMetricData/GetMetricStatistics return no data points for a Period that does not fit how old
      StartTime is (multiple of 60 s beyond 3 hours, 300 s beyond 15 days, 3,600 s beyond 63 days).
    - `rate_limits` (env ESMCTL_SANDBOX_RATE_LIMITS, default "mutate=5:20,read=20:50"; "off" = none):
      API family ("mutate": Create/Update/Delete/Put/Attach/..., "read": everything else) → (requests
      per second, burst), a token bucket per service and API operation in the sandbox server (AWS
      limits each operation's rate per account and region); beyond it the
      service's throttling error (SageMaker ThrottlingException, IAM/STS/CloudWatch Throttling, ...).
      S3, InvokeEndpoint and /moto-api/ are never throttled; in-process `mock_aws` is not throttled.
    - `request_hook`: see faults.py (inject errors, resets and kills; server mode).
    """

    creating_seconds: float
    deleting_seconds: float
    unsubscribed_packages: set[str]
    quota_instances: dict[str, int]
    request_hook: Any  # faults.Hook | None
    subscribed: bool
    role_propagation_seconds: float
    key_propagation_seconds: float
    config_lookup_seconds: float
    secret_deletion_seconds: float
    enforce_iam_limits: bool
    enforce_metric_periods: bool
    rate_limits: dict[str, tuple[float, float]]

    def __init__(self) -> None:
        self._updating_seconds: float | None = None
        self._failures: dict[str, str] = {}
        self._rollbacks: set[str] = set()
        self._rollback_failures: dict[str, str] = {}
        self._out_of_service: set[str] = set()
        self._new_keys: dict[str, float] = {}  # access key id → time.monotonic() of CreateAccessKey
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.reset()

    @property
    def updating_seconds(self) -> float:
        return self.creating_seconds if self._updating_seconds is None else self._updating_seconds

    @updating_seconds.setter
    def updating_seconds(self, value: float | None) -> None:
        self._updating_seconds = value

    def reset(self) -> None:
        """Back to the defaults (from the environment); forget pending failures and rollbacks.

        Does not touch moto's own state: use `moto.mock_aws` or POST /moto-api/reset for that.
        """
        with lock:
            self.creating_seconds = _env_seconds("ESMCTL_SANDBOX_CREATING_SECONDS", 2.0) or 0.0
            self._updating_seconds = _env_seconds("ESMCTL_SANDBOX_UPDATING_SECONDS", None)
            self.deleting_seconds = _env_seconds("ESMCTL_SANDBOX_DELETING_SECONDS", 0.0) or 0.0
            self.unsubscribed_packages = set()
            self.quota_instances = {}
            self.request_hook = None  # see faults.py: inject errors, resets and kills
            self.subscribed = _env_bool("ESMCTL_SANDBOX_SUBSCRIBED", True)
            self.role_propagation_seconds = _env_seconds("ESMCTL_SANDBOX_ROLE_PROPAGATION_SECONDS", 5.0) or 0.0
            self.key_propagation_seconds = _env_seconds("ESMCTL_SANDBOX_KEY_PROPAGATION_SECONDS", 5.0) or 0.0
            self.config_lookup_seconds = _env_seconds("ESMCTL_SANDBOX_CONFIG_LOOKUP_SECONDS", 1.0) or 0.0
            self.secret_deletion_seconds = _env_seconds("ESMCTL_SANDBOX_SECRET_DELETION_SECONDS", 5.0) or 0.0
            self.enforce_iam_limits = _env_bool("ESMCTL_SANDBOX_ENFORCE_IAM_LIMITS", True)
            self.enforce_metric_periods = _env_bool("ESMCTL_SANDBOX_ENFORCE_METRIC_PERIODS", True)
            raw_limits = os.environ.get("ESMCTL_SANDBOX_RATE_LIMITS", "").strip()
            self.rate_limits = parse_rate_limits(raw_limits) if raw_limits else dict(DEFAULT_RATE_LIMITS)
            self._failures.clear()
            self._rollbacks.clear()
            self._rollback_failures.clear()
            self._out_of_service.clear()
            self._new_keys.clear()
            self._buckets.clear()

    def immediate(self) -> None:
        """No eventual-consistency delays and no rate limits (the size and period limits stay): for
        tests about something else, and for measurements of esmctl itself. Also accepts role ARNs
        that do not exist (`role_propagation_seconds` 0 turns the role check off)."""
        with lock:
            self.role_propagation_seconds = self.key_propagation_seconds = 0.0
            self.config_lookup_seconds = self.secret_deletion_seconds = 0.0
            self.rate_limits = {}

    def fail_endpoint(self, name: str, reason: str = DEFAULT_FAILURE_REASON) -> None:
        """Make the endpoint called `name` (any case) end `Failed` with `reason`.

        An endpoint that is `Creating` fails when its creating time is over; one that is `InService`
        fails at once (one `Updating` when its update is over); if none exists yet, the next one
        created with that name fails. One-shot: the
        failure is used up by the endpoint it hits, so re-creating the endpoint afterwards succeeds
        (call again to fail that one too).
        """
        with lock:
            self._failures[name.lower()] = reason

    def rollback_next_update(self, name: str) -> None:
        """Make the next UpdateEndpoint of `name` (any case) roll back.

        The endpoint goes `Updating` as usual, then returns to `InService` on its OLD endpoint
        config (with a FailureReason saying why), as SageMaker does when the new fleet fails.
        """
        with lock:
            self._rollbacks.add(name.lower())

    def fail_update_rollback(self, name: str, reason: str = UPDATE_ROLLBACK_FAILED_REASON) -> None:
        """Make the next UpdateEndpoint of `name` (any case) end `UpdateRollbackFailed` with `reason`.

        The endpoint goes `Updating` as usual, then `UpdateRollbackFailed` (on its old endpoint
        config): it still serves InvokeEndpoint, and DeleteEndpoint and UpdateEndpoint (the way to
        recover) are allowed, as SageMaker documents for that status. One-shot.
        """
        with lock:
            self._rollback_failures[name.lower()] = reason

    def put_out_of_service(self, name: str) -> None:
        """Make the endpoint `name` (any case) `OutOfService`: not invocable, UpdateEndpoint refused,
        DeleteEndpoint allowed.

        An `InService` (or `UpdateRollbackFailed`) endpoint goes out of service at once; one being
        created or updated when that finishes; if none exists yet, the next one created. One-shot.
        """
        with lock:
            self._out_of_service.add(name.lower())

    # -- used by the patches -------------------------------------------------------------------

    def pop_failure(self, name: str) -> str | None:
        """The pending FailureReason for endpoint `name`, removed; None when none is pending."""
        with lock:
            return self._failures.pop(name.lower(), None)

    def has_failure(self, name: str) -> bool:
        with lock:
            return name.lower() in self._failures

    @staticmethod
    def _take(pending: set[str], name: str) -> bool:
        """Whether `name` (any case) is in `pending`, removing it: a one-shot outcome is used up."""
        with lock:
            if name.lower() in pending:
                pending.discard(name.lower())
                return True
            return False

    def pop_rollback(self, name: str) -> bool:
        """Whether the update of `name` being started now must roll back (used up)."""
        return self._take(self._rollbacks, name)

    def pop_update_rollback_failure(self, name: str) -> str | None:
        """The FailureReason the update of `name` being started now must end with (used up)."""
        with lock:
            return self._rollback_failures.pop(name.lower(), None)

    def pop_out_of_service(self, name: str) -> bool:
        """Whether endpoint `name` must go OutOfService now (used up)."""
        return self._take(self._out_of_service, name)

    def has_out_of_service(self, name: str) -> bool:
        with lock:
            return name.lower() in self._out_of_service

    def note_access_key(self, access_key_id: str) -> None:
        """iam:CreateAccessKey made `access_key_id` (remembered while the propagation delay runs)."""
        with lock:
            if self.key_propagation_seconds > 0:
                self._new_keys[access_key_id] = time.monotonic()

    def access_key_pending(self, access_key_id: str) -> bool:
        """Whether requests signed with `access_key_id` must still be refused (key not propagated)."""
        if not self._new_keys:  # the common case, without taking the lock
            return False
        with lock:
            created = self._new_keys.get(access_key_id)
            if created is None:
                return False
            if time.monotonic() - created < self.key_propagation_seconds:
                return True
            del self._new_keys[access_key_id]
            return False

    def take_token(self, service: str, operation: str, family: str) -> bool:
        """One `operation` request to `service`: False when its rate limit refuses it (never sleeps).

        AWS limits the request rate of each API operation per account and region (e.g. the SageMaker
        quotas "Rate of CreateEndpoint requests"), so each operation has its own bucket; its rate and
        burst come from the operation's family."""
        limit = self.rate_limits.get(family)
        if limit is None:
            return True
        rate, burst = limit
        now = time.monotonic()
        with lock:
            bucket = self._buckets.get((service, operation))
            if bucket is None:
                bucket = self._buckets[(service, operation)] = _Bucket(burst, now)
            return bucket.take(rate, burst, now)

    def is_unsubscribed(self, model_package: str) -> bool:
        with lock:
            wanted = model_package.lower()
            return any(arn.lower() == wanted for arn in tuple(self.unsubscribed_packages))

    def quota_for(self, instance_type: str) -> int | None:
        with lock:
            return self.quota_instances.get(instance_type)


control = SandboxControl()
