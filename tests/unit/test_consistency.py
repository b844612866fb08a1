"""The AWS layer waits out AWS's eventual consistency, and nothing else, without sleeping for real."""

from __future__ import annotations

from typing import Any

import pytest

from esmctl.aws import Aws, consistency
from esmctl.errors import AwsError, NotFound

ASSUME = ("ValidationException", "ValidationException: Could not assume role arn:aws:iam::123456789012:role/r. "
          "Please ensure that the role exists and allows principal 'sagemaker.amazonaws.com' to assume the role.")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _aws(monkeypatch: pytest.MonkeyPatch, service: str, answers: list[Any], *, fresh: bool = False
         ) -> tuple[Aws, FakeTime, list[str], list[str]]:
    """An Aws whose `service` answers from `answers` (an error tuple, or a response dict; the last repeats)."""
    t = FakeTime()
    aws = Aws(region="us-east-2", fresh_key=fresh, sleep=t.sleep, clock=t.clock, rnd=lambda: 1.0)
    said: list[str] = []
    aws.notify = said.append
    calls: list[str] = []

    def once(operation: str, resource: str = "", **params: Any) -> dict[str, Any]:
        calls.append(operation)
        answer = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(answer, tuple):
            kind = NotFound if "Could not find" in answer[1] else AwsError  # as aws/errors.py translates it
            raise kind(f"{operation} failed", code=answer[0], details=answer[1])
        return dict(answer)

    monkeypatch.setattr(getattr(aws, service), "_call_once", once)
    return aws, t, said, calls


def test_create_model_is_retried_until_the_new_role_can_be_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    aws, t, said, calls = _aws(monkeypatch, "sagemaker", [ASSUME, ASSUME, ASSUME, {"ModelArn": "arn:m"}])
    arn = aws.sagemaker.create_model("m", role_arn="arn:r", model_package="arn:p", tags={})
    assert arn == "arn:m" and calls == ["CreateModel"] * 4
    assert t.slept == [0.5, 1.0, 2.0]  # doubling; rnd=1.0 is the top of the jitter range
    assert len(said) == 3 and "Waiting for IAM to let SageMaker assume the execution role" in said[0]
    assert said[2].strip() == "still waiting for IAM: sagemaker:CreateModel m, retry 3 in 2.0 s (2 s so far)"


def test_a_refusal_that_outlasts_two_minutes_is_reported_with_what_was_awaited(
        monkeypatch: pytest.MonkeyPatch) -> None:
    aws, t, said, calls = _aws(monkeypatch, "sagemaker", [ASSUME])
    with pytest.raises(AwsError) as e:
        aws.sagemaker.create_model("m", role_arn="arn:r", model_package="arn:p", tags={})
    assert "still refused after waiting" in e.value.message and "IAM to let SageMaker assume" in e.value.message
    assert e.value.code == "ValidationException" and e.value.hint
    assert sum(t.slept) <= consistency.MAX_WAIT and sum(t.slept) > consistency.MAX_WAIT - consistency.MAX_DELAY
    assert max(t.slept) <= consistency.MAX_DELAY


def test_other_errors_with_the_same_code_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    aws, t, _, calls = _aws(monkeypatch, "sagemaker",
                            [("ValidationException", "ValidationException: Cannot create already existing model")])
    with pytest.raises(AwsError):
        aws.sagemaker.create_model("m", role_arn="arn:r", model_package="arn:p", tags={})
    assert calls == ["CreateModel"] and t.slept == []


def test_the_same_message_on_another_operation_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    aws, t, _, calls = _aws(monkeypatch, "sagemaker", [ASSUME])
    with pytest.raises(AwsError):
        aws.sagemaker.call("CreateEndpointConfig", "c")
    assert calls == ["CreateEndpointConfig"] and t.slept == []


def test_an_invalid_key_is_waited_for_only_when_it_was_just_made(monkeypatch: pytest.MonkeyPatch) -> None:
    invalid = ("InvalidClientTokenId", "InvalidClientTokenId: The security token included in the request is invalid.")
    aws, t, _, calls = _aws(monkeypatch, "sts", [invalid, {"Account": "123456789012"}])
    with pytest.raises(AwsError):
        aws.sts.caller_identity()  # the user's own credentials: wrong now, wrong in a minute
    assert t.slept == []
    aws, t, said, calls = _aws(monkeypatch, "sts", [invalid, invalid, {"Account": "123456789012"}], fresh=True)
    assert aws.sts.caller_identity()["Account"] == "123456789012"
    assert len(t.slept) == 2 and "new access key" in said[0]


@pytest.mark.parametrize(("operation", "code", "message"), [
    ("scheduler:CreateSchedule", "ValidationException",
     "The execution role you provide must allow AWS EventBridge Scheduler to assume the role."),
    ("sagemaker:CreateEndpoint", "ValidationException",
     'Could not find endpoint configuration "arn:aws:sagemaker:us-east-2:1:endpoint-config/c".'),
    ("secretsmanager:CreateSecret", "InvalidRequestException",
     "You can't create this secret because a secret with this name is already scheduled for deletion."),
    ("secretsmanager:PutSecretValue", "InvalidRequestException",
     "You can't perform this operation on the secret because it was marked for deletion."),
])
def test_each_documented_refusal_has_one_rule(operation: str, code: str, message: str) -> None:
    rule = consistency.find(operation, code, message)
    assert rule is not None and rule.source
    assert consistency.find(operation, code, "something else entirely") is None


def test_delays_are_jittered_doubling_and_capped() -> None:
    for attempt in range(12):
        ceiling = min(consistency.MAX_DELAY, consistency.BASE_DELAY * 2 ** attempt)
        assert consistency.delay(attempt, lambda: 0.0) == ceiling / 2
        assert consistency.delay(attempt, lambda: 1.0) == ceiling


def test_a_config_just_created_is_awaited_with_describe_not_with_refused_creates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    missing = ("ValidationException", 'ValidationException: Could not find endpoint configuration "arn:c".')
    aws, t, said, calls = _aws(monkeypatch, "sagemaker", [missing, missing, {"EndpointConfigName": "c"}])
    aws.sagemaker.confirm_endpoint_config("c")
    assert calls == ["DescribeEndpointConfig"] * 3 and len(t.slept) == 2
    assert "SageMaker to find the endpoint config it just created" in said[0]
