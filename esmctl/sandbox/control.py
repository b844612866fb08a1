"""The sandbox's knobs: how long endpoints take, and which ones fail, roll back or hit a quota.

One module-level `control` is read by the patched moto on every request, so tests (and `esmctl
demo`) running in the same process as the sandbox change its behaviour by assigning attributes.
Everything here is plain Python: importing this module imports neither moto nor boto3.
"""

from __future__ import annotations

import os
import threading
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


class SandboxControl:
    """How the sandbox's SageMaker behaves; mutable at any time (thread-safe).

    - `creating_seconds`: how long a new endpoint stays `Creating` (env ESMCTL_SANDBOX_CREATING_SECONDS,
      default 2.0); the duration is fixed when CreateEndpoint is called.
    - `updating_seconds`: how long UpdateEndpoint stays `Updating` (env ESMCTL_SANDBOX_UPDATING_SECONDS);
      while not set it follows `creating_seconds`.
    - `deleting_seconds`: how long a deleted endpoint shows `Deleting` before it disappears (env
      ESMCTL_SANDBOX_DELETING_SECONDS, default 0: gone at once).
    - `unsubscribed_packages`: model package ARNs this account is "not subscribed to" on AWS
      Marketplace: DescribeModelPackage and CreateModel refuse them as SageMaker does.
    - `quota_instances`: per instance type, the account's "<type> for endpoint usage" quota;
      CreateEndpoint/UpdateEndpoint beyond it raise ResourceLimitExceeded. Empty = no limit.
    """

    creating_seconds: float
    deleting_seconds: float
    unsubscribed_packages: set[str]
    quota_instances: dict[str, int]
    request_hook: Any  # faults.Hook | None

    def __init__(self) -> None:
        self._updating_seconds: float | None = None
        self._failures: dict[str, str] = {}
        self._rollbacks: set[str] = set()
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
            self._failures.clear()
            self._rollbacks.clear()

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

    # -- used by the patches -------------------------------------------------------------------

    def pop_failure(self, name: str) -> str | None:
        """The pending FailureReason for endpoint `name`, removed; None when none is pending."""
        with lock:
            return self._failures.pop(name.lower(), None)

    def has_failure(self, name: str) -> bool:
        with lock:
            return name.lower() in self._failures

    def pop_rollback(self, name: str) -> bool:
        """Whether the update of `name` being started now must roll back (used up)."""
        with lock:
            if name.lower() in self._rollbacks:
                self._rollbacks.discard(name.lower())
                return True
            return False

    def is_unsubscribed(self, model_package: str) -> bool:
        with lock:
            wanted = model_package.lower()
            return any(arn.lower() == wanted for arn in tuple(self.unsubscribed_packages))

    def quota_for(self, instance_type: str) -> int | None:
        with lock:
            return self.quota_instances.get(instance_type)


control = SandboxControl()
