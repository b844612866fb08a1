"""Resource names, suffixes and ARNs, exactly as the Terraform module makes them.

Pure functions, no I/O. The formats come from the module (see docs/architecture.md):
model `{sagemaker_model_name}-{hex8}`, endpoint config `EndpointConfig-{endpoint_name}-{hex8}`,
endpoint `{endpoint_name}-{hex8}`, role `{prefix}-sagemaker-exec-{environment}`, shared user
`{prefix}-shared-invoke-{environment}`.
"""

from __future__ import annotations

import re
import secrets

SAGEMAKER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
SAGEMAKER_NAME_MAX = 63
IAM_NAME_RE = re.compile(r"^[\w+=,.@-]+$")
IAM_ROLE_MAX = 64
IAM_USER_MAX = 64
IAM_POLICY_MAX = 128
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
LOGICAL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
SUFFIX_RE = re.compile(r"^[0-9a-f]{8}$")
PLACEHOLDER_SUFFIX = "{hex8}"  # shown by `plan` for a suffix that deploy will draw
WIDE_POLICY = "*"  # policy_endpoints of an adopted module policy, which allows InvokeEndpoint on Resource "*"
MANAGED_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
TAG_ENVIRONMENT = "esmctl:environment"
TAG_DEPLOYMENT = "esmctl:deployment"
SHARED = "-"  # the esmctl:deployment tag value of resources shared by all deployments


def new_suffix() -> str:
    """A random 4-byte value as 8 lowercase hex digits (the module's random_id)."""
    return secrets.token_hex(4)


def model_name(sagemaker_model_name: str, suffix: str) -> str:
    return f"{sagemaker_model_name}-{suffix}"


def endpoint_config_name(endpoint_name: str, suffix: str) -> str:
    return f"EndpointConfig-{endpoint_name}-{suffix}"


def endpoint_name(endpoint_name: str, suffix: str) -> str:
    return f"{endpoint_name}-{suffix}"


def role_name(prefix: str, environment: str) -> str:
    return f"{prefix}-sagemaker-exec-{environment}"


def shared_user_name(prefix: str, environment: str, override: str = "") -> str:
    return override or f"{prefix}-shared-invoke-{environment}"


def shared_policy_name(prefix: str, environment: str, user: str) -> str:
    return f"{prefix}-shared-invoke-policy-{environment}-{user}"


def endpoint_url(region: str, name: str) -> str:
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{name}/invocations"


def sagemaker_arn(region: str, account: str, kind: str, name: str) -> str:
    """The ARN SageMaker reports: the resource name lowercased (IAM matches against this)."""
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"


def arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else None


def sagemaker_name_problem(name: str) -> str | None:
    """Why SageMaker would refuse this name, or None."""
    if len(name) > SAGEMAKER_NAME_MAX:
        return f"{name!r} is {len(name)} characters; SageMaker allows at most {SAGEMAKER_NAME_MAX}"
    if not SAGEMAKER_NAME_RE.match(name):
        return (
            f"{name!r} breaks SageMaker's name rule: letters, digits and single or repeated "
            "hyphens between them (^[a-zA-Z0-9](-*[a-zA-Z0-9])*$)"
        )
    return None


def iam_name_problem(name: str, limit: int, what: str) -> str | None:
    if len(name) > limit:
        return f"{what} {name!r} is {len(name)} characters; IAM allows at most {limit}"
    if not IAM_NAME_RE.match(name):
        return f"{what} {name!r} has characters IAM does not allow (letters, digits and +=,.@_-)"
    return None


def tags(base: dict[str, str], environment: str, deployment: str) -> dict[str, str]:
    """The user's tags plus the two esmctl uses to find what it made."""
    return {**base, TAG_ENVIRONMENT: environment, TAG_DEPLOYMENT: deployment}


INVOKE_ACTIONS = ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
SHARED_POLICY_DESCRIPTION = "Policy to allow invoking SageMaker endpoints"


def invoke_policy(region: str, account: str, endpoints: list[str]) -> str:
    """The shared user's policy: invoke only these endpoints, by the lowercase ARN IAM checks.

    With no endpoint the policy allows nothing (IAM refuses an Allow with no Resource).
    """
    import json

    if endpoints:
        statement = {"Sid": "InvokeEsmEndpoints", "Effect": "Allow", "Action": INVOKE_ACTIONS,
                     "Resource": sorted(sagemaker_arn(region, account, "endpoint", e) for e in endpoints)}
    else:
        statement = {"Sid": "NoEndpointsYet", "Effect": "Deny", "Action": INVOKE_ACTIONS, "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=2)
