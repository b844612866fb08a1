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
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+$")  # ml.p6-b200.48xlarge too
LOGICAL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
PLACEHOLDER_SUFFIX = "{hex8}"  # shown by `plan` for a suffix that deploy will draw
WIDE_POLICY = "*"  # policy_endpoints of an adopted module policy, which allows InvokeEndpoint on Resource "*"
MANAGED_POLICY_NAME = "AmazonSageMakerFullAccess"
TAG_ENVIRONMENT = "esmctl:environment"
TAG_DEPLOYMENT = "esmctl:deployment"
SHARED = "-"  # the esmctl:deployment tag value of resources shared by all deployments
VARIANT = "variant-1"  # the one production variant of every endpoint config (the module's name for it)


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


# Each partition's DNS suffix (botocore/data/partitions.json "dnsSuffix").
DNS_SUFFIX = {"aws-cn": "amazonaws.com.cn", "aws-iso": "c2s.ic.gov", "aws-iso-b": "sc2s.sgov.gov",
              "aws-iso-e": "cloud.adc-e.uk", "aws-iso-f": "csp.hci.ic.gov", "aws-eusc": "amazonaws.eu"}


def endpoint_url(region: str, name: str) -> str:
    suffix = DNS_SUFFIX.get(partition(region), "amazonaws.com")
    return f"https://runtime.sagemaker.{region}.{suffix}/endpoints/{name}/invocations"


# Region name → ARN partition, from botocore/data/partitions.json ("regionRegex" of each partition).
# Checked in order; everything else is the commercial `aws` partition.
PARTITIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^cn-\w+-\d+$"), "aws-cn"),
    (re.compile(r"^us-gov-\w+-\d+$"), "aws-us-gov"),
    (re.compile(r"^us-iso-\w+-\d+$"), "aws-iso"),
    (re.compile(r"^us-isob-\w+-\d+$"), "aws-iso-b"),
    (re.compile(r"^eu-isoe-\w+-\d+$"), "aws-iso-e"),
    (re.compile(r"^us-isof-\w+-\d+$"), "aws-iso-f"),
    (re.compile(r"^eusc-(de)-\w+-\d+$"), "aws-eusc"),
)


def partition(region: str) -> str:
    """The ARN partition of a region: `aws`, `aws-cn`, `aws-us-gov`, ... (ARNs must use it)."""
    for pattern, name in PARTITIONS:
        if pattern.match(region):
            return name
    return "aws"


def sagemaker_arn(region: str, account: str, kind: str, name: str) -> str:
    """The ARN SageMaker reports: the resource name lowercased (IAM matches against this)."""
    return f"arn:{partition(region)}:sagemaker:{region}:{account}:{kind}/{name.lower()}"


def iam_policy_arn(region: str, account: str, name: str) -> str:
    """A customer managed policy's ARN (IAM is global, but its ARNs carry the region's partition)."""
    return f"arn:{partition(region)}:iam::{account}:policy/{name}"


def managed_policy_arn(region: str) -> str:
    """AmazonSageMakerFullAccess in the region's partition."""
    return f"arn:{partition(region)}:iam::aws:policy/{MANAGED_POLICY_NAME}"


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


POLICY_SIZE_LIMIT = 6144  # IAM quota: a managed policy's document, in characters, whitespace not counted
USER_MANAGED_POLICIES = 10  # IAM quota: managed policies attached to one user (default; 20 on request)


def policy_size(document: str) -> int:
    """What IAM counts against POLICY_SIZE_LIMIT: the characters that are not whitespace."""
    return len(re.sub(r"\s", "", document))


def policy_part_name(base: str, part: int) -> str:
    """The name of invoke policy number `part` (1 = `base` itself, then `base-2`, `base-3` ...)."""
    if part == 1:
        return base
    tail = f"-{part}"
    return base[:IAM_POLICY_MAX - len(tail)] + tail


def part_number(base: str, name: str) -> int | None:
    """The inverse of policy_part_name: which part `name` is (None when it is not one of base's)."""
    if name == base:
        return 1
    head, _, tail = name.rpartition("-")
    if tail.isdigit() and int(tail) >= 2 and policy_part_name(base, int(tail)) == name and head:
        return int(tail)
    return None


def assign_invoke_policies(region: str, account: str, endpoints: list[str],
                           recorded: dict[int, list[str]] | None = None) -> dict[int, list[str]]:
    """Which invoke policy (part number → sorted endpoint names) allows each endpoint.

    One managed policy holds about 70 endpoint ARNs (IAM's 6,144-character limit); beyond that the
    shared user gets more policies, each still naming exact ARNs, so the key stays scoped to this
    environment. Stable: an endpoint stays in the part `recorded` has it in (a change never moves a
    live endpoint from one policy to another, which IAM would apply to the two policies at different
    moments); new ones go to the first part with room; when fewer are left, the last part is emptied
    into the earlier ones if they have room. Part 1 always exists; other parts that end up empty are
    left out (they are deleted).
    """
    account = account if re.fullmatch(r"\d{12}", account) else "0" * 12  # `plan` before the account is known
    wanted = set(endpoints)
    parts: dict[int, list[str]] = {1: []}
    placed: set[str] = set()
    for number in sorted(recorded or {}):
        keep = [e for e in (recorded or {})[number] if e in wanted and e not in placed]
        parts[number] = keep
        placed |= set(keep)

    def fits(names: list[str]) -> bool:
        return policy_size(invoke_policy(region, account, names)) <= POLICY_SIZE_LIMIT

    for name in sorted(wanted - placed):
        for number in sorted(parts):
            if fits([*parts[number], name]):
                parts[number].append(name)
                break
        else:
            parts[max(parts) + 1] = [name]
    # Fewer endpoints than before: empty the last part into the others while it fits whole. Endpoints
    # only move into an earlier part (updated first) and out of the last one by deleting it (after), so
    # none is ever in no policy.
    while len(parts) > 1:
        last = max(parts)
        trial = {n: list(names) for n, names in parts.items() if n != last}
        for name in parts[last]:
            spot = next((n for n in sorted(trial) if fits([*trial[n], name])), None)
            if spot is None:
                break
            trial[spot].append(name)
        else:
            parts = trial
            continue
        break
    return {n: sorted(names) for n, names in parts.items() if names or n == 1}


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
