"""The sandbox's knobs: endpoint timings and failures, AWS's eventual consistency, limits, rate limits.

One module-level `control` is read by the patched moto on every request, so tests (and `esmctl
demo`) running in the same process as the sandbox change its behaviour by assigning attributes.
By default the sandbox behaves like AWS (delays, limits and throttling included); each behaviour
has a knob to turn it off, listed on `SandboxControl`, and docs/aws-behaviour.md says where each
comes from. Everything here is plain Python: importing this module imports neither moto nor boto3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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
    if not os.environ.get(name, "").strip():
        return default
    return _env_number(name, 0.0, what="a number of seconds")


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


def _env_number(name: str, default: float, *, upper: float | None = None, what: str = "a number") -> float:
    """A number ≥ 0 (and ≤ `upper`) from the environment, or `default` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
    if value < 0 or (upper is not None and value > upper):
        raise ValueError(f"{name} must be within 0..{upper if upper is not None else 'inf'}, got {raw!r}")
    return value


# InvokeEndpoint: how long the stand-in model takes (a real ESM C forward pass on a GPU is tens of
# milliseconds plus SageMaker's round trip) and how many requests one instance serves at once. The
# sandbox's own numbers, not AWS's; tests set them to 0 (`immediate()`) or to what they check.
DEFAULT_INVOKE_BASE_SECONDS = 0.05  # every call: SageMaker's routing plus the container's overhead
DEFAULT_INVOKE_SECONDS_PER_TOKEN = 0.0002  # `logits` only: 300 residues → +0.06 s, 2,048 → +0.41 s
DEFAULT_CONCURRENCY_PER_INSTANCE = 4  # requests one instance holds at once; the next is throttled
MAX_INVOCATION_RECORDS = 100_000  # the newest kept (a long-running `esmctl sandbox` stays bounded)


@dataclass(frozen=True)
class Invocation:
    """One InvokeEndpoint the sandbox answered (`control.invocations()`)."""

    endpoint: str  # the name as called
    api: str | None  # the Forge API ("encode", "logits" …); None when the body could not be read
    sequence: str | None  # the residues as letters (token requests detokenized); None if unreadable
    residues: int | None  # len(sequence)
    asked: tuple[str, ...]  # `logits`: the logits_config options set, e.g. ("return_mean_embedding",)
    outcome: str  # "ok", or the error code answered: "ThrottlingException", "ModelError",
    #               "ValidationError", "413"
    seconds: float  # the simulated latency (0 when refused before the model ran)


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
    - `scale_variant(endpoint, desired)`: what Application Auto Scaling does to a registered variant
      (UpdateEndpointWeightsAndCapacities within the target's MinCapacity..MaxCapacity); see it.

    EventBridge Scheduler (module functions, below the class): `fire_due_schedules(now=)` runs the
    one-time schedules whose time has come, `fire_schedule(name, group=, now=)` runs any one now.

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

    InvokeEndpoint (a real endpoint under load; see _runtime.py for the errors and their sources):
    - `invoke_base_seconds` (env ESMCTL_SANDBOX_INVOKE_BASE_SECONDS, default 0.05) plus
      `invoke_seconds_per_token` (env ESMCTL_SANDBOX_INVOKE_SECONDS_PER_TOKEN, default 0.0002) × the
      tokens of a `logits` request (BOS and EOS included): how long a call holds its slot. A call
      that would take longer than 60 s is answered at once with SageMaker's timeout ModelError.
    - `concurrency_per_instance` (env ESMCTL_SANDBOX_CONCURRENCY_PER_INSTANCE, default 4; 0 = no
      limit): an endpoint takes instances × this many calls at once; one more finds no free slot and
      is throttled at once (ThrottlingException, HTTP 400; no queueing).
    - `invoke_throttle_rate` (env ESMCTL_SANDBOX_INVOKE_THROTTLE_RATE, default 0) and
      `invoke_throttle_seed` (env ESMCTL_SANDBOX_INVOKE_THROTTLE_SEED, default 0): that share of the
      calls is throttled as well, decided by (seed, endpoint, request body, how many times that
      body was sent to that endpoint before): the same calls whatever the threads' order.
    - `sleep`: how a call waits for its latency (default `time.sleep`): tests put in their own.
    - `invocations()`: every InvokeEndpoint answered since `reset()` (the newest 100,000), as
      `Invocation` records; `reset_invocations()` forgets them and changes nothing else.

    What was asked (server mode; `reset()` empties it):
    - `served`: the IAM action ("sagemaker:CreateModel", "s3:ListBucket", ...) of every request
      the sandbox server handed to moto, whatever moto answered: see _served.py. Requests refused
      before (unknown key, throttled, injected fault) and `/moto-api/` are not in it, nor the calls
      of in-process `mock_aws`. Read it with `served_actions()` (a copy taken under the lock).
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
    served: set[str]
    invoke_base_seconds: float
    invoke_seconds_per_token: float
    concurrency_per_instance: int
    invoke_throttle_rate: float
    invoke_throttle_seed: int
    sleep: Callable[[float], None]

    def __init__(self) -> None:
        self._updating_seconds: float | None = None
        self._failures: dict[str, str] = {}
        self._rollbacks: set[str] = set()
        self._rollback_failures: dict[str, str] = {}
        self._out_of_service: set[str] = set()
        self._new_keys: dict[str, float] = {}  # access key id → time.monotonic() of CreateAccessKey
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._slots: dict[tuple[str, ...], int] = {}  # endpoint key → calls in flight
        self._sent: dict[tuple[str, str], int] = {}  # (endpoint, body digest) → calls so far
        self._invocations: deque[Invocation] = deque(maxlen=MAX_INVOCATION_RECORDS)
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
            self.served = set()  # a new set: a reference taken before keeps what it held
            self.invoke_base_seconds = _env_number("ESMCTL_SANDBOX_INVOKE_BASE_SECONDS",
                                                   DEFAULT_INVOKE_BASE_SECONDS)
            self.invoke_seconds_per_token = _env_number("ESMCTL_SANDBOX_INVOKE_SECONDS_PER_TOKEN",
                                                        DEFAULT_INVOKE_SECONDS_PER_TOKEN)
            self.concurrency_per_instance = int(_env_number("ESMCTL_SANDBOX_CONCURRENCY_PER_INSTANCE",
                                                            DEFAULT_CONCURRENCY_PER_INSTANCE))
            self.invoke_throttle_rate = _env_number("ESMCTL_SANDBOX_INVOKE_THROTTLE_RATE", 0.0, upper=1.0)
            self.invoke_throttle_seed = int(_env_number("ESMCTL_SANDBOX_INVOKE_THROTTLE_SEED", 0))
            self.sleep = time.sleep
            self._slots.clear()
            self._sent.clear()
            self._invocations = deque(maxlen=MAX_INVOCATION_RECORDS)

    def immediate(self) -> None:
        """No eventual-consistency delays, no rate limits and a model that answers at once (the
        size and period limits and the endpoints' concurrency stay): for tests about something
        else, and for measurements of esmctl itself. Also accepts role ARNs that do not exist
        (`role_propagation_seconds` 0 turns the role check off)."""
        with lock:
            self.role_propagation_seconds = self.key_propagation_seconds = 0.0
            self.config_lookup_seconds = self.secret_deletion_seconds = 0.0
            self.rate_limits = {}
            self.invoke_base_seconds = self.invoke_seconds_per_token = 0.0
            self.invoke_throttle_rate = 0.0

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

    def scale_variant(self, endpoint_name: str, desired: int, *, variant: str = "variant-1",
                      account: str | None = None, region: str | None = None) -> str:
        """Do what Application Auto Scaling does when a scaling policy moves the registered variant
        `variant` of endpoint `endpoint_name` (any case) to `desired` instances: it calls SageMaker
        UpdateEndpointWeightsAndCapacities. DescribeEndpoint then shows DesiredInstanceCount `desired`
        at once and the endpoint `Updating` for `updating_seconds`, then `InService` with
        CurrentInstanceCount `desired` (InvokeEndpoint's concurrency and the instance quotas follow).

        Raises ValueError where Application Auto Scaling would not scale: the variant is not a
        registered scalable target (RegisterScalableTarget), `desired` is outside its MinCapacity..
        MaxCapacity, or the endpoint is not InService. `account`/`region` are needed only when the
        name exists in several. Returns the endpoint's ARN. Call after `apply_patches()`, in the process
        that serves the sandbox (see _autoscaling.py for the sources).
        """
        from ._autoscaling import scale_variant

        return scale_variant(endpoint_name, int(desired), variant, account, region)

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

    # -- InvokeEndpoint: latency, slots, injected throttling, records (used by _runtime.py) -------

    def invocation_seconds(self, api: str, tokens: int) -> float:
        """How long the model takes for one call: the base, plus per token for `logits`."""
        per_token = self.invoke_seconds_per_token if api == "logits" else 0.0
        return self.invoke_base_seconds + per_token * tokens

    def take_slot(self, endpoint: tuple[str, ...], instances: int) -> bool:
        """One call to `endpoint` starts: False (and nothing taken) when all its instances ×
        `concurrency_per_instance` slots are busy. Each True must be followed by `release_slot`."""
        with lock:
            busy = self._slots.get(endpoint, 0)
            per_instance = self.concurrency_per_instance
            if per_instance > 0 and busy >= max(1, instances) * per_instance:
                return False
            self._slots[endpoint] = busy + 1
            return True

    def release_slot(self, endpoint: tuple[str, ...]) -> None:
        with lock:
            busy = self._slots.get(endpoint, 0)
            if busy <= 1:
                self._slots.pop(endpoint, None)  # also after a reset() while the call ran
            else:
                self._slots[endpoint] = busy - 1

    def busy_slots(self, endpoint: tuple[str, ...]) -> int:
        """Calls to `endpoint` ((account, region, name)) in flight now."""
        with lock:
            return self._slots.get(endpoint, 0)

    def throttle_invocation(self, endpoint: str, body: bytes) -> bool:
        """Whether this call is one of the `invoke_throttle_rate` share refused. The decision for the
        k-th sending of the same body to the same endpoint depends only on (seed, endpoint, body, k),
        so a retried request is decided afresh and the threads' order changes nothing."""
        rate = self.invoke_throttle_rate
        if rate <= 0:
            return False
        digest = hashlib.sha256(body).hexdigest()
        with lock:
            k = self._sent.get((endpoint, digest), 0)
            self._sent[(endpoint, digest)] = k + 1
            seed = self.invoke_throttle_seed
        draw = hashlib.sha256(f"{seed}\0{endpoint}\0{digest}\0{k}".encode()).digest()
        return int.from_bytes(draw[:8], "big") / 2**64 < rate

    def record_invocation(self, invocation: Invocation) -> None:
        with lock:
            self._invocations.append(invocation)

    def invocations(self) -> list[Invocation]:
        """Every InvokeEndpoint answered since `reset()` (or `reset_invocations()`), in the order
        they ended (a copy)."""
        with lock:
            return list(self._invocations)

    def reset_invocations(self) -> None:
        """Forget the recorded invocations; every other setting stays."""
        with lock:
            self._invocations = deque(maxlen=MAX_INVOCATION_RECORDS)

    # -- what was asked: the IAM actions served (see _served.py) -------------------------------

    def note_served(self, action: str) -> None:
        """The sandbox server is about to serve a request needing IAM action `action`."""
        if action in self.served:  # the common case, without taking the lock
            return
        with lock:
            self.served.add(action)

    def served_actions(self) -> frozenset[str]:
        """The IAM actions served since the last `reset()` (a copy)."""
        with lock:
            return frozenset(self.served)

    # -------------------------------------------------------------------------------------------

    def is_unsubscribed(self, model_package: str) -> bool:
        with lock:
            wanted = model_package.lower()
            return any(arn.lower() == wanted for arn in tuple(self.unsubscribed_packages))

    def quota_for(self, instance_type: str) -> int | None:
        with lock:
            return self.quota_instances.get(instance_type)


control = SandboxControl()


# ================================================================================================
# EventBridge Scheduler: running schedules whose time has come (`fire_due_schedules`).
#
# moto stores schedules but never runs them, and the sandbox has no background clock: whoever drives
# the sandbox in its process (a test) says when time has come. What AWS does, and so this:
# - A one-time schedule `at(yyyy-mm-ddThh:mm:ss)` runs once, at that time in its
#   ScheduleExpressionTimezone (EventBridge Scheduler User Guide, "Schedule types on EventBridge
#   Scheduler", one-time schedules: docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html);
#   a DISABLED schedule does not run.
# - Scheduler assumes the target's RoleArn (whose trust policy must allow the service principal
#   scheduler.amazonaws.com) and calls the target with that role's permissions (User Guide, "Set up
#   the execution role", .../UserGuide/setting-up.html). A role that does not exist (or is not assumable yet, see
#   `role_propagation_seconds`) cannot be assumed, whatever that knob says about CreateSchedule.
# - A universal target `arn:aws:scheduler:::aws-sdk:<service>:<apiAction>` calls that API action of
#   that service, in the schedule's account and region, with the target's `Input` JSON as the
#   request parameters; the role needs the IAM action `<service>:<ApiAction>` (User Guide, "Using
#   universal targets", .../UserGuide/managing-targets-universal.html, e.g.
#   `arn:aws:scheduler:::aws-sdk:sqs:sendMessage`). The error texts below are the sandbox's own.
# - After a one-time schedule has run, ActionAfterCompletion DELETE deletes it; NONE keeps it, and it
#   does not run again (EventBridge Scheduler API reference, CreateSchedule, "ActionAfterCompletion":
#   "applies to the schedule after the schedule completes invoking the target"; a recurring rate()/
#   cron() schedule never completes before its EndDate, so `fire_schedule` never deletes one).
# - A recurring schedule runs only between its StartDate ("The date, in UTC, after which the schedule
#   can begin invoking its target") and EndDate ("before which the schedule can invoke its target"),
#   CreateSchedule API reference; `fire_schedule` refuses a time outside them.
# - createEndpoint as a universal target: the role needs sagemaker:CreateEndpoint on the endpoint ARN
#   and the endpoint-config ARN (SageMaker API reference, CreateEndpoint: "Action": ["sagemaker:
#   CreateEndpoint", ...], "Resource": [...endpoint/endpointName, ...endpoint-config/endpointConfigName]),
#   and sagemaker:AddTags on the endpoint when Input has Tags (SageMaker tags on create need AddTags:
#   SageMaker Developer Guide, "Provide permissions for tagging SageMaker AI resources"; awslabs
#   solutions note "createWorkteam requires sagemaker:AddTags permission to tag the team"). deleteEndpoint
#   of an endpoint with a variant registered with Application Auto Scaling also needs
#   application-autoscaling:DeregisterScalableTarget (SageMaker Developer Guide, "Delete endpoints
#   configured for auto scaling"; _autoscaling.py).
# Not modelled: when a rate()/cron() schedule is due (`fire_due_schedules` runs one-time schedules
# only; a test runs a recurring one with `fire_schedule`), flexible time windows (a schedule runs at
# its time), retries (a failed call is reported in `ScheduleRun.error`, where AWS would retry per
# RetryPolicy and then send the event to the dead-letter queue). Universal targets the sandbox can
# run are in `_UNIVERSAL_TARGETS`; any other target is reported as an error, not silently skipped.

_FIRED = "_esmctl_fired"  # set on a moto Schedule: its LastModificationDate when it ran


@dataclass(frozen=True)
class ScheduleRun:
    """One schedule run by `fire_due_schedules` or `fire_schedule`: `error` is "" when its target call
    succeeded, else "<ErrorCode>: <message>"."""

    name: str
    arn: str
    target: str  # e.g. arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint
    input: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _at_time(expression: str, timezone: str | None) -> dt.datetime | None:
    """The aware time of `at(yyyy-mm-ddThh:mm:ss)`; None for rate()/cron() expressions."""
    from zoneinfo import ZoneInfo

    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    try:
        return dt.datetime.fromisoformat(expression[3:-1]).replace(tzinfo=ZoneInfo(timezone or "UTC"))
    except (ValueError, KeyError):  # moto accepts any expression; AWS would have refused this one
        return None


Allowed = Callable[[str, str], bool]  # (IAM action, resource ARN) → whether the schedule's role may


def _sagemaker_arn(partition: str, account: str, region: str, kind: str, name: Any) -> str:
    return f"arn:{partition}:sagemaker:{region}:{account}:{kind}/{str(name or '').lower()}"


def _sagemaker_delete_endpoint(account: str, region: str, params: dict[str, Any], allowed: Allowed) -> None:
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import sagemaker_backends

    from ._autoscaling import DEREGISTER_ACTION, DEREGISTER_DENIED, endpoint_targets

    name = str(params.get("EndpointName", ""))
    if any(not allowed(DEREGISTER_ACTION, t.arn) for t in endpoint_targets(account, region, name)):
        raise ValidationError(DEREGISTER_DENIED)
    sagemaker_backends[account][region].delete_endpoint(name)  # the patched one


def _sagemaker_create_endpoint(account: str, region: str, params: dict[str, Any], allowed: Allowed) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[account][region].create_endpoint(  # the patched one: Creating, then InService
        endpoint_name=str(params.get("EndpointName", "")),
        endpoint_config_name=str(params.get("EndpointConfigName", "")),
        tags=list(params.get("Tags") or []),
    )


def _create_endpoint_permissions(partition: str, account: str, region: str,
                                 params: dict[str, Any]) -> list[tuple[str, str]]:
    endpoint = _sagemaker_arn(partition, account, region, "endpoint", params.get("EndpointName"))
    needed = [("sagemaker:CreateEndpoint", endpoint),
              ("sagemaker:CreateEndpoint",
               _sagemaker_arn(partition, account, region, "endpoint-config", params.get("EndpointConfigName")))]
    if params.get("Tags"):
        needed.append(("sagemaker:AddTags", endpoint))
    return needed


def _autoscaling_call(action: str) -> Any:
    """Application Auto Scaling's RegisterScalableTarget / PutScalingPolicy with the Input's parameters
    (the patched backend: the variant must exist, the policy needs its target; _autoscaling.py)."""
    def call(account: str, region: str, params: dict[str, Any], allowed: Allowed) -> None:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        backend = applicationautoscaling_backends[account][region]
        where = (str(params.get("ServiceNamespace", "")), str(params.get("ResourceId", "")),
                 str(params.get("ScalableDimension", "")))
        if action == "registerScalableTarget":
            backend.register_scalable_target(*where, min_capacity=params.get("MinCapacity"),
                                             max_capacity=params.get("MaxCapacity"), role_arn="",
                                             suspended_state=params.get("SuspendedState"))  # type: ignore[arg-type]
        else:
            body = params.get("TargetTrackingScalingPolicyConfiguration") or params.get(
                "StepScalingPolicyConfiguration") or {}
            backend.put_scaling_policy(str(params.get("PolicyName", "")), *where, body, params.get("PolicyType"))
    return call


def _autoscaling_permissions(action: str) -> Any:
    """The IAM action a role needs for it, on a scalable target (its ARN is an opaque id: "*" in
    policies; the Service Authorization Reference gives no other resource form before registration)."""
    def needed(partition: str, account: str, region: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        api = action[0].upper() + action[1:]
        return [(f"application-autoscaling:{api}",
                 f"arn:{partition}:application-autoscaling:{region}:{account}:scalable-target/*")]
    return needed


# (service, apiAction) of a universal target → (the IAM actions and resource ARNs its role needs,
# the call). The call gets a check of the role's permissions for what the API checks while it runs.
_UNIVERSAL_TARGETS: dict[tuple[str, str], tuple[Any, Any]] = {
    ("sagemaker", "deleteEndpoint"): (
        lambda partition, account, region, params: [
            ("sagemaker:DeleteEndpoint", _sagemaker_arn(partition, account, region, "endpoint",
                                                        params.get("EndpointName")))],
        _sagemaker_delete_endpoint,
    ),
    ("sagemaker", "createEndpoint"): (_create_endpoint_permissions, _sagemaker_create_endpoint),
    # "arn:aws:scheduler:::aws-sdk:applicationautoscaling:registerScalableTarget" is how public
    # templates schedule Application Auto Scaling (the SDK's service name, lower case, no hyphens)
    **{("applicationautoscaling", a): (_autoscaling_permissions(a), _autoscaling_call(a))
       for a in ("registerScalableTarget", "putScalingPolicy")},
}


def _error_text(error: Exception) -> str:
    """"<ErrorCode>: <message>" of a moto service error (what the API would have answered)."""
    code = getattr(error, "error_type", None) or getattr(error, "code", None)
    if not isinstance(code, str):
        code = type(error).__name__
    return f"{code}: {getattr(error, 'message', None) or error}"


def _trusts_scheduler(role: Any) -> bool:
    """Whether the role's trust policy lets scheduler.amazonaws.com assume it."""
    try:
        doc = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return False
    statements = doc.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        actions = st.get("Action", [])
        services = (st.get("Principal") or {}).get("Service", []) if isinstance(st.get("Principal"), dict) else []
        actions = [actions] if isinstance(actions, str) else actions
        services = [services] if isinstance(services, str) else services
        if st.get("Effect") == "Allow" and "sts:AssumeRole" in actions and "scheduler.amazonaws.com" in services:
            return True
    return False


def _run_target(account: str, region: str, target: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Call a schedule's target as Scheduler does: (its parsed Input, "" or the error)."""
    from ._consistency import _find_role, role_assumable
    from ._simulate import _decide, _policies

    arn = str(target.get("Arn", ""))
    try:
        params = json.loads(target.get("Input") or "{}")
    except ValueError:
        return {}, "ValidationException: the target's Input is not JSON"
    parts = arn.split(":")  # arn:aws:scheduler:::aws-sdk:sagemaker:deleteEndpoint
    known = _UNIVERSAL_TARGETS.get((parts[6], parts[7])) if len(parts) == 8 and parts[5] == "aws-sdk" else None
    if known is None:
        return params, f"NotModelled: the sandbox cannot run target {arn}"
    role_arn = str(target.get("RoleArn", ""))
    role = _find_role(role_arn)
    if role is None or not role_assumable(role_arn) or not _trusts_scheduler(role):
        return params, f"AccessDeniedException: EventBridge Scheduler could not assume role {role_arn}"
    permissions_of, call = known
    from moto.iam.models import iam_backends

    iam = iam_backends[account][parts[1]]
    policies = _policies(iam, "role", role.name)

    def allowed(action: str, resource: str) -> bool:
        return _decide(policies, action, resource) == "allowed"

    for iam_action, resource in permissions_of(parts[1], account, region, params):
        if not allowed(iam_action, resource):
            return params, (f"AccessDeniedException: User: {role_arn} is not authorized to perform: "
                            f"{iam_action} on resource: {resource}")
    try:
        call(account, region, params, allowed)
    except Exception as error:  # a moto service error: what the API would have answered
        return params, _error_text(error)
    return params, ""


def fire_due_schedules(now: dt.datetime | None = None) -> list[ScheduleRun]:
    """Run every enabled one-time schedule due at `now` (default: the wall clock) that has not run
    yet, in every account and region of the sandbox, as EventBridge Scheduler would (see above).

    Each runs once (again only after UpdateSchedule changes it). Call after `apply_patches()`, in
    the process that serves the sandbox. Returns what ran, oldest due first."""
    from moto.scheduler.models import scheduler_backends

    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    due: list[tuple[dt.datetime, str, str, Any, Any]] = []
    with lock:
        for account, regions in list(dict.items(scheduler_backends)):
            for region, backend in list(dict.items(regions)):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        at = _at_time(schedule.schedule_expression, schedule.schedule_expression_timezone)
                        if (at is None or at > now or schedule.state != "ENABLED"
                                or getattr(schedule, _FIRED, None) == schedule.last_modified_date):
                            continue
                        due.append((at, account, region, backend, schedule))
        runs = []
        for _, account, region, backend, schedule in sorted(due, key=lambda d: d[0]):
            runs.append(_fire(account, region, backend, schedule))
    return runs


def _fire(account: str, region: str, backend: Any, schedule: Any) -> ScheduleRun:
    """Run one schedule's target now; a one-time schedule is then done (ActionAfterCompletion)."""
    one_time = _at_time(schedule.schedule_expression, schedule.schedule_expression_timezone) is not None
    if one_time:
        setattr(schedule, _FIRED, schedule.last_modified_date)
    params, error = _run_target(account, region, schedule.target)
    if one_time and schedule.action_after_completion == "DELETE":
        backend.delete_schedule(schedule.group_name, schedule.name)
    return ScheduleRun(schedule.name, schedule.arn, str(schedule.target.get("Arn", "")), params, error)


def _utc(value: Any) -> dt.datetime | None:
    """A StartDate/EndDate as moto keeps it (epoch seconds, or ISO text) → aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (TypeError, ValueError):
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def find_one(backends: Any, account: str | None, region: str | None, lookup: Callable[[str, str, Any], Any],
             what: str) -> tuple[str, str, Any, Any]:
    """(account, region, backend, what `lookup(account, region, backend)` found) of the one place in the
    sandbox's moto `backends` that has it; ValueError when none has it, or several (narrowed by
    `account`/`region` when given). Call with `lock` held."""
    found = [(acct, reg, backend, hit) for acct, regions in list(dict.items(backends)) if account in (None, acct)
             for reg, backend in list(dict.items(regions)) if region in (None, reg)
             for hit in [lookup(acct, reg, backend)] if hit is not None]
    if not found:
        raise ValueError(f"No {what} in the sandbox")
    if len(found) > 1:
        raise ValueError(f"The {what} exists in several accounts or regions: pass account= and region=")
    return found[0]  # type: ignore[no-any-return]


def fire_schedule(name: str, group: str = "default", now: dt.datetime | None = None, *,
                  account: str | None = None, region: str | None = None) -> ScheduleRun:
    """Run the schedule `name` of schedule group `group` now, as EventBridge Scheduler does when its
    time comes, whatever its expression (at, rate or cron): its universal target is called as its
    role, in its account and region (see above). A one-time schedule then counts as run
    (`fire_due_schedules` skips it) and ActionAfterCompletion DELETE deletes it; a recurring one stays
    and can be fired again.

    Raises ValueError when Scheduler would not run it: no such schedule (`account`/`region` narrow the
    search when the name exists in several), the schedule is DISABLED, or `now` (default: the wall
    clock) is before its StartDate or not before its EndDate. A failed target call is not raised: it
    is in the returned run's `error`."""
    from moto.scheduler.models import scheduler_backends

    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    def lookup(_account: str, _region: str, backend: Any) -> Any:
        schedule_group = backend.schedule_groups.get(group)
        return schedule_group.schedules.get(name) if schedule_group is not None else None

    with lock:
        acct, reg, backend, schedule = find_one(scheduler_backends, account, region, lookup,
                                                f"schedule {name!r} in schedule group {group!r}")
        if schedule.state != "ENABLED":
            raise ValueError(f"Schedule {group}/{name} is {schedule.state}: EventBridge Scheduler does not run it")
        start, end = _utc(schedule.start_date), _utc(schedule.end_date)
        if (start is not None and now < start) or (end is not None and now >= end):
            raise ValueError(f"Schedule {group}/{name} runs only between its StartDate {start} and EndDate {end}, "
                             f"not at {now}")
        return _fire(acct, reg, backend, schedule)
