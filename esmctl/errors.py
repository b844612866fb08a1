"""Errors a user can act on.

Every failure esmctl expects (bad input, AWS refusals, a held lock, a failed endpoint) is an
`EsmctlError` carrying the cause and the next step. The CLI prints those in a few lines and exits
with `exit_code`; anything else is a bug and shows a traceback only with `-v`.
"""

from __future__ import annotations

from dataclasses import dataclass

# AWS error codes for "this caller may not" and "these credentials are not valid (any more)", whatever the
# service (IAM/STS answer InvalidClientTokenId, JSON APIs UnrecognizedClientException, S3 403 …).
ACCESS_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})
CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                              "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
                              "RequestExpired"})


class EsmctlError(Exception):
    """A failure with a cause a person can read and a next step."""

    exit_code = 1
    stops_run = ""  # non-empty: inside a run, the other deployments' remaining steps are skipped (why, in words)

    def __init__(self, message: str, *, hint: str = "", details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file."""

    file: str
    path: str  # dotted key path, e.g. selected_models.prototype_model.selector
    message: str
    line: int | None = None
    column: int | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def render(self) -> str:
        key = f" {self.path}:" if self.path else ""
        return f"{self.location()}:{key} {self.message}"


class ConfigError(EsmctlError):
    """Every problem found in esmctl.yaml / models.yaml, reported at once."""

    def __init__(self, problems: list[Problem]) -> None:
        n = len(problems)
        super().__init__(
            f"{n} problem{'s' if n != 1 else ''} in the configuration; nothing was changed.",
            hint="Fix the files, then run `esmctl validate`.",
        )
        self.problems = problems


class StateError(EsmctlError):
    """The state file cannot be used as it is."""


class LockHeld(EsmctlError):
    """Another esmctl run holds the state lock."""


class AwsError(EsmctlError):
    """AWS refused or failed a call; the message says why and what to do."""

    def __init__(self, message: str, *, hint: str = "", details: str = "", code: str = "") -> None:
        super().__init__(message, hint=hint, details=details)
        self.code = code


class NotFound(AwsError):
    """The resource does not exist (deletes treat this as done)."""


class AlreadyExists(AwsError):
    """A create call found the name taken (by an earlier, interrupted run or by someone else)."""


class NotSubscribed(AwsError):
    """The account is not subscribed to a model package's AWS Marketplace offering (CreateModel said so)."""

    # the executor skips every other deployment's remaining steps, saying so with this
    stops_run = "subscribe to the model package(s) first — see above"


class PreconditionFailed(AwsError):
    """A conditional write (S3 IfMatch/IfNoneMatch) found the object changed or already there."""


class Refused(EsmctlError):
    """The user declined, or a non-interactive run was not confirmed with --yes."""


class DeployFailed(EsmctlError):
    """The run finished, but some endpoints failed or an update was rolled back."""


class Interrupted(EsmctlError):
    """Ctrl-C: the state is saved; what is still being created in AWS is named."""

    exit_code = 130


class ChecksFailed(EsmctlError):
    """`esmctl doctor` (or the checks `deploy` runs first) found at least one error."""


class InvokeFailed(EsmctlError):
    """A smoke-test invocation did not get a valid Forge answer."""


class CallFailed(InvokeFailed):
    """One call to a model endpoint failed for good (after its retries). `code` is AWS's error code;
    `retryable`: a later try may pass; `stops_all`: no other call can pass either (access denied,
    bad or expired credentials), so a run of many stops at the first."""

    STOPS_ALL = ACCESS_CODES | CREDENTIAL_CODES | {"BotoCoreError"}

    # sagemaker-runtime InvokeEndpoint codes a later try may pass (service-2.json; throttling is a 400
    # ThrottlingException with a null message, docs/aws-behaviour.md); FRESH_KEY: IAM's refusal of a
    # key made minutes ago (esmctl/aws/consistency.py).
    THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "ThrottledException",
                           "ModelNotReadyException", "RequestLimitExceeded", "SlowDown"})
    RETRYABLE = frozenset({"InternalFailure", "ServiceUnavailable", "InternalDependencyException",
                           "InternalServerError", "RequestTimeout", "RequestTimeoutException", "ConnectionError"}) \
        | THROTTLED
    FRESH_KEY = CREDENTIAL_CODES & {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException"}

    def __init__(self, message: str, *, code: str = "", hint: str = "", details: str = "",
                 retryable: bool = False) -> None:
        super().__init__(message, hint=hint, details=details)
        self.code = code
        self.retryable = retryable

    @property
    def stops_all(self) -> bool:
        return self.code in self.STOPS_ALL
