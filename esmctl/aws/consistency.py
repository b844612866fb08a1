"""AWS's eventual consistency: the errors real AWS answers for a while after a change, in one place.

AWS is eventually consistent: for seconds after a call succeeds, the next call that relies on it
can be refused. Each `Eventual` rule names the operation, the error code and the message pattern
that identify one such refusal (AWS gives several causes one code, so the message is part of the
match), what esmctl is waiting for, and where the behaviour is documented. `_Service.call` (see
__init__.py) retries a call refused by a matching rule with bounded, jittered exponential backoff
for at most MAX_WAIT seconds; it re-sends the same request and never deletes or re-creates what
an earlier call made. The sandbox reproduces every rule by default (docs/aws-behaviour.md).

Pure: no boto3 here; the clock, the sleep and the random source come in from the caller.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

# terraform-provider-aws waits up to 2 minutes for IAM changes to propagate
# (internal/service/iam: propagationTimeout = 2 * time.Minute); esmctl waits as long.
MAX_WAIT = 120.0
BASE_DELAY = 0.5  # the first retry comes after 0.25-0.5 s; the delay then doubles ...
MAX_DELAY = 10.0  # ... up to 5-10 s a wait: about 17 retries fit in MAX_WAIT


@dataclass(frozen=True)
class Eventual:
    """One eventual-consistency refusal: retried while `operations` answer `codes` + `message`."""

    operations: frozenset[str]  # "service:Operation"
    codes: frozenset[str]
    message: re.Pattern[str]
    waiting_for: str  # shown while waiting; {resource} is the call's resource
    source: str  # where AWS documents (or terraform-provider-aws handles) it
    fresh_key_only: bool = False  # only for calls signed with a just-created access key
    hint: str = ""  # the next step when it outlasts MAX_WAIT

    def matches(self, operation: str, code: str, message: str, *, fresh_key: bool) -> bool:
        if self.fresh_key_only and not fresh_key:
            return False
        return operation in self.operations and code in self.codes and bool(self.message.search(message))


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


RULES: tuple[Eventual, ...] = (
    Eventual(
        _ops("sagemaker:CreateModel"), frozenset({"ValidationException"}),
        re.compile(r"could not assume role", re.I),
        "IAM to let SageMaker assume the execution role (a new role takes a few seconds)",
        "terraform-provider-aws internal/service/sagemaker/model.go retries CreateModel on "
        "'Could not assume role' for the IAM propagation timeout (2 min)",
    ),
    Eventual(
        _ops("scheduler:CreateSchedule", "scheduler:UpdateSchedule"), frozenset({"ValidationException"}),
        re.compile(r"execution role you provide must allow AWS EventBridge Scheduler to assume the role", re.I),
        "IAM to let EventBridge Scheduler assume the stop timer's role (a new role takes a few seconds)",
        "terraform-provider-aws internal/service/scheduler/schedule.go retries this message for the "
        "IAM propagation timeout",
    ),
    Eventual(
        _ops("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"), frozenset({"ValidationException"}),
        re.compile(r"could not find endpoint configuration", re.I),
        "SageMaker to find the endpoint config it just created",
        "SageMaker API reference, CreateEndpoint: the endpoint config lookup is eventually consistent "
        "(call DescribeEndpointConfig before CreateEndpoint)",
    ),
    Eventual(
        _ops("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue"),
        frozenset({"InvalidRequestException"}),
        re.compile(r"(scheduled|marked) for deletion", re.I),
        "Secrets Manager to finish deleting the old secret of the same name",
        "Secrets Manager API reference, DeleteSecret: deletion is asynchronous, even with "
        "ForceDeleteWithoutRecovery; retry CreateSecret with backoff (terraform-provider-aws "
        "internal/service/secretsmanager/secret.go retries it for 2 min)",
        hint="A secret deleted with a recovery window stays 'scheduled for deletion' for days: restore it "
        "(`aws secretsmanager restore-secret --secret-id NAME`) or delete it for good (`aws secretsmanager "
        "delete-secret --secret-id NAME --force-delete-without-recovery`), then run the command again.",
    ),
    Eventual(
        _ops("sts:GetCallerIdentity", "sagemaker-runtime:InvokeEndpoint"),
        frozenset({"InvalidClientTokenId", "UnrecognizedClientException"}),
        re.compile(r".*", re.S),
        "IAM to accept the new access key (a new key takes a few seconds)",
        "IAM User Guide, 'Changes that I make are not always immediately visible' "
        "(troubleshoot_general.html#troubleshoot_general_eventual-consistency)",
        fresh_key_only=True,
    ),
)


def find(operation: str, code: str, message: str, *, fresh_key: bool = False) -> Eventual | None:
    """The rule that says this refusal is AWS catching up, or None."""
    for rule in RULES:
        if rule.matches(operation, code, message, fresh_key=fresh_key):
            return rule
    return None


def delay(attempt: int, rnd: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0-based): exponential, half of it jittered."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** attempt)
    return ceiling * (0.5 + 0.5 * rnd())
