"""Wait stage: poll many endpoints at once until they settle.

One ListEndpoints listing per poll for every endpoint being waited on (not one call per
endpoint), a DescribeEndpoint only for an endpoint that ended Failed (for its FailureReason).
The clock, the sleep and the interval are injected, so tests never sleep for real. Polling is
driven by tenacity; transient AWS errors inside a poll are already retried by botocore.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import tenacity

from esmctl.errors import EsmctlError
from esmctl.observe import FAILED, SETTLED, ObservedEndpoint

if TYPE_CHECKING:
    from esmctl.aws import SageMaker

DEFAULT_INTERVAL = 15.0  # seconds between polls (ESMCTL_POLL_INTERVAL)
DEFAULT_TIMEOUT = 3600.0  # one wait gives up after an hour (ESMCTL_WAIT_TIMEOUT, --timeout)


def interval_from_env() -> float:
    return _env_float("ESMCTL_POLL_INTERVAL", DEFAULT_INTERVAL)


def timeout_from_env() -> float:
    return _env_float("ESMCTL_WAIT_TIMEOUT", DEFAULT_TIMEOUT)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass
class Waiting:
    """One endpoint being waited on."""

    deployment: str
    endpoint: str
    target: Literal["InService", "gone"] = "InService"
    started: float = 0.0  # clock() when its create/update call was made
    eta: float | None = None  # expected seconds from start to settle
    seen: ObservedEndpoint | None = None
    done: bool = False


class WaitTimeout(EsmctlError):
    """Endpoints still not settled when the wait's timeout ran out (they go on in AWS)."""

    def __init__(self, pending: list[Waiting], timeout: float = 0.0) -> None:
        what = ", ".join(f"{w.endpoint} ({w.seen.status if w.seen else 'not listed'})" for w in pending)
        super().__init__(f"Still waiting after {timeout:.0f} s for: {what}. It goes on in AWS.",
                         hint="Run `esmctl deploy` again to keep waiting (it resumes), or raise --timeout / "
                         "ESMCTL_WAIT_TIMEOUT.")
        self.pending = pending


class Waiter:
    def __init__(self, sagemaker: SageMaker, *, interval: float | None = None, timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sm = sagemaker
        self.interval = interval if interval is not None else interval_from_env()
        self.timeout = timeout if timeout is not None else timeout_from_env()
        self.clock = clock
        self.sleep = sleep

    def wait(self, items: list[Waiting], on_poll: Callable[[list[Waiting]], None] = lambda _: None) -> list[Waiting]:
        """Poll until every item settled (see observe.SETTLED, or gone). Raises WaitTimeout."""
        start = self.clock()

        def poll() -> bool:
            pending = [w for w in items if not w.done]
            if pending:
                listed = {e["EndpointName"].lower(): e for e in self.sm.list_endpoints()}
                for w in pending:
                    e = listed.get(w.endpoint.lower())
                    if e is None:
                        w.seen = None
                        w.done = w.target == "gone"
                        continue
                    w.seen = ObservedEndpoint(e["EndpointName"], e["EndpointArn"], e["EndpointStatus"],
                                              created=e.get("CreationTime"))
                    if w.target == "InService" and w.seen.status in SETTLED:
                        w.done = True
                        if w.seen.status in FAILED:
                            d = self.sm.describe_endpoint(w.endpoint) or {}
                            w.seen = ObservedEndpoint(w.seen.name, w.seen.arn, w.seen.status,
                                                      d.get("EndpointConfigName"), d.get("FailureReason", ""))
            on_poll(items)
            return all(w.done for w in items)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda done: not done),
            wait=tenacity.wait_fixed(self.interval),
            stop=lambda _state: self.clock() - start >= self.timeout,
            sleep=self.sleep,
        )
        try:
            retrying(poll)
        except tenacity.RetryError:
            raise WaitTimeout([w for w in items if not w.done], self.timeout) from None
        return items
