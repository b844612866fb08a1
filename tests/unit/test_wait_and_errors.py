"""The waiter (with a fake clock: no real sleeping) and the AWS error translation."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, UnauthorizedSSOTokenError

from esmctl.aws.errors import translate
from esmctl.errors import AlreadyExists, NotFound
from esmctl.wait import Waiter, Waiting, WaitTimeout


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


class FakeSageMaker:
    """Endpoints whose status is a function of the fake clock; counts calls."""

    def __init__(self, clock: FakeClock, ready_at: dict[str, float], failed: set[str] = frozenset()) -> None:
        self.clock, self.ready_at, self.failed = clock, ready_at, failed
        self.list_calls = 0
        self.describe_calls = 0

    def list_endpoints(self) -> list[dict[str, Any]]:
        self.list_calls += 1
        out = []
        for name, t in self.ready_at.items():
            status = "Creating" if self.clock.now < t else ("Failed" if name in self.failed else "InService")
            out.append({"EndpointName": name, "EndpointArn": f"arn/{name.lower()}", "EndpointStatus": status})
        return out

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        self.describe_calls += 1
        return {"EndpointName": name, "EndpointStatus": "Failed", "FailureReason": "ping health check failed"}


def test_one_listing_per_poll_for_many_endpoints() -> None:
    clock = FakeClock()
    sm = FakeSageMaker(clock, {f"ep-{i}": 60.0 + i for i in range(50)}, failed={"ep-7"})
    waiter = Waiter(sm, interval=15, timeout=3600, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    items = [Waiting("d", f"ep-{i}") for i in range(50)]
    polls = []
    waiter.wait(items, on_poll=lambda ws: polls.append(sum(w.done for w in ws)))
    assert sm.list_calls == len(polls) == 9  # t = 0, 15, ..., 120 (last ready at 109): one listing each
    assert sm.describe_calls == 1  # only the failed one, for its reason
    assert clock.sleeps == [15] * 8
    failed = [w for w in items if w.seen and w.seen.status == "Failed"]
    assert [(w.endpoint, w.seen.failure_reason) for w in failed] == [("ep-7", "ping health check failed")]


def test_timeout_names_what_is_still_pending() -> None:
    clock = FakeClock()
    sm = FakeSageMaker(clock, {"a": 10.0, "b": 10_000.0})
    waiter = Waiter(sm, interval=30, timeout=600, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    with pytest.raises(WaitTimeout) as e:
        waiter.wait([Waiting("x", "a"), Waiting("y", "b")])
    assert [w.endpoint for w in e.value.pending] == ["b"]
    assert clock.now == pytest.approx(600)


def test_wait_for_gone() -> None:
    clock = FakeClock()
    sm = FakeSageMaker(clock, {})
    waiter = Waiter(sm, interval=1, timeout=10, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    (w,) = waiter.wait([Waiting("x", "gone-one", target="gone")])
    assert w.done and clock.sleeps == []


def err(code: str, msg: str, op: str = "CreateModel") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": msg}}, op)


@pytest.mark.parametrize("exc, expect_msg, expect_hint", [
    (err("ValidationException", "Caller is not subscribed to the marketplace offering."),
     "not subscribed", "Subscribe in AWS Marketplace"),
    (err("ResourceLimitExceeded", "The account-level service limit 'ml.g5.2xlarge for endpoint usage' is 0"),
     "quota", "Service Quotas"),
    (err("AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized"),
     "access denied", "sagemaker:CreateModel"),
    (err("ExpiredTokenException", "The security token included in the request is expired"),
     "invalid or expired", "aws sso login"),
    (NoCredentialsError(), "no AWS credentials", "esmctl demo"),
    (UnauthorizedSSOTokenError(), "SSO session", "aws sso login"),
])
def test_translated_errors_name_cause_and_next_step(exc: Exception, expect_msg: str, expect_hint: str) -> None:
    e = translate(exc, "sagemaker:CreateModel", "Model-ESMC-300M-1-2df2c3dd")
    assert expect_msg in e.message and expect_hint in e.hint


def test_not_found_and_already_exists_are_their_own_kinds() -> None:
    assert isinstance(translate(err("ValidationException", 'Could not find endpoint "x".'), "op"), NotFound)
    assert isinstance(translate(err("NoSuchEntity", "The role x cannot be found."), "op"), NotFound)
    assert isinstance(translate(err("ValidationException", 'Cannot create already existing model "arn"'), "op"),
                      AlreadyExists)
    assert isinstance(translate(err("EntityAlreadyExists", "Role with name x already exists."), "op"),
                      AlreadyExists)
