"""AWS error → EsmctlError translation: the one place that knows botocore's exceptions.

Codes are matched on `Error.Code`, never on message text, except where AWS gives one code to
several causes (SageMaker's ValidationException) and the message is all there is.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from esmctl.errors import (  # noqa: F401  (ACCESS_CODES, CREDENTIAL_CODES: read here and by callers)
    ACCESS_CODES,
    CREDENTIAL_CODES,
    AlreadyExists,
    AwsError,
    NotFound,
    NotSubscribed,
    PreconditionFailed,
)

NOT_FOUND_CODES = {"NoSuchEntity", "NoSuchKey", "ResourceNotFoundException", "ResourceNotFound", "NotFoundException"}


def is_not_found(err: ClientError) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    msg = err.response.get("Error", {}).get("Message", "")
    # SageMaker answers "not found" with ValidationException "Could not find ...".
    # Most services name it …NotFoundException / NoSuch… (Application Auto Scaling: ObjectNotFoundException).
    generic = code.endswith("NotFoundException") or (code.startswith("NoSuch") and code != "NoSuchBucket")
    return code in NOT_FOUND_CODES or generic or (code in ("ValidationException", "ValidationError")
                                       and ("could not find" in msg.lower() or "not found" in msg.lower()))


def translate(err: Exception, operation: str, resource: str = "") -> AwsError:
    """A user-facing error for a failed AWS call: the cause and the next step."""
    what = f"{operation}" + (f" {resource}" if resource else "")
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "") or "Unknown"
        msg = err.response.get("Error", {}).get("Message", "") or str(err)
        details = f"{code}: {msg}"
        if is_not_found(err):
            return NotFound(f"{what}: not found ({msg})", code=code, details=details)
        if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
            return PreconditionFailed(f"{what}: the object changed since it was read ({code})",
                                      code=code, details=details)
        if code == "NoSuchBucket":
            return AwsError(f"{what}: the S3 bucket does not exist ({msg})",
                            hint="Create it first (`aws s3 mb s3://BUCKET`, ideally with versioning on), or fix "
                            "the bucket name in `state:`.", code=code, details=details)
        if code == "EntityAlreadyExists" or (code == "ValidationException" and "already exist" in msg.lower()):
            return AlreadyExists(f"{what}: already exists ({msg})", code=code, details=details)
        if "not subscribed to the marketplace" in msg.lower():
            return NotSubscribed(
                f"{what}: this AWS account is not subscribed to the model's AWS Marketplace offering "
                f"({msg})",
                hint="Subscribe in AWS Marketplace (search 'EvolutionaryScale ESM', Continue to "
                "Subscribe, accept the offer), wait until it shows as active, and check that "
                "models.yaml has that package's ARN for your region. See docs/getting-started.md.",
                code=code, details=details)
        if code == "ResourceLimitExceeded":
            return AwsError(
                f"{what}: an AWS service quota is too low ({msg})",
                hint="Request an increase in the Service Quotas console (Amazon SageMaker → "
                "'<instance type> for endpoint usage'), or pick another instance_type.",
                code=code, details=details)
        if code in ACCESS_CODES:
            return AwsError(
                f"{what}: access denied — the caller may not call {operation} ({msg})",
                hint=f"Ask an administrator to allow {_action(operation)} for your role or user, "
                "or use a profile that may (--profile).",
                code=code, details=details)
        if code in CREDENTIAL_CODES:
            return AwsError(
                f"{what}: the AWS credentials are invalid or expired ({code})",
                hint="Refresh them: `aws sso login --profile NAME` for SSO, or export fresh keys; "
                "`aws sts get-caller-identity` tells when they work.",
                code=code, details=details)
        if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
            return AwsError(f"{what}: AWS kept throttling the requests ({msg})",
                            hint="Wait a minute and run the command again (it resumes), or lower "
                            "--parallelism.", code=code, details=details)
        return AwsError(f"{what} failed: {code}: {msg}",
                        hint="Fix the cause above and run the command again; it resumes where it stopped.",
                        code=code, details=details)
    if isinstance(err, RuntimeError) and "credentials" in str(err).lower():
        return AwsError(f"{what}: the AWS credentials have expired ({err})",
                        hint="Refresh them: `aws sso login --profile NAME` for SSO, or export fresh keys "
                        "(and a later AWS_CREDENTIAL_EXPIRATION, if you set it).", code="ExpiredToken")
    if isinstance(err, (UnauthorizedSSOTokenError, TokenRetrievalError, SSOError)):
        return AwsError(f"{what}: the AWS SSO session has expired or is missing ({err})",
                        hint="Run `aws sso login --profile NAME` and try again.", code="SSO")
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return AwsError(f"{what}: no AWS credentials were found",
                        hint="Set AWS_PROFILE or pass --profile, run `aws configure` or "
                        "`aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. "
                        "To try esmctl without AWS, run `esmctl demo`.", code="NoCredentials")
    if isinstance(err, ProfileNotFound):
        return AwsError(f"AWS profile not found: {err}", hint="Check `aws configure list-profiles`.",
                        code="ProfileNotFound")
    if isinstance(err, NoRegionError):
        return AwsError("No AWS region is set.", hint="Set `region:` in esmctl.yaml or pass --region.",
                        code="NoRegion")
    if isinstance(err, EndpointConnectionError):
        return AwsError(f"{what}: cannot reach the AWS endpoint ({err})",
                        hint="Check the network, the region and --endpoint-url / AWS_ENDPOINT_URL.",
                        code="Connection")
    if isinstance(err, BotoCoreError):
        return AwsError(f"{what}: {err}", hint="Run again with -v for details.", code=type(err).__name__)
    return AwsError(f"{what}: {err}", code=type(err).__name__)


def _action(operation: str) -> str:
    service, _, op = operation.partition(":")
    return f"{service}:{op}" if op else operation
